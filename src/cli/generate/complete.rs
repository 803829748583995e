//! The end of every way of getting tokens: `--only-at` prints the access
//! token and saves nothing; otherwise the refresh token goes into the
//! account, which `finish` saves and loads into the agent (or, should the
//! save fail, hands to the agent to write later, so that the token is not
//! lost).

use anyhow::bail;

use super::args::{Args, Flow};
use super::session::Session;
use super::undo;
use crate::account::config::AccountConfig;
use crate::account::store::Store;
use crate::account::{self, kdf_params};
use crate::client::AgentClient;
use crate::error::Error;
use crate::oidc::token::TokenSet;
use crate::secret::SecretString;

/// The rest after a flow returned tokens: `--only-at` prints the access
/// token; otherwise the refresh token goes into the account, which is saved
/// and loaded.
pub(super) fn complete(
    session: &Session<'_>,
    store: &Store,
    mut config: AccountConfig,
    password: Option<SecretString>,
    tokens: TokenSet,
    flow: Flow,
) -> anyhow::Result<()> {
    let args = session.args;
    let unusable = tokens.unusable(&config.issuer_url);
    if args.only_at {
        if let Some(e) = unusable {
            return Err(Error::from(e).into());
        }
        drop(session.disarm());
        crate::cli::write_stdout(&zeroize::Zeroizing::new(format!(
            "{}\n",
            tokens.access_token.expose()
        )))?;
        // Nothing is saved, so a client registered for this run is useless.
        super::registration::unregister(session, &config);
        return Ok(());
    }
    // The refresh token is what is kept: saved with it, the account gets
    // its next access token from the agent.
    if let Some(e) = &unusable {
        eprintln!("oidc-gen: warning: {e}; the account is saved with its new refresh token");
    }
    // An imported token is the person's own, from a login that may live on
    // elsewhere: only a login this run made is undone.
    if flow != Flow::Refresh {
        undo::arm_revocation(session, &config, &tokens)?;
    }
    match tokens.refresh_token.clone().filter(|t| !t.is_empty()) {
        Some(rt) => config.refresh_token = rt,
        // An imported token that was not rotated stays valid.
        None if flow == Flow::Refresh => {}
        None => bail!(
            "the provider issued no refresh token for '{}'; request the offline_access scope \
             (--scope \"openid offline_access\") or enable refresh tokens for the client",
            config.name
        ),
    }
    let password = match password {
        None if !args.no_save => Some(
            session
                .interrupt()?
                .during("asking for the new account's password", || {
                    new_password(args, &config.name)
                })?,
        ),
        given => given,
    };
    // From here the login is the account's: saved, or kept by the agent
    // until it can be ([`not_saved`]). Kept by neither, it is undone after
    // all (the session's end runs what is armed).
    let undo = session.disarm();
    let saved = session.critical("saving the account", || {
        finish(args, store, config, password, &tokens)
    });
    if saved
        .as_ref()
        .is_err_and(|e| e.downcast_ref::<NotKept>().is_some())
    {
        session.arm(undo)?;
    }
    saved
}

/// The error of a save that left the new login nowhere: not in the file,
/// not in the agent.
#[derive(Debug)]
struct NotKept(String);

impl std::fmt::Display for NotKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The password of new account `name`, from its source or asked twice.
pub(super) fn new_password(args: &Args, name: &str) -> crate::Result<SecretString> {
    args.password.get(
        &format!("Enter a password to encrypt account '{name}': "),
        true,
    )
}

/// Saves the account (unless --no-save), records it in issuer.config and
/// loads it into the agent when one is running.
fn finish(
    args: &Args,
    store: &Store,
    config: AccountConfig,
    password: Option<SecretString>,
    tokens: &crate::oidc::token::TokenSet,
) -> anyhow::Result<()> {
    let name = config.name.clone();
    let opened = if args.no_save {
        without_file(store, config)
    } else {
        let password = match password {
            Some(p) => p,
            None => new_password(args, &name)?,
        };
        crate::cli::warn_if_empty_password("oidc-gen", &name, &password);
        let existing = if args.reauthenticate {
            account::Existing::Replace
        } else {
            account::Existing::Refuse
        };
        // A new login of an account keeps its file's data key: an agent
        // holding the account, in a shell this one cannot reach, then reads
        // the new login there and takes it (`agent::follow::follow_file`).
        let sealed = account::seal(store, &config, &password, kdf_params(), args.reauthenticate)?;
        let path = match account::write_sealed(store, &name, &sealed, existing) {
            Ok(path) => path,
            Err(e) => return Err(not_saved(args, store, config, tokens, sealed, e)),
        };
        let key = sealed.key;
        crate::cli::remember_password(&args.password, &path, &name, &password);
        if let Err(e) =
            crate::account::issuers::record_default(store.dir(), &config.issuer_url, &name)
        {
            eprintln!("oidc-gen: warning: could not update issuer.config: {e}");
        }
        eprintln!("Saved account '{name}' to {}", path.display());
        account::Opened {
            config,
            key: Some(key),
            path,
            format: account::Format::Ours,
        }
    };
    // `--no-save`: the agent is the only place the login goes.
    let nowhere = |e: crate::Error| {
        anyhow::Error::from(e).context(NotKept(format!(
            "account '{name}' (--no-save) could not be loaded into the agent"
        )))
    };
    match AgentClient::from_env() {
        Ok(client) => match client.load(opened, fresh_load(tokens)).map(drop) {
            Ok(()) => {
                eprintln!(
                    "Account '{name}' loaded into the agent; get a token with `oidc-token {name}`"
                )
            }
            Err(e @ crate::Error::AgentUnreachable { .. }) if !args.no_save => {
                eprintln!("oidc-gen: note: {e}; load the account later with `oidc-add {name}`");
            }
            Err(e) if args.no_save => return Err(nowhere(e)),
            Err(e) => return Err(e.into()),
        },
        Err(_) if !args.no_save => {
            eprintln!("No agent running; load the account later with `oidc-add {name}`");
        }
        Err(e) => return Err(nowhere(e)),
    }
    Ok(())
}

/// The new account's file could not be written after its refresh token was
/// obtained (the directory filled up or went read-only since oidc-gen
/// checked it): the token is not dropped with this process but loaded into
/// the agent with the sealed file, which the agent writes once it can (as
/// it writes an unsaved rotation: on a timer, on each request, before an
/// unload, which it refuses until then, and at shutdown); the error says
/// so. A re-authentication leaves the old file and the agent as they are.
fn not_saved(
    args: &Args,
    store: &Store,
    config: AccountConfig,
    tokens: &crate::oidc::token::TokenSet,
    sealed: account::Sealed,
    e: Error,
) -> anyhow::Error {
    let name = config.name.clone();
    if args.reauthenticate {
        return anyhow::Error::from(e).context(NotKept(format!(
            "the new login of '{name}' was not saved; its file keeps the previous refresh token"
        )));
    }
    // A file of that name now: another oidc-gen saved its login first, and
    // the agent holds that one; this login is not put in its place.
    if store.path(&name).is_ok_and(|p| p.exists()) {
        return anyhow::Error::from(e).context(NotKept(format!(
            "account '{name}' could not be saved: the account saved meanwhile stays (use it, \
             or log in again under another name)"
        )));
    }
    let why = e.to_string();
    let opened = account::Opened {
        key: Some(sealed.key),
        ..without_file(store, config)
    };
    let kept = AgentClient::from_env().and_then(|client| {
        let load = crate::client::Load {
            unwritten: Some((&sealed.bytes, &why)),
            ..fresh_load(tokens)
        };
        client.load(opened, load)
    });
    if kept.is_ok() {
        return anyhow::Error::from(e).context(format!(
            "account '{name}' could not be saved: it is loaded in the agent, which writes the \
             file as soon as it can: free space or make the directory writable (`oidc-add -r` \
             refuses to unload it until then)"
        ));
    }
    anyhow::Error::from(e).context(NotKept(format!(
        "account '{name}' could not be saved: no agent holds it either; free space or make the \
         directory writable, then log in again"
    )))
}

/// The new account as the agent gets it without a file (`--no-save`), and
/// the shape of one whose file could not be written.
fn without_file(store: &Store, config: AccountConfig) -> account::Opened {
    account::Opened {
        path: store.dir().join(&config.name),
        config,
        key: None,
        format: account::Format::Ours,
    }
}

/// How a new account is loaded: with the access token just obtained (one
/// that cannot be used aside: the agent gets a new one), and no check
/// refresh (every refresh spent is a rotation a crash could lose).
fn fresh_load(tokens: &TokenSet) -> crate::client::Load<'_> {
    crate::client::Load {
        skip_check: true,
        fresh: tokens.access_token_usable().then_some(tokens),
        ..Default::default()
    }
}
