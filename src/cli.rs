//! The command-line edge shared by the six binaries: running a command,
//! turning errors into one line on stderr and an exit code, and the
//! password sources (`--pw-env`, `--pw-file`, `--pw-cmd`, a no-echo prompt).

pub mod add;
pub mod agent;
pub mod autoload;
pub mod docs;
pub mod flags;
pub mod formats;
pub mod generate;
pub mod git_credential;
pub mod manual;
pub mod service;
pub mod start;
pub mod token;
pub mod tty;

use std::io::{self, IsTerminal as _};
use std::path::{Path, PathBuf};

use crate::account;
use crate::account::store::Store;
use crate::error::{Error, ErrorKind};
use crate::paths::ENV_PASSWORD;
use crate::secret::SecretString;

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
    let cmd = docs::for_help(T::command());
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
    let mut cmd = flags::command(docs::for_help(T::command()), tool);
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
        .try_get_matches_from_mut(argv)
        .unwrap_or_else(|e| usage_exit(&e));
    let used = flags::used(&m, tool);
    if let Some(why) = used.refused {
        usage_exit(&cmd.error(clap::error::ErrorKind::ArgumentConflict, why));
    }
    for note in used.notes {
        eprintln!("{}: note: {note}", tool.name());
    }
    T::from_arg_matches(&m).unwrap_or_else(|e| usage_exit(&e))
}

/// Parses `argv` as `tool` would (for tests): the struct, or clap's error.
pub fn try_parse_from<T: clap::Parser>(
    tool: flags::Tool,
    argv: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<(T, flags::Used), clap::Error> {
    let argv = flags::attached_values(tool, argv.into_iter().map(Into::into).collect());
    let m = flags::command(docs::for_help(T::command()), tool).try_get_matches_from(argv)?;
    let used = flags::used(&m, tool);
    Ok((T::from_arg_matches(&m)?, used))
}

/// Warns, when `password` is empty, what an account file saved with it
/// still protects against and what it does not.
pub fn warn_if_empty_password(prog: &str, name: &str, password: &SecretString) {
    if password.is_empty() {
        eprintln!(
            "{prog}: warning: account '{name}' is saved with an empty password: the file stays \
             private to your user (0600), but anyone who gets a copy of it can read its refresh token"
        );
    }
}

/// Warns that a secret given on the command line is visible to every local
/// user (`ps`, /proc/PID/cmdline), naming the safe forms.
pub fn warn_secret_in_argv(prog: &str, flag: &str, safe: &str) {
    eprintln!(
        "{prog}: warning: {flag} puts a secret on the command line, where other users can read it \
         (ps); use {safe} instead"
    );
}

/// Where the account password comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PasswordArgs {
    /// Read the password from the environment variable VAR [default: OIDC_ENCRYPTION_PW]
    #[arg(long = "pw-env", value_name = "VAR", num_args = 0..=1, require_equals = true,
          default_missing_value = ENV_PASSWORD, conflicts_with_all = ["pw_file", "pw_cmd"])]
    pub pw_env: Option<String>,
    /// Read the password from the first line of FILE
    #[arg(long = "pw-file", value_name = "FILE", conflicts_with = "pw_cmd")]
    pub pw_file: Option<PathBuf>,
    /// Run CMD with `sh -c` and use the first line of its output as the password
    #[arg(long = "pw-cmd", value_name = "CMD")]
    pub pw_cmd: Option<String>,
    /// Keep the password in the OS keyring (oidc-gen stores it there; it is
    /// looked up there by default whenever no other source is given)
    #[arg(long = "pw-keyring")]
    pub pw_keyring: bool,
    /// Never prompt (oidc-gen `--prompt=none`): without a source, fail.
    #[arg(skip)]
    pub no_prompt: bool,
}

/// The most a password or secret line may be: a longer first line is not
/// a password (`--pw-file /dev/zero`, `--pw-cmd yes` would fill memory).
const MAX_SECRET_LINE: usize = 64 * 1024;

/// The first line of `reader`, without its line end, read no further than
/// [`MAX_SECRET_LINE`]; what was read is wiped. `source` names it in errors.
fn first_line_of(reader: impl io::Read, source: &str) -> Result<SecretString, Error> {
    use io::BufRead as _;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    io::BufReader::new(reader.take(MAX_SECRET_LINE as u64 + 1))
        .read_until(b'\n', &mut buf)
        .map_err(|e| Error::Failure(format!("{source}: cannot read it: {e}")))?;
    let end = buf
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .unwrap_or(buf.len());
    if end > MAX_SECRET_LINE {
        return Err(Error::Failure(format!(
            "{source}: its first line is longer than {} KiB; give the password (or secret) on a line of its own",
            MAX_SECRET_LINE / 1024
        )));
    }
    let line = std::str::from_utf8(&buf[..end])
        .map_err(|_| Error::Failure(format!("{source}: its first line is not UTF-8 text")))?;
    Ok(SecretString::new(line.to_owned()))
}

/// A secret from the environment variable `var`; `flag` names the option
/// in the usage error when it is not set.
pub(crate) fn secret_from_env(flag: &str, var: &str) -> Result<SecretString, Error> {
    match std::env::var(var) {
        Ok(value) => Ok(SecretString::new(value)),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Usage(format!(
            "{flag}: the environment variable {var} is not UTF-8 text"
        ))),
        Err(std::env::VarError::NotPresent) if var.is_empty() => Err(Error::Usage(format!(
            "{flag}=: no variable named; give {flag}=VAR, or {flag} alone for its default variable"
        ))),
        Err(std::env::VarError::NotPresent) => Err(Error::Usage(format!(
            "{flag}: the environment variable {var} is not set"
        ))),
    }
}

/// A secret from the first line of the file at `path`; `action` names the
/// read in the I/O error.
pub(crate) fn secret_from_file(action: &'static str, path: &Path) -> Result<SecretString, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(action, path, e))?;
    first_line_of(file, &path.display().to_string())
}

/// The first line `cmd` (run with `sh -c`) prints. Once that line is read,
/// the pipe is closed: a command that goes on writing ends on SIGPIPE,
/// which is not its failure.
fn secret_from_command(cmd: &str) -> Result<SecretString, Error> {
    use std::os::unix::process::ExitStatusExt as _;
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Failure(format!("--pw-cmd: cannot run `{cmd}`: {e}")))?;
    let line = match child.stdout.take() {
        Some(out) => first_line_of(out, &format!("--pw-cmd: the output of `{cmd}`")),
        None => Err(Error::Failure(format!("--pw-cmd: no output of `{cmd}`"))),
    };
    let status = child
        .wait()
        .map_err(|e| Error::Failure(format!("--pw-cmd: `{cmd}`: {e}")))?;
    let line = line?;
    // `sh -c` reports its command's SIGPIPE as 128 + SIGPIPE.
    let sigpipe =
        status.signal() == Some(libc::SIGPIPE) || status.code() == Some(128 + libc::SIGPIPE);
    if !status.success() && !sigpipe {
        return Err(Error::Failure(format!(
            "--pw-cmd: `{cmd}` failed ({status})"
        )));
    }
    Ok(line)
}

impl PasswordArgs {
    /// True when a non-interactive source was given.
    pub fn given(&self) -> bool {
        self.pw_env.is_some() || self.pw_file.is_some() || self.pw_cmd.is_some()
    }

    /// Gets the password: from the given source, else a no-echo prompt on the
    /// terminal (asked twice when `confirm`).
    pub fn get(&self, prompt: &str, confirm: bool) -> Result<SecretString, Error> {
        if let Some(var) = &self.pw_env {
            return secret_from_env("--pw-env", var);
        }
        if let Some(path) = &self.pw_file {
            return secret_from_file("read password file", path);
        }
        if let Some(cmd) = &self.pw_cmd {
            return secret_from_command(cmd);
        }
        self.prompt(prompt, confirm)
    }

    /// The no-echo prompt, unless prompting is off.
    fn prompt(&self, prompt: &str, confirm: bool) -> Result<SecretString, Error> {
        self.can_prompt()?;
        prompt_password(prompt, confirm)
    }

    fn can_prompt(&self) -> Result<(), Error> {
        if self.no_prompt {
            return Err(Error::Usage(
                "--prompt=none: no password source; give --pw-env, --pw-file or --pw-cmd".into(),
            ));
        }
        terminal_to_ask_on()
    }

    /// Fails now, before a login the person would have to do again, when
    /// the password could not be had after it: `--pw-env` names an unset
    /// variable, `--pw-file` cannot be read, or there is no source and no
    /// terminal to ask on. (`--pw-cmd` runs only when the password is due.)
    pub fn check_before_login(&self) -> Result<(), Error> {
        if let Some(var) = &self.pw_env {
            return secret_from_env("--pw-env", var).map(drop);
        }
        if let Some(path) = &self.pw_file {
            // Not read now: a FIFO or `<(pass show x)` can be read only once.
            return rustix::fs::access(path, rustix::fs::Access::READ_OK)
                .map_err(|e| Error::io("read password file", path, e.into()));
        }
        if self.pw_cmd.is_some() {
            return Ok(());
        }
        self.can_prompt()
    }
}

/// Decrypts account `name`: the password from the given source, else the
/// keyring (when it holds one for this file), else a no-echo prompt.
pub fn open_account(
    pw: &PasswordArgs,
    store: &Store,
    name: &str,
) -> Result<(account::Opened, SecretString), Error> {
    let path = store.path(name)?;
    // Before the password is asked for, so a missing or damaged file fails
    // first; the bytes read are the ones decrypted.
    let bytes = store.read(name)?;
    let prompt = format!("Password for account '{name}': ");
    let password = if pw.given() {
        pw.get(&prompt, false)?
    } else {
        match crate::keyring::get(&path) {
            Ok(Some(stored)) => stored,
            found => {
                if pw.pw_keyring {
                    match found {
                        Err(e) => eprintln!("note: {e}; asking for the password instead"),
                        _ => eprintln!(
                            "note: the keyring holds no password for '{name}'; asking for it"
                        ),
                    }
                }
                pw.prompt(&prompt, false)?
            }
        }
    };
    let opened = account::open_bytes(&path, &bytes, &password)?;
    Ok((opened, password))
}

/// After saving account `name` with `--pw-keyring`: stores the password in
/// the keyring, or says why it could not (the account is saved either way).
pub fn remember_password(
    pw: &PasswordArgs,
    path: &std::path::Path,
    name: &str,
    password: &SecretString,
) {
    if !pw.pw_keyring {
        return;
    }
    match crate::keyring::set(path, password) {
        Ok(()) => eprintln!(
            "Stored the password of '{name}' in the keyring; `oidc-add {name}` will not ask for it."
        ),
        Err(e) => {
            eprintln!("note: {e}; the password was not stored, `oidc-add {name}` will ask for it")
        }
    }
}

fn no_tty(e: io::Error) -> Error {
    Error::Failure(format!(
        "cannot ask for the password ({e}): no terminal; use --pw-env, --pw-file or --pw-cmd"
    ))
}

/// Whether a password prompt can reach a person: a terminal, and not a
/// run the agent started to autoload an account (which never asks anyone).
fn terminal_to_ask_on() -> Result<(), Error> {
    if std::env::var_os(crate::agent::autoload::ENV).is_some() {
        return Err(Error::Failure(
            "no password in the keyring; the agent does not ask for one".into(),
        ));
    }
    if !io::stdin().is_terminal() && std::fs::File::open("/dev/tty").is_err() {
        return Err(no_tty(io::Error::other("no /dev/tty")));
    }
    Ok(())
}

/// Asks for a password on the terminal without echo.
pub fn prompt_password(prompt: &str, confirm: bool) -> Result<SecretString, Error> {
    terminal_to_ask_on()?;
    let pw = tty::ask(prompt).map_err(no_tty)?;
    if confirm {
        let again = tty::ask("Confirm password: ").map_err(no_tty)?;
        if pw != again {
            return Err(Error::Failure("the passwords do not match".into()));
        }
    }
    Ok(pw)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use anyhow::Context as _;

    use super::*;
    use crate::loopback::LoopbackError;
    use crate::oidc::OidcError;
    use crate::oidc::device::DeviceError;

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

    /// A password source is read up to its first line end, and no further
    /// than 64 KiB: an endless one (`/dev/zero`, `yes`) fails or ends,
    /// instead of filling memory.
    #[test]
    fn password_sources_are_read_to_the_first_line_only() {
        let line = |bytes: &[u8]| first_line_of(bytes, "test").map(|s| s.expose().to_owned());
        assert_eq!(line(b"pw\r\nrest").expect("line"), "pw");
        assert_eq!(line(b"no newline").expect("line"), "no newline");
        assert_eq!(line(b"").expect("empty"), "");
        let long = vec![b'x'; MAX_SECRET_LINE + 1];
        assert!(
            line(&long)
                .expect_err("too long")
                .to_string()
                .contains("longer than 64 KiB")
        );
        assert!(line(&long[..MAX_SECRET_LINE]).is_ok());
        let endless = std::io::repeat(0);
        assert!(first_line_of(endless, "/dev/zero").is_err());
        assert!(line(b"\xff\n").is_err());
        let yes = secret_from_command("yes").expect("the first line, then SIGPIPE");
        assert_eq!(yes.expose(), "y");
        assert!(secret_from_command("echo pw; exit 3").is_err());
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
