//! Autoload: `oidc-token` loading a configured but unloaded account itself,
//! by running the `oidc-add` beside it in the mode [`CLIENT_ENV`] selects
//! (`oidc-add`'s side: `super::add::load_for_client`).
//!
//! One side tries ([`call`]): the client asks the agent not to autoload, and
//! loads an account configured here itself, so the keyring is asked once, in
//! the client's session, and not first by the agent's `oidc-add
//! --pw-keyring` and then again here. An account that is not configured here
//! (the agent forwarded over SSH) is left to the agent: the client asks once
//! more, letting it autoload. A loaded account costs one request and no
//! look at the account directory.
//!
//! The agent never prompts (it has no terminal and must not block other
//! clients); the client does, and only where a person can answer: the
//! password comes from the OS keyring when `--pw-keyring` stored one, else
//! from a no-echo prompt on the client's terminal (`/dev/tty`). Without
//! either the request fails at once with the agent's "not loaded" error
//! (exit status 4), as without autoload.
//!
//! The load runs in a child `oidc-add`, not in the client: the keyring
//! (libdbus) and the account decryption are then linked into oidc-add only,
//! and every `oidc-token` start, which binds each library function it
//! imports (full RELRO), binds half as many (README "Performance").

use std::io::Read as _;
use std::process::{Command, Stdio};

use crate::account::store::Store;
use crate::client::AgentClient;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{Request, Response};

/// Set by a client for the `oidc-add` it runs to autoload: `prompt` (the
/// keyring, else the terminal) or `keyring:WHY` (the keyring only, because
/// of WHY: which tool forbids a prompt).
pub const CLIENT_ENV: &str = "OIDC_AGENT_RS_CLIENT_AUTOLOAD";

/// What precedes the reason when no autoload happened.
pub(super) const NO_AUTOLOAD: &str = "; no autoload: ";

/// The account a token request for `target` (a short name, or an issuer
/// URL with a default account in `issuer.config`) would load, if it is
/// configured here.
pub fn account_for(store: &Store, target: &str) -> Option<String> {
    let name = if target.contains("://") {
        crate::account::issuers::default_account(store.dir(), target)?
    } else {
        target.to_owned()
    };
    // Anything in the account's place (also a directory or a FIFO, which
    // the load then names as such) makes it configured here.
    store
        .path(&name)
        .ok()
        .filter(|p| p.symlink_metadata().is_ok())?;
    Some(name)
}

/// Set for the autoloading `oidc-add` to the pid of the client that runs it.
const PARENT_ENV: &str = "OIDC_AGENT_RS_CLIENT_PID";

/// In the autoloading `oidc-add`: ends it (SIGTERM, which puts the terminal
/// back) when the client that runs it is gone, killed alone (rclone kills
/// only its `bearer_token_command` when that takes too long): a password
/// prompt left behind on the terminal would take the next line the person
/// types. Gone already: ends now.
pub(super) fn end_with_parent() {
    use rustix::process::{Signal, getppid, set_parent_process_death_signal};
    let _ = set_parent_process_death_signal(Some(Signal::TERM));
    let parent = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok());
    if parent.is_some_and(|p| getppid().map(|pid| pid.as_raw_nonzero().get()) != Some(p)) {
        std::process::exit(i32::from(ErrorKind::Failure.exit_code()));
    }
}

/// True when this process can ask a person: it has a controlling terminal
/// and is in its foreground job. A background job (`oidc-token acct &`,
/// `rclone … &`) that wrote a prompt there would be stopped by the
/// terminal (SIGTTOU) and wait, unsaid, for a `fg` nobody knows to type.
pub fn have_terminal() -> bool {
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return false;
    };
    rustix::termios::tcgetpgrp(&tty).is_ok_and(|fg| fg == rustix::process::getpgrp())
}

/// Asks the agent for `target` with autoload (`enabled`, the default):
/// sends `request(true)` (built to tell the agent not to autoload); if the
/// account is not loaded, loads it when it is configured here (prompting
/// unless `no_prompt` says why not) and asks again, else asks with `request(false)` so
/// that the agent autoloads what only it can see. Without autoload, sends
/// `request(false)` once.
pub fn call(
    client: &AgentClient,
    target: &str,
    enabled: bool,
    no_prompt: Option<&str>,
    request: impl Fn(bool) -> Request,
) -> Result<Response> {
    if !enabled {
        return client.call(&request(false));
    }
    match client.call(&request(true)) {
        Err(e) if is_not_loaded(&e) => match account_for(&Store::default_dir(), target) {
            Some(name) if agent_autoloads(client) => {
                load_in_child(&name, no_prompt, e)?;
                client.call(&request(true))
            }
            Some(name) => {
                let e = e.to_string();
                Err(Error::Agent {
                    kind: ErrorKind::NotLoaded,
                    message: format!(
                        "{e}{NO_AUTOLOAD}the agent was started with --no-autoload{}",
                        load_hint(&e, &name)
                    ),
                })
            }
            None => client.call(&request(false)),
        },
        other => other,
    }
}

/// `; load it with `oidc-add NAME``, unless the agent's words name that
/// command already (they do for a name; for an issuer they cannot know
/// the account whose default it is in `issuer.config`).
fn load_hint(agent_said: &str, name: &str) -> String {
    let load = format!("`oidc-add {name}`");
    if agent_said.contains(&load) {
        String::new()
    } else {
        format!("; load it with {load}")
    }
}

/// False when the agent was started with `--no-autoload` (its status says
/// so): then no client loads accounts for a token request either, as with
/// oidc-agent, where only `oidc-add` loads them. An agent that does not
/// say (oidc-agent's) is taken to allow it.
fn agent_autoloads(client: &AgentClient) -> bool {
    client
        .status()
        .ok()
        .and_then(|s| s.autoload)
        .unwrap_or(true)
}

/// Runs `oidc-add NAME` (the one beside this program) in the autoload mode
/// and waits for it: `Ok(())` once it loaded the account, else its error
/// (its last line on stderr, its exit code's kind); when it found no
/// password, the agent's `not_loaded` error, completed with why no autoload
/// happened. The child has this process's controlling terminal, so a
/// password prompt (on /dev/tty) reaches the person.
fn load_in_child(name: &str, no_prompt: Option<&str>, not_loaded: Error) -> Result<()> {
    let agent_said = not_loaded.to_string();
    let hint = load_hint(&agent_said, name);
    let not_loaded = |why: &str| Error::Agent {
        kind: ErrorKind::NotLoaded,
        message: format!("{agent_said}{NO_AUTOLOAD}{why}{hint}"),
    };
    let exe =
        std::env::current_exe().map_err(|e| not_loaded(&format!("cannot find oidc-add: {e}")))?;
    let add = exe.with_file_name("oidc-add");
    let mut child = Command::new(&add)
        .arg(name)
        .env(
            CLIENT_ENV,
            no_prompt.map_or_else(|| "prompt".to_owned(), |why| format!("keyring:{why}")),
        )
        .env(PARENT_ENV, std::process::id().to_string())
        // Never stdin (oidc-token reads none): prompts go to /dev/tty.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| not_loaded(&format!("cannot run {}: {e}", add.display())))?;
    // Read to the end before waiting, so that the child never blocks on a
    // full pipe.
    let mut err = Vec::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_end(&mut err);
    }
    let status = child
        .wait()
        .map_err(|e| not_loaded(&format!("cannot wait for {}: {e}", add.display())))?;
    if status.success() {
        return Ok(());
    }
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        // ^C at its prompt ended it: end as it did, as a shell expects of
        // an interrupted program (the terminal reaches the child's group,
        // not always this process).
        super::tty::end_by(signal);
    }
    let err = String::from_utf8_lossy(&err);
    let line = err
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("oidc-add failed");
    let line = line.strip_prefix("oidc-add: ").unwrap_or(line);
    let kind = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .and_then(ErrorKind::from_exit_code)
        .unwrap_or(ErrorKind::Failure);
    if kind == ErrorKind::NotLoaded {
        return Err(not_loaded(
            line.split_once(NO_AUTOLOAD).map_or(line, |(_, why)| why),
        ));
    }
    Err(Error::Agent {
        kind,
        message: line.to_owned(),
    })
}

/// True when `err` is the agent saying the account is not loaded.
pub fn is_not_loaded(err: &Error) -> bool {
    err.kind() == ErrorKind::NotLoaded
}
