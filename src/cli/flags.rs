//! Every option of oidc-agent 4.2.6 and 5.3.x, per tool, and what it does
//! here: the one table behind "scripts written for oidc-agent keep working".
//!
//! An option is either [`Here::Ours`] (defined by the tool's clap struct,
//! under that name or as an alias, and doing what it did) or accepted and
//! hidden: [`Here::Ignored`] has no meaning here (seccomp, GPG, GUI prompts)
//! and, when its note is set, says once on stderr what the user gets
//! instead; [`Here::Refused`] parses but fails with a usage error, because
//! pretending would hand out the wrong thing (a mytoken, a password grant).
//! The hidden options are added to the clap commands from this table
//! ([`command`]), so `--help`, the man pages and the completions show only
//! what does something. The integration test `flags` checks the table
//! against the `--help` output of 4.2.6 and 5.3.3 in `tests/fixtures/help/`.

use clap::{Arg, ArgAction, ArgMatches, Command};

/// One of the four tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `oidc-agent`
    Agent,
    /// `oidc-gen`
    Gen,
    /// `oidc-add`
    Add,
    /// `oidc-token`
    Token,
}

impl Tool {
    /// All tools, in the order of the man pages.
    pub const ALL: [Tool; 4] = [Tool::Agent, Tool::Gen, Tool::Add, Tool::Token];

    /// The binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Agent => "oidc-agent",
            Tool::Gen => "oidc-gen",
            Tool::Add => "oidc-add",
            Tool::Token => "oidc-token",
        }
    }
}

/// An option's argument, as argp declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// A flag (`--quiet`).
    None,
    /// `--opt=V` or `--opt V`.
    Required,
    /// `--opt` or `--opt=V`.
    Optional,
}

/// What an option does here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Here {
    /// Defined by the tool's clap struct (name or alias) and implemented.
    Ours,
    /// Accepted, hidden, without effect; the note (if any) goes to stderr once.
    Ignored(Option<&'static str>),
    /// Accepted by the parser, then a usage error with this reason.
    Refused(&'static str),
}

/// One option of one tool.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The tool that has it.
    pub tool: Tool,
    /// The long name, without `--`.
    pub long: &'static str,
    /// The short form, if any.
    pub short: Option<char>,
    /// Its argument.
    pub value: Value,
    /// What it does here.
    pub here: Here,
}

const fn f(tool: Tool, long: &'static str, short: Option<char>, value: Value, here: Here) -> Flag {
    Flag {
        tool,
        long,
        short,
        value,
        here,
    }
}

use Here::{Ignored, Ours, Refused};
use Tool::{Add, Agent, Gen, Token};
use Value::{None as N, Optional as O, Required as R};

const NO_GPG: Here = Ignored(Some(
    "GPG encryption is not supported; the account is encrypted with a password",
));
const NO_GUI: Here = Ignored(None);
const NO_CONFIRM: Here = Ignored(Some(
    "--confirm: there are no confirmation prompts; tokens are handed out without asking",
));
const NO_MYTOKEN: Here = Refused("mytoken is not supported by oidc-agent-rs");
const NO_PASSWORD_FLOW: Here = Refused(
    "the password flow (--op-username, --op-password, --flow password) is not supported; \
     use the code or device flow",
);

/// The password options that oidc-gen and oidc-add share (both flatten
/// `PasswordArgs`), for `tool`.
const fn password(tool: Tool) -> [Flag; 8] {
    [
        f(tool, "pw-cmd", None, R, Ours),
        f(tool, "pw-env", None, O, Ours),
        f(tool, "pw-file", None, R, Ours),
        f(tool, "pw-gpg", None, R, NO_GPG),
        f(tool, "pw-pgp", None, R, NO_GPG),
        f(tool, "gpg", None, R, NO_GPG),
        f(tool, "pgp", None, R, NO_GPG),
        f(tool, "pw-prompt", None, R, NO_GUI),
    ]
}
const GEN_PASSWORD: [Flag; 8] = password(Gen);
const ADD_PASSWORD: [Flag; 8] = password(Add);

/// The table, but for the shared [`password`] options ([`of`] and [`all`]
/// add them). Options of both versions appear once; `help`, `usage` and
/// `version` are clap's (with `-?` and `--usage` added by [`command`]).
const TABLE: &[Flag] = &[
    // ---------------------------------------------------------- oidc-agent
    f(Agent, "socket-path", Some('a'), R, Ours),
    f(Agent, "bind-address", None, R, Ours),
    f(Agent, "bind_address", None, R, Ours),
    f(Agent, "always-allow-idtoken", None, N, Ignored(None)),
    f(Agent, "confirm", Some('c'), N, NO_CONFIRM),
    f(Agent, "json", None, N, Ours),
    f(Agent, "kill", Some('k'), N, Ours),
    f(Agent, "no-autoload", None, N, Ours),
    f(Agent, "no-autoreauthenticate", None, N, Ignored(None)),
    f(Agent, "no-auto-reauthenticate", None, N, Ignored(None)),
    f(Agent, "no-scheme", None, N, Ignored(None)),
    f(Agent, "no-webserver", None, N, Ignored(None)),
    f(Agent, "pid-file", None, R, Ours),
    f(Agent, "pw-store", None, O, Ignored(None)),
    f(Agent, "quiet", None, N, Ours),
    f(Agent, "restart-on-update", None, N, Ignored(None)),
    f(Agent, "seccomp", None, N, Ignored(None)),
    f(Agent, "lifetime", Some('t'), R, Ours),
    f(
        Agent,
        "with-group",
        None,
        O,
        Ignored(Some(
            "--with-group is not supported; the socket stays usable by your user only",
        )),
    ),
    f(Agent, "console", Some('d'), N, Ours),
    f(Agent, "debug", Some('g'), N, Ignored(None)),
    f(Agent, "log-stderr", None, N, Ignored(None)),
    f(Agent, "status", None, N, Ours),
    // ------------------------------------------------------------ oidc-gen
    f(Gen, "delete", Some('d'), N, Ours),
    f(Gen, "accounts", Some('l'), N, Ours),
    f(Gen, "print", Some('p'), R, Ours),
    f(Gen, "reauthenticate", None, N, Ours),
    f(Gen, "rename", None, R, Ours),
    f(Gen, "update", Some('u'), R, Ours),
    f(Gen, "client-id", None, R, Ours),
    f(Gen, "client-secret", None, R, Ours),
    f(Gen, "file", Some('f'), R, Ours),
    f(Gen, "iss", None, R, Ours),
    f(Gen, "issuer", None, R, Ours),
    f(Gen, "manual", Some('m'), N, Ours),
    f(Gen, "mytoken", None, R, NO_MYTOKEN),
    f(Gen, "mytoken-profile", None, R, NO_MYTOKEN),
    f(Gen, "mytoken-url", None, O, NO_MYTOKEN),
    f(Gen, "mytoken-issuer", None, O, NO_MYTOKEN),
    f(Gen, "no-save", None, N, Ours),
    f(Gen, "oauth2", None, N, Ignored(None)),
    f(Gen, "oauth", None, N, Ignored(None)),
    f(Gen, "port", None, R, Ours),
    f(Gen, "pub", None, N, Ours),
    f(Gen, "redirect-uri", None, R, Ours),
    f(Gen, "redirect-url", None, R, Ours),
    f(Gen, "scope", None, R, Ours),
    f(Gen, "scope-all", None, N, Ours),
    f(Gen, "scope-max", None, N, Ours),
    f(Gen, "at", None, R, Ours),
    f(Gen, "access-token", None, R, Ours),
    f(Gen, "aud", None, R, Ours),
    f(Gen, "audience", None, R, Ours),
    f(Gen, "cnid", None, R, Ours),
    f(Gen, "client-name-identifier", None, R, Ours),
    f(Gen, "configuration-endpoint", None, R, Ours),
    f(Gen, "config-endpoint", None, R, Ours),
    f(Gen, "discovery-endpoint", None, R, Ours),
    f(Gen, "cp", None, R, Ours),
    f(Gen, "cert-path", None, R, Ours),
    f(Gen, "cert-file", None, R, Ours),
    f(Gen, "dae", None, R, Ours),
    f(Gen, "device-authorization-endpoint", None, R, Ours),
    f(Gen, "only-at", None, N, Ours),
    f(Gen, "op-username", None, R, NO_PASSWORD_FLOW),
    f(Gen, "op-password", None, R, NO_PASSWORD_FLOW),
    f(Gen, "rt", None, R, Ours),
    f(Gen, "refresh-token", None, R, Ours),
    f(Gen, "rt-env", None, O, Ours),
    f(Gen, "refresh-token-env", None, O, Ours),
    f(Gen, "flow", Some('w'), R, Ours),
    f(Gen, "codeExchange", None, R, Ours),
    f(Gen, "confirm-default", None, N, Ours),
    f(Gen, "confirm-no", None, N, Ours),
    f(Gen, "confirm-yes", None, N, Ours),
    f(Gen, "no-scheme", None, N, Ignored(None)),
    f(Gen, "no-url-call", None, N, Ours),
    f(Gen, "no-webserver", None, N, Ours),
    f(Gen, "prompt", None, R, Ours),
    f(Gen, "seccomp", None, N, Ignored(None)),
    f(
        Gen,
        "state",
        None,
        R,
        Refused(
            "--state is oidc-agent's internal option; finish an interrupted login with --codeExchange URL",
        ),
    ),
    f(Gen, "debug", Some('g'), N, Ignored(None)),
    f(Gen, "verbose", Some('v'), N, Ignored(None)),
    // ------------------------------------------------------------ oidc-add
    f(Add, "always-allow-idtoken", None, N, Ignored(None)),
    f(Add, "loaded", Some('a'), N, Ours),
    f(Add, "confirm", Some('c'), N, NO_CONFIRM),
    f(Add, "force", Some('f'), N, Ours),
    f(Add, "list", Some('l'), N, Ours),
    f(Add, "print", Some('p'), N, Ours),
    f(Add, "pw-keyring", None, N, Ours),
    f(Add, "pw-store", None, O, Ignored(None)),
    f(
        Add,
        "remote",
        None,
        N,
        Ignored(Some(
            "--remote: there is no central agent; using the agent named by OIDC_SOCK",
        )),
    ),
    f(Add, "remove", Some('r'), N, Ours),
    f(Add, "remove-all", Some('R'), N, Ours),
    f(Add, "seccomp", None, N, Ignored(None)),
    f(Add, "skip-check", None, N, Ours),
    f(Add, "lifetime", Some('t'), R, Ours),
    f(Add, "lock", Some('x'), N, Ours),
    f(Add, "unlock", Some('X'), N, Ours),
    f(Add, "debug", Some('g'), N, Ignored(None)),
    f(Add, "verbose", Some('v'), N, Ignored(None)),
    // ---------------------------------------------------------- oidc-token
    f(Token, "all", Some('a'), N, Ours),
    f(Token, "env", Some('c'), N, Ours),
    f(Token, "expires-at", Some('e'), O, Ours),
    f(Token, "force-new", Some('f'), N, Ours),
    f(Token, "issuer", Some('i'), O, Ours),
    f(Token, "token", Some('o'), O, Ours),
    f(Token, "time", Some('t'), R, Ours),
    f(Token, "aud", None, R, Ours),
    f(Token, "auth-header", None, N, Ours),
    f(Token, "auth", None, N, Ours),
    f(Token, "bearer", None, N, Ours),
    f(Token, "id-token", None, N, Ours),
    f(Token, "mytoken", Some('m'), O, NO_MYTOKEN),
    f(Token, "MT", None, O, NO_MYTOKEN),
    f(Token, "name", None, R, Ours),
    f(Token, "seccomp", None, N, Ignored(None)),
    f(Token, "scope", Some('s'), R, Ours),
];

/// The options of `tool`.
pub fn of(tool: Tool) -> impl Iterator<Item = &'static Flag> {
    let password: &'static [Flag] = match tool {
        Gen => &GEN_PASSWORD,
        Add => &ADD_PASSWORD,
        Agent | Token => &[],
    };
    TABLE.iter().filter(move |f| f.tool == tool).chain(password)
}

/// argp's reading of a short option with an optional value: only what is
/// attached is its value (`-eAT_EXP`, `-oTOKEN`; `-oe` is `--token=e`),
/// as oidc-agent's documentation writes it. clap reads `-eAT_EXP` as the
/// flags `-e -A -T ...`; this writes such a cluster as `-e=AT_EXP`, which
/// clap reads as argp does. Everything after `--` is left alone.
pub fn attached_values(tool: Tool, argv: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut past_options = false;
    argv.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            past_options |= arg == "--";
            let Some(text) = arg.to_str().filter(|_| i > 0 && !past_options) else {
                return arg;
            };
            match optional_value_at(tool, text) {
                Some(at) => format!("{}={}", &text[..at], &text[at..]).into(),
                None => arg,
            }
        })
        .collect()
}

/// Where the attached value of a short option with an optional value
/// starts in the cluster `text` (`-ce` + `AT_EXP`), if it has one.
fn optional_value_at(tool: Tool, text: &str) -> Option<usize> {
    let cluster = text.strip_prefix('-').filter(|c| !c.starts_with('-'))?;
    for (i, c) in cluster.char_indices() {
        let value = of(tool).find(|f| f.short == Some(c))?.value;
        let rest = &cluster[i + c.len_utf8()..];
        match value {
            Value::None => {}
            Value::Required => return None,
            Value::Optional if rest.is_empty() || rest.starts_with('=') => return None,
            Value::Optional => return Some(1 + i + c.len_utf8()),
        }
    }
    None
}

/// The options of every tool.
pub fn all() -> impl Iterator<Item = &'static Flag> {
    Tool::ALL.into_iter().flat_map(of)
}

/// The id of the hidden argument for a table option: its long name (the
/// clap structs' ids are snake_case field names, so they cannot collide).
fn id(flag: &Flag) -> &'static str {
    flag.long
}

/// The id of argp's `--usage`.
const USAGE: &str = "compat:usage";

/// `cmd` with argp's `-?` and `--usage`, and the table's hidden options of
/// `tool`.
pub fn command(cmd: Command, tool: Tool) -> Command {
    // argp takes any unique prefix of a long option (`--pw-e` for
    // `--pw-env`); an exact name always wins.
    // argp also takes a flag given twice (`oidc-token -f -f`), the last
    // value winning; lists (`-s`, `--aud`) still gather every value.
    let mut cmd = cmd
        .infer_long_args(true)
        .args_override_self(true)
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .short_alias('?')
                .long("help")
                .help("Print help")
                .action(ArgAction::Help),
        )
        .arg(
            Arg::new(USAGE)
                .long("usage")
                .hide(true)
                .action(ArgAction::SetTrue),
        );
    for flag in of(tool).filter(|f| f.here != Here::Ours) {
        let mut arg = Arg::new(id(flag)).long(flag.long).hide(true);
        if let Some(c) = flag.short {
            arg = arg.short(c);
        }
        arg = match flag.value {
            Value::None => arg.action(ArgAction::Count),
            Value::Required => arg.action(ArgAction::Append).num_args(1),
            Value::Optional => arg
                .action(ArgAction::Append)
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value(""),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

/// True when `arg` names `--usage` in `cmd` (built by [`command`]) as the
/// parser would read it: the name or an alias, else a prefix that only
/// `--usage` has (clap's `infer_long_args`, argp's rule), so `--usag` is
/// `--usage` too, and wins over the rest of the line as `--usage` does.
pub fn asks_usage(cmd: &Command, arg: &std::ffi::OsStr) -> bool {
    fn names(a: &Arg) -> impl Iterator<Item = &str> {
        a.get_long()
            .into_iter()
            .chain(a.get_all_aliases().unwrap_or_default())
    }
    let Some(p) = arg.to_str().and_then(|a| a.strip_prefix("--")) else {
        return false;
    };
    if p.is_empty() {
        return false;
    }
    let exact = cmd.get_arguments().find(|a| names(a).any(|n| n == p));
    let mut by_prefix = cmd
        .get_arguments()
        .filter(|a| names(a).any(|n| n.starts_with(p)));
    exact
        .or_else(|| by_prefix.next().filter(|_| by_prefix.next().is_none()))
        .is_some_and(|a| a.get_id() == USAGE)
}

/// What the hidden options in `m` ask of the caller.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Used {
    /// `--usage` was given.
    pub usage: bool,
    /// Notes to print once on stderr.
    pub notes: Vec<&'static str>,
    /// The reason to refuse the command line, if any.
    pub refused: Option<&'static str>,
}

/// Looks at the hidden options the command line used.
pub fn used(m: &ArgMatches, tool: Tool) -> Used {
    let given = |id: &str| {
        m.value_source(id)
            .is_some_and(|s| s == clap::parser::ValueSource::CommandLine)
    };
    let mut out = Used {
        usage: given(USAGE),
        ..Used::default()
    };
    for flag in of(tool) {
        if flag.here == Here::Ours || !given(id(flag)) {
            continue;
        }
        match flag.here {
            Here::Ignored(Some(note)) if !out.notes.contains(&note) => out.notes.push(note),
            Here::Refused(why) => out.refused = out.refused.or(Some(why)),
            _ => {}
        }
    }
    out
}
