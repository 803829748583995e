//! Autoload: `oidc-token` loading a configured but unloaded account itself,
//! through oidc-add's own load path ([`super::add::load`]).
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

use crate::account::store::Store;
use crate::client::AgentClient;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{Request, Response};
use crate::secret::SecretString;

/// The account a token request for `target` (a short name, or an issuer
/// URL with a default account in `issuer.config`) would load, if it is
/// configured here.
pub fn account_for(store: &Store, target: &str) -> Option<String> {
    let name = if target.contains("://") {
        crate::account::issuers::default_account(store.dir(), target)?
    } else {
        target.to_owned()
    };
    store.path(&name).ok().filter(|p| p.is_file())?;
    Some(name)
}

/// True when this process can ask a person: it has a controlling terminal.
pub fn have_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// Asks the agent for `target` with autoload (`enabled`, the default):
/// sends `request(true)` (built to tell the agent not to autoload); if the
/// account is not loaded, loads it when it is configured here (prompting
/// only when `prompt`) and asks again, else asks with `request(false)` so
/// that the agent autoloads what only it can see. Without autoload, sends
/// `request(false)` once.
pub fn call(
    client: &AgentClient,
    target: &str,
    enabled: bool,
    prompt: bool,
    request: impl Fn(bool) -> Request,
) -> Result<Response> {
    if !enabled {
        return client.call(&request(false));
    }
    match client.call(&request(true)) {
        Err(e) if is_not_loaded(&e) => match account_for(&Store::default_dir(), target) {
            Some(name) => {
                load_with(client, &name, e, prompt)?;
                client.call(&request(true))
            }
            None => client.call(&request(false)),
        },
        other => other,
    }
}

/// After the agent answered `not_loaded` for account `name`, configured
/// here: loads it and returns `Ok(())`, so the caller asks again; or returns
/// the agent's error, completed with why no autoload happened. Prompts on
/// the terminal only when `prompt` (false for a kubectl exec plugin run with
/// `interactiveMode: Never`: keyring only).
fn load_with(client: &AgentClient, name: &str, not_loaded: Error, prompt: bool) -> Result<()> {
    let can_ask = || prompt && have_terminal();
    let store = Store::default_dir();
    let path = store.path(name)?;
    let stored = crate::keyring::get(&path).ok().flatten();
    let mut tried_keyring = false;
    let opened = match stored {
        Some(pw) => {
            tried_keyring = true;
            match crate::account::open(&store, name, &pw) {
                Ok(opened) => Some((opened, pw)),
                // A stale keyring entry: ask on the terminal, if any.
                Err(Error::WrongPassword { .. }) if can_ask() => None,
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    let (opened, password): (_, SecretString) = match opened {
        Some(found) => found,
        None if can_ask() => {
            let prompt = if tried_keyring {
                format!("The keyring's password for '{name}' is wrong; password to load it: ")
            } else {
                format!("Account '{name}' is not loaded; password to load it: ")
            };
            let pw = super::prompt_password(&prompt, false)?;
            (crate::account::open(&store, name, &pw)?, pw)
        }
        None => {
            return Err(match not_loaded {
                Error::Agent { kind, message } => Error::Agent {
                    kind,
                    message: format!(
                        "{message}; no autoload: no password for '{name}' in the keyring and no terminal to ask on"
                    ),
                },
                other => other,
            });
        }
    };
    super::add::load(
        client,
        opened,
        crate::client::Load {
            password: Some(&password),
            ..Default::default()
        },
    )
}

/// True when `err` is the agent saying the account is not loaded.
pub fn is_not_loaded(err: &Error) -> bool {
    err.kind() == ErrorKind::NotLoaded
}
