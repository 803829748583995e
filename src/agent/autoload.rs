//! Autoload for clients that cannot load an account themselves: oidc-agent's
//! own `oidc-token` and the C, Python and Go liboidc-agent libraries ask by
//! name or issuer and know nothing of keyrings or prompts.
//!
//! When a token request names a configured account that is not loaded, the
//! agent starts `oidc-add --pw-keyring NAME` (the one beside its own binary)
//! on the agent's socket, with no terminal and no standard input, and marked
//! by [`ENV`] so that it never prompts: the account is loaded only when
//! `oidc-gen --pw-keyring` stored its password in the OS keyring. The agent
//! itself never prompts and never runs Argon2 (that happens in `oidc-add`),
//! and one autoload at a time runs. Our own `oidc-token` and
//! `git-credential-oidc` load an account configured on their side themselves
//! (keyring, then their terminal) and send `no_autoload`, so the keyring is
//! asked once; the agent autoloads for them only what only it can see (a
//! forwarded agent). `oidc-agent --no-autoload` and `oidc-token
//! --no-autoload` turn it off.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::ctx::Ctx;
use super::log::log;
use crate::protocol::TokenRequest;

/// Set in the environment of the `oidc-add` the agent starts: never prompt.
pub const ENV: &str = "OIDC_AGENT_RS_AUTOLOAD";
/// How long that `oidc-add` may take (a keyring on D-Bus, one Argon2).
const TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds an account whose autoload failed is not tried again: a client
/// asking in a loop (no password in the keyring) would start an `oidc-add`
/// and log a line for every request.
const RETRY_AFTER: i64 = 10;

/// The configured account a token request would autoload, if any.
pub(super) fn candidate(ctx: &Ctx, t: &TokenRequest) -> Option<String> {
    if !ctx.autoload || t.no_autoload {
        return None;
    }
    let name = match (&t.account, &t.issuer) {
        (Some(name), _) => name.clone(),
        (None, Some(issuer)) => crate::account::issuers::default_account(ctx.store.dir(), issuer)?,
        (None, None) => return None,
    };
    ctx.store.path(&name).ok().filter(|p| p.is_file())?;
    Some(name)
}

/// Tries to load `name` with the password from the keyring; the caller
/// looks again to see whether it is loaded.
pub(super) async fn load(ctx: &Ctx, name: &str) {
    let mut failed = ctx.autoloading.lock().await;
    let now = ctx.clock.now();
    if ctx.state().is_live(name, now) {
        return; // an autoload just before ours did it
    }
    if failed.get(name).is_some_and(|at| now - at < RETRY_AFTER) {
        return;
    }
    let Some(socket) = ctx.socket.get().cloned() else {
        return;
    };
    let Some(add) = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("oidc-add"))
        .filter(|p| p.is_file())
    else {
        return;
    };
    let owned = name.to_owned();
    let result = tokio::task::spawn_blocking(move || run(&add, &socket, &owned))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match result {
        Ok(()) => {
            failed.remove(name);
            log!("'{name}': autoloaded with the password from the keyring");
        }
        Err(e) => {
            failed.insert(name.to_owned(), ctx.clock.now());
            log!("'{name}': not autoloaded (not tried again for {RETRY_AFTER} s): {e}");
        }
    }
}

/// Runs `oidc-add --pw-keyring NAME` against `socket` within [`TIMEOUT`].
fn run(add: &Path, socket: &Path, name: &str) -> Result<(), String> {
    let mut command = Command::new(add);
    // Secrets the agent was started with in its environment (a shell's
    // exported password) are not handed on: this load uses the keyring.
    for var in crate::paths::SECRET_ENV {
        command.env_remove(var);
    }
    let mut child = command
        .args(["--pw-keyring", name])
        .env("OIDC_SOCK", socket)
        .env(ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", add.display()))?;
    let exited = crate::process::wait_child(&child, TIMEOUT)
        .map_err(|e| format!("cannot wait for oidc-add: {e}"))?;
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("oidc-add took longer than {}s", TIMEOUT.as_secs()));
    }
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for oidc-add: {e}"))?;
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(e) = child.stderr.take() {
        let _ = e.take(4096).read_to_string(&mut err);
    }
    Err(err.lines().next().unwrap_or("oidc-add failed").to_owned())
}
