//! Where an account password (or another secret read the same ways) comes
//! from: `--pw-env`, `--pw-file`, `--pw-cmd` (each read to its first line,
//! and no further than 64 KiB), the OS keyring, or a no-echo prompt on the
//! terminal; and the checks that let oidc-gen fail before a login rather
//! than after it.

use std::io::{self, IsTerminal as _};
use std::path::{Path, PathBuf};

use super::tty;
use crate::account;
use crate::account::store::Store;
use crate::error::Error;
use crate::paths::ENV_PASSWORD;
use crate::secret::SecretString;

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

/// The first line of `reader` ([`crate::secret::first_line`]); `source`
/// names it in errors.
fn first_line_of(reader: impl io::Read, source: &str) -> Result<SecretString, Error> {
    crate::secret::first_line(reader, source).map_err(Error::Failure)
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

/// How many times a prompt asks for a password that does not open the
/// account, as oidc-agent's prompts do (its `MAX_PASS_TRIES`).
pub const PROMPT_TRIES: usize = 3;

/// Decrypts account `name`: the password from the given source, else the
/// keyring (when it holds one that opens the file), else a no-echo prompt
/// ([`PROMPT_TRIES`] tries).
pub fn open_account(
    pw: &PasswordArgs,
    store: &Store,
    name: &str,
) -> Result<(account::Opened, SecretString), Error> {
    let path = store.path(name)?;
    // Before the password is asked for, so a missing or damaged file fails
    // first; the bytes read are the ones decrypted.
    let bytes = store.read(name)?;
    account::check_shape(&path, &bytes)?;
    if let Some(warning) = store.open_to_others() {
        eprintln!("warning: {warning}");
    }
    let prompt = format!("Password for account '{name}': ");
    if pw.given() {
        // A script's password is not asked for again: a wrong one ends here.
        let password = pw.get(&prompt, false)?;
        let opened = account::open_bytes(&path, &bytes, &password)?;
        return Ok((opened, password));
    }
    let prompt = match crate::keyring::get(&path) {
        Ok(Some(stored)) => match account::open_bytes(&path, &bytes, &stored) {
            Err(e @ Error::WrongPassword { .. }) => {
                if pw.can_prompt().is_err() {
                    eprintln!("note: the keyring's password for '{name}' does not open it");
                    return Err(e);
                }
                format!("The keyring's password for '{name}' is wrong; password for it: ")
            }
            opened => return opened.map(|o| (o, stored)),
        },
        found => {
            let asking = pw.can_prompt();
            if pw.pw_keyring {
                // "asking" only where a prompt follows (not in the agent's
                // autoload, which never asks).
                let then = if asking.is_ok() {
                    "; asking for it"
                } else {
                    ""
                };
                match found {
                    Err(e) => eprintln!("note: {e}{then}"),
                    _ => eprintln!("note: the keyring holds no password for '{name}'{then}"),
                }
            }
            asking?;
            prompt
        }
    };
    prompt_to_open(&prompt, &path, &bytes)
}

/// Asks on the terminal for the password that opens `bytes` (account file
/// `path`): [`PROMPT_TRIES`] times, saying so after each wrong one; the
/// last wrong one is the error.
pub fn prompt_to_open(
    prompt: &str,
    path: &Path,
    bytes: &[u8],
) -> Result<(account::Opened, SecretString), Error> {
    let mut asking = prompt.to_owned();
    for tries in 1.. {
        let password = prompt_password(&asking, false)?;
        match account::open_bytes(path, bytes, &password) {
            // Said on the terminal, with the prompt: an autoload's oidc-add
            // has its stderr read by oidc-token, not shown.
            Err(Error::WrongPassword { .. }) if tries < PROMPT_TRIES => {
                asking = format!(
                    "Wrong password; try again ({} of {PROMPT_TRIES}).\n{prompt}",
                    tries + 1
                );
            }
            opened => return opened.map(|o| (o, password)),
        }
    }
    unreachable!("the loop returns by its last try")
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
    if e.kind() == io::ErrorKind::UnexpectedEof {
        // Ctrl-D at the prompt: the person chose not to answer. The line
        // ends here (the prompt left the cursor after it).
        eprintln!();
        return Error::Failure("no password typed (Ctrl-D at the prompt)".into());
    }
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

/// How often a new password and its confirmation may differ before the
/// prompt gives up (oidc-agent asks again too): a typo must not end the
/// run, which may hold a login made moments before.
const CONFIRM_TRIES: usize = 3;

/// Asks for a password on the terminal without echo; with `confirm`, twice,
/// and again when the two differ.
pub fn prompt_password(prompt: &str, confirm: bool) -> Result<SecretString, Error> {
    terminal_to_ask_on()?;
    for _ in 0..CONFIRM_TRIES {
        let pw = tty::ask(prompt).map_err(no_tty)?;
        if !confirm || pw == tty::ask("Confirm password: ").map_err(no_tty)? {
            return Ok(pw);
        }
        eprintln!("The passwords do not match; try again.");
    }
    Err(Error::Failure(format!(
        "the passwords did not match {CONFIRM_TRIES} times"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password source is read up to its first line end, and no further
    /// than 64 KiB: an endless one (`/dev/zero`, `yes`) fails or ends,
    /// instead of filling memory.
    #[test]
    fn password_sources_are_read_to_the_first_line_only() {
        let line = |bytes: &[u8]| first_line_of(bytes, "test").map(|s| s.expose().to_owned());
        assert_eq!(line(b"pw\r\nrest").expect("line"), "pw");
        assert_eq!(line(b"no newline").expect("line"), "no newline");
        assert_eq!(line(b"").expect("empty"), "");
        let long = vec![b'x'; crate::secret::MAX_SECRET_LINE + 1];
        assert!(
            line(&long)
                .expect_err("too long")
                .to_string()
                .contains("longer than 64 KiB")
        );
        assert!(line(&long[..crate::secret::MAX_SECRET_LINE]).is_ok());
        let endless = std::io::repeat(0);
        assert!(first_line_of(endless, "/dev/zero").is_err());
        assert!(line(b"\xff\n").is_err());
        let yes = secret_from_command("yes").expect("the first line, then SIGPIPE");
        assert_eq!(yes.expose(), "y");
        assert!(secret_from_command("echo pw; exit 3").is_err());
    }
}
