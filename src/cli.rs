//! The command-line edge shared by the six binaries: running a command,
//! turning errors (clap's usage errors too) into one line on stderr and an
//! exit code, and parsing with oidc-agent's options ([`flags`]). The
//! password sources are in [`password`].

pub mod add;
pub mod agent;
pub mod autoload;
pub mod docs;
pub mod flags;
pub mod formats;
pub mod generate;
pub mod git_credential;
mod help;
pub mod manual;
mod newest;
pub mod password;
pub mod service;
pub mod start;
mod stop;
pub mod token;
pub mod tty;

use std::io;
use std::path::Path;

use crate::error::{Error, ErrorKind};
pub use password::{
    PasswordArgs, open_account, prompt_password, remember_password, warn_if_empty_password,
    warn_secret_in_argv,
};
pub(crate) use password::{secret_from_env, secret_from_file};

/// Runs a command body: `prog: error` on stderr; the process's exit code
/// (0, or the error's).
pub fn run(prog: &str, body: impl FnOnce() -> anyhow::Result<()>) -> u8 {
    match body() {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("{prog}: {err:#}");
            exit_code(&err)
        }
    }
}

/// Writes `text` to stdout in one go. A reader that went away
/// (`oidc-token x | head -c0`) is not our failure; only in that case (and
/// only for stdout, never for the agent's socket) is a broken pipe success.
pub fn write_stdout(text: &str) -> io::Result<()> {
    use std::io::Write as _;
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The exit code of an error chain: the first [`Error`] in it decides
/// (a layer's typed error becomes an [`Error`] on its way to the CLI, so
/// this is the only type to look for); no [`Error`] at all is a failure.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Error>())
        .map_or(ErrorKind::Failure, Error::kind)
        .exit_code()
}

/// Parses the command line of a tool oidc-agent has no flags table for
/// (`oidc-agent-service`); usage errors exit 2, `--help` exits 0. The
/// one-line summary and the exit-code list of `--help` come from [`docs`].
pub fn parse_plain<T: clap::Parser>() -> T {
    let cmd = help::for_help(T::command());
    cmd.try_get_matches()
        .and_then(|m| T::from_arg_matches(&m))
        .unwrap_or_else(|e| usage_exit(&e))
}

/// Ends the process for clap's `e`: help and version as clap prints them
/// (exit 0), a usage error as one line with the remedy (exit 2), e.g.
/// `oidc-add: unexpected argument '--pw-en' found (tip: a similar argument
/// exists: '--pw-env'); see oidc-add --help`.
fn usage_exit(e: &clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let prog = std::env::args()
        .next()
        .as_deref()
        .and_then(|a| Path::new(a).file_name()?.to_str().map(str::to_owned))
        .unwrap_or_else(|| "oidc-agent".into());
    eprintln!("{}", usage_line(&prog, &e.render().to_string()));
    std::process::exit(crate::error::ErrorKind::Usage.exit_code().into())
}

/// clap's rendered usage error as one line: its first paragraph (the
/// message, with a list such as the missing arguments or the possible
/// values) and its tips; clap's usage lines are left to `--help`.
fn usage_line(prog: &str, rendered: &str) -> String {
    let mut paragraphs = rendered.split("\n\n");
    let first = paragraphs.next().unwrap_or_default();
    let message = first.split_whitespace().collect::<Vec<_>>().join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let tips: Vec<&str> = paragraphs
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|l| l.starts_with("tip:"))
        .collect();
    if tips.is_empty() {
        format!("{prog}: {message}; see {prog} --help")
    } else {
        format!("{prog}: {message} ({}); see {prog} --help", tips.join("; "))
    }
}

/// Parses the command line of `tool`, with the hidden oidc-agent options
/// of [`flags`]: usage errors exit 2, `--help` and `--usage` exit 0, and an
/// ignored option's note goes to stderr once.
pub fn parse<T: clap::Parser>(tool: flags::Tool) -> T {
    // Fast path: a command line of our own options only (every script's
    // `oidc-token NAME`) parses without building the compatibility table,
    // which costs a third of oidc-token's start-up. Anything else (help,
    // a prefix, an oidc-agent option, a usage error) takes the full parse,
    // which gives the same result for what the fast path accepts.
    let argv = flags::attached_values(tool, std::env::args_os().collect());
    if let Ok(m) = T::command().try_get_matches_from(&argv)
        && let Ok(parsed) = T::from_arg_matches(&m)
    {
        return parsed;
    }
    let mut cmd = flags::command(help::for_help(T::command()), tool);
    // argp's --usage (or a prefix only it has) wins over everything else on
    // the line, as --help does.
    if argv
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| flags::asks_usage(&cmd, a))
    {
        println!("{}", cmd.render_usage());
        std::process::exit(0);
    }
    let m = cmd
        .try_get_matches_from_mut(argv.clone())
        .unwrap_or_else(|e| usage_exit(&detached_value(&mut cmd, tool, &argv, e)));
    let used = flags::used(&m, tool);
    if let Some(why) = used.refused {
        usage_exit(&cmd.error(clap::error::ErrorKind::ArgumentConflict, why));
    }
    for note in used.notes {
        eprintln!("{}: note: {note}", tool.name());
    }
    T::from_arg_matches(&m).unwrap_or_else(|e| usage_exit(&e))
}

/// oidc-token's options whose value, a variable name, is optional and so
/// must be attached (`-eAT_EXP`, `--expires-at=AT_EXP`), as in argp.
const ATTACHED_ONLY: [(&str, &str); 3] = [
    ("-o", "--token"),
    ("-i", "--issuer"),
    ("-e", "--expires-at"),
];

/// `e`, or for a word found after one of [`ATTACHED_ONLY`] (oidc-agent's
/// docs write `oidc-token NAME -e AT_EXP`, which argp refuses too) the
/// same refusal saying how to attach it.
fn detached_value(
    cmd: &mut clap::Command,
    tool: flags::Tool,
    argv: &[std::ffi::OsString],
    e: clap::Error,
) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidArg) else {
        return e;
    };
    if tool != flags::Tool::Token {
        return e;
    }
    let after = argv
        .windows(2)
        .find(|w| w[1].to_str() == Some(word.as_str()))
        .and_then(|w| w[0].to_str());
    match ATTACHED_ONLY
        .iter()
        .find(|(s, l)| Some(*s) == after || Some(*l) == after)
    {
        Some((short, long)) if e.kind() == ErrorKind::UnknownArgument => cmd.error(
            ErrorKind::UnknownArgument,
            format!(
                "unexpected argument '{word}' found (a variable name goes attached to its \
                 option: {short}{word} or {long}={word})"
            ),
        ),
        _ => e,
    }
}

/// Parses `argv` as `tool` would (for tests): the struct, or clap's error.
pub fn try_parse_from<T: clap::Parser>(
    tool: flags::Tool,
    argv: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<(T, flags::Used), clap::Error> {
    let argv = flags::attached_values(tool, argv.into_iter().map(Into::into).collect());
    let m = flags::command(help::for_help(T::command()), tool).try_get_matches_from(argv)?;
    let used = flags::used(&m, tool);
    Ok((T::from_arg_matches(&m)?, used))
}

/// `value` as one word of the shell code printed for `eval` (`oidc-token
/// -c`, `oidc-agent`, `oidc-agent-service use`): as it is
/// when it holds only characters no shell treats specially (a token, a URL,
/// a number: oidc-agent's output, which scripts may read), else in single
/// quotes, so that nothing in it (a provider's `;`, `$(...)`, a newline)
/// runs as a command.
pub(crate) fn shell_word(value: &str) -> std::borrow::Cow<'_, str> {
    // Not `~`: after `=` or `:` the shell expands it to a home directory.
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-._+/=:,@%".contains(&b);
    if !value.is_empty() && value.bytes().all(plain) {
        return value.into();
    }
    format!("'{}'", value.replace('\'', r"'\''")).into()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use anyhow::Context as _;

    use super::*;
    use crate::loopback::LoopbackError;
    use crate::oidc::OidcError;
    use crate::oidc::device::DeviceError;
    use crate::secret::SecretString;

    /// A layer's error as a CLI command body sees it: converted with `?`
    /// into [`Error`], then wrapped in context twice on its way out.
    fn at_cli<E>(layer: E) -> anyhow::Error
    where
        Error: From<E>,
    {
        let inner = || -> anyhow::Result<()> {
            Err(Error::from(layer)).context("while doing the inner step")?;
            Ok(())
        };
        inner()
            .context("while doing the command")
            .expect_err("the layer error")
    }

    fn unreachable() -> OidcError {
        OidcError::Unreachable {
            url: "https://op.example/token".into(),
            detail: "connection refused".into(),
            timed_out: false,
            proxy: None,
        }
    }

    fn provider(error: &str) -> OidcError {
        OidcError::Provider {
            endpoint: "https://op.example/token".into(),
            error: error.into(),
            description: None,
            error_uri: None,
        }
    }

    /// clap's multi-line usage errors become one line that keeps the
    /// message, its list and its tip, and names `--help`.
    #[test]
    fn usage_errors_are_one_line_with_the_remedy() {
        let add = |argv: &[&str]| {
            let e = try_parse_from::<add::Args>(flags::Tool::Add, argv.iter().copied())
                .expect_err("a usage error");
            usage_line("oidc-add", &e.render().to_string())
        };
        assert_eq!(
            add(&["oidc-add", "--pw-env", "--pw-file", "f", "a"]),
            "oidc-add: the argument '--pw-env[=<VAR>]' cannot be used with '--pw-file <FILE>'; see oidc-add --help"
        );
        assert_eq!(
            add(&["oidc-add", "--bogus"]),
            "oidc-add: unexpected argument '--bogus' found (tip: to pass '--bogus' as a value, use '-- --bogus'); \
             see oidc-add --help"
        );
        let e = try_parse_from::<token::Args>(flags::Tool::Token, ["oidc-token"])
            .expect_err("a usage error");
        assert_eq!(
            usage_line("oidc-token", &e.render().to_string()),
            "oidc-token: the following required arguments were not provided: <ACCOUNT_SHORTNAME|ISSUER_URL>; \
             see oidc-token --help"
        );
    }

    #[test]
    fn every_layer_error_keeps_its_exit_code_through_context() {
        let addr = "127.0.0.1:4242".parse().expect("addr");
        let cases: Vec<(anyhow::Error, u8)> = vec![
            // The provider (oidc).
            (at_cli(unreachable()), 6),
            (
                at_cli(OidcError::RefreshTokenRejected {
                    account: "a".into(),
                    description: String::new(),
                }),
                7,
            ),
            (at_cli(provider("invalid_client")), 8),
            (at_cli(OidcError::InvalidIssuer("op".into())), 2),
            (at_cli(OidcError::Config("bad CA".into())), 1),
            // The device flow, and a provider error inside it.
            (at_cli(DeviceError::AccessDenied { description: None }), 8),
            (at_cli(DeviceError::Expired), 1),
            (at_cli(DeviceError::Oidc(unreachable())), 6),
            // The loopback listener.
            (at_cli(LoopbackError::PortInUse { addr, port: 4242 }), 2),
            (
                at_cli(LoopbackError::ProviderDenied {
                    error: "access_denied".into(),
                    description: None,
                }),
                8,
            ),
            (
                at_cli(LoopbackError::Timeout {
                    redirect_uri: "http://localhost:4242/".into(),
                    waited: Duration::from_secs(1),
                }),
                1,
            ),
            // The library's own variants.
            (at_cli(Error::NoAgent), 3),
            (
                at_cli(Error::NoSuchAccount {
                    name: "a".into(),
                    dir: "/d".into(),
                }),
                4,
            ),
            (
                at_cli(Error::Agent {
                    kind: ErrorKind::Locked,
                    message: "locked".into(),
                }),
                5,
            ),
            (at_cli(Error::WrongPassword { path: "/f".into() }), 9),
            (
                at_cli(Error::CorruptFile {
                    path: "/f".into(),
                    reason: "short".into(),
                }),
                10,
            ),
            (at_cli(Error::Usage("bad flag".into())), 2),
            (at_cli(Error::Failure("no start".into())), 1),
            (at_cli(Error::Protocol("garbage".into())), 1),
        ];
        for (err, code) in cases {
            assert_eq!(exit_code(&err), code, "{err:#}");
        }
    }

    #[test]
    fn file_errors_reach_the_cli_as_wrong_password_or_bad_file() {
        use crate::account::format::{KdfParams, seal_new};
        let path = std::path::Path::new("/accounts/a");
        let (ours, _) = seal_new(b"pw", b"{}", KdfParams::TESTING).expect("seal");
        let wrong = SecretString::new("other".to_owned());
        let err = crate::account::open_bytes(path, &ours, &wrong).expect_err("wrong password");
        assert_eq!(exit_code(&at_cli(err)), 9);
        let legacy =
            crate::account::open_bytes(path, b"not an account file", &wrong).expect_err("corrupt");
        assert_eq!(exit_code(&at_cli(legacy)), 10);
    }

    #[test]
    fn a_chain_without_a_library_error_is_a_plain_failure() {
        let err = anyhow::anyhow!("something").context("while doing the command");
        assert_eq!(exit_code(&err), 1);
    }
}
