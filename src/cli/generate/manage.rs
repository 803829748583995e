//! Managing saved accounts: `-d` (revoke, then delete), `--rename`, `-u`.
//!
//! Deleting revokes the refresh token at the provider first (RFC 7009), so
//! a copy of the file left in a backup is worthless; when revocation fails
//! the user decides whether to delete the local file anyway.
//!
//! Each keeps the file and a running agent in step: `-d` unloads the account
//! first (the agent writes any pending rotation) and then revokes the newest
//! refresh token; `--rename` of a loaded account is done by the agent, which
//! holds the newest token; `-u` re-wraps the file's data key, which the agent
//! keeps using. Every file write holds the account directory's lock.

use anyhow::{Context as _, bail};

use super::args::Args;
use super::session::Session;
use crate::account::config::AccountConfig;
use crate::account::store::Store;
use crate::account::{self, kdf_params};
use crate::client::AgentClient;
use crate::oidc::token;
use crate::protocol::Request;
use crate::secret::SecretString;

fn confirm(args: &Args, question: &str) -> anyhow::Result<bool> {
    if args.yes {
        return Ok(true);
    }
    // oidc-agent's --confirm-no, --confirm-default and --prompt=none; the
    // default answer is no.
    if args.no || args.confirm_default || args.prompt == Some(super::args::PromptMode::None) {
        eprintln!("{question} [y/N] n");
        return Ok(false);
    }
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return Err(crate::Error::Usage(format!(
            "{question} — no terminal to confirm; pass -y/--confirm-yes"
        ))
        .into());
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// What revocation achieved.
enum Revoked {
    /// The provider revoked the token at this endpoint.
    At(String),
    /// The provider has no revocation endpoint.
    NoEndpoint,
}

/// Revokes the refresh token of `config` and deletes a dynamically
/// registered client.
fn revoke(args: &Args, config: &AccountConfig) -> anyhow::Result<Revoked> {
    if config.refresh_token.is_empty() {
        return Ok(Revoked::NoEndpoint);
    }
    let session = Session::open(args, config)?;
    let Some(endpoint) = session.meta.revocation_endpoint.clone() else {
        return Ok(Revoked::NoEndpoint);
    };
    let at = token::Endpoint {
        url: &endpoint,
        ..session.token_endpoint(config)
    };
    session.run(token::revoke_refresh_token(at, &config.refresh_token))?;
    super::registration::unregister(&session, config);
    Ok(Revoked::At(endpoint))
}

/// Is account `name` loaded in the agent `OIDC_SOCK` names? `None`: no
/// agent reachable. A locked agent cannot say, and may hold the account
/// sealed: changing its file behind it would have the agent write the
/// account again under its old name at the unlock, so that is an error.
fn loaded_in_agent(name: &str) -> anyhow::Result<Option<(AgentClient, bool)>> {
    let Ok(client) = AgentClient::from_env() else {
        return Ok(None);
    };
    match client.loaded_accounts() {
        Ok(names) => {
            let loaded = names.iter().any(|n| n == name);
            Ok(Some((client, loaded)))
        }
        Err(e) if e.kind() == crate::error::ErrorKind::Locked => Err(crate::Error::Agent {
            kind: crate::error::ErrorKind::Locked,
            message: format!(
                "the agent is locked and may hold '{name}'; unlock it first (`oidc-add -X`), then \
                 try again"
            ),
        }
        .into()),
        Err(_) => Ok(None),
    }
}

/// Why an account in oidc-agent's format that the agent holds is not
/// changed, and what to do (`then`, after unloading it). Held without a
/// file it can write (loaded by oidc-agent's oidc-add without a password),
/// the agent may have the only live refresh token: unloading would lose
/// it, loading it with our oidc-add writes it to the file.
fn legacy_loaded(client: &AgentClient, name: &str, then: &str) -> String {
    let without_file = client
        .status()
        .ok()
        .and_then(|s| Some(s.account(name)?.account_file.is_none()))
        .unwrap_or(false);
    if without_file {
        format!(
            "'{name}' is loaded in the agent without a file it can write (by oidc-agent's \
             oidc-add), and the agent may hold a newer refresh token than the file (unloading it \
             would lose that): run `oidc-add {name}` first, which has the agent write its token to \
             the file, then try again"
        )
    } else {
        format!(
            "'{name}' is loaded in the agent from an oidc-agent file; unload it first \
             (`oidc-add -r {name}`), {then}"
        )
    }
}

pub(super) fn delete(args: &Args, store: &Store, name: &str) -> anyhow::Result<()> {
    let path = store.path(name)?;
    // No account, but a login of that name left pending (`--no-webserver`).
    if !path.exists() && super::pasted::forget(args, store, name)? {
        return Ok(());
    }
    store.read(name)?;
    if !confirm(args, &format!("Delete account '{name}'?"))? {
        bail!("not deleted");
    }
    let (mut opened, password) = crate::cli::open_account(&args.password, store, name)
        .with_context(|| {
            format!(
                "the password is needed to revoke the refresh token of '{name}' (or delete {} by hand)",
                path.display()
            )
        })?;
    // Unload first: the agent writes a rotation it holds, and no refresh can
    // rotate the token between our revocation and the deletion.
    if let Some((client, true)) = loaded_in_agent(name)? {
        client
            .call(&Request::Remove {
                account: name.to_owned(),
            })
            .with_context(|| format!("'{name}' not deleted: the agent could not unload it"))?;
        opened = account::open(store, name, &password)?;
    }
    match revoke(args, &opened.config) {
        Ok(Revoked::At(endpoint)) => eprintln!("Revoked the refresh token at {endpoint}."),
        Ok(Revoked::NoEndpoint) => eprintln!(
            "oidc-gen: note: {} offers no token revocation; the refresh token stays valid until it expires",
            opened.config.issuer_url
        ),
        Err(e) => {
            eprintln!("oidc-gen: warning: could not revoke the refresh token: {e:#}");
            if !confirm(args, "Delete the local account anyway?")? {
                bail!("not deleted; try again when the provider is reachable");
            }
        }
    }
    store.delete(name)?;
    // A login of it left pending (`--no-webserver`) ends with it.
    let _ = super::pasted::forget(args, store, name);
    issuer_config_follows(store, &opened.config.issuer_url, name, None);
    // Said only where the keyring is in use: with a password given by
    // --pw-env/--pw-file/--pw-cmd on a machine without a keyring service
    // (a headless one) the note would be noise.
    let keyring_in_use = args.password.pw_keyring || !args.password.given();
    if let Err(e) = crate::keyring::delete(&path)
        && keyring_in_use
    {
        eprintln!("oidc-gen: note: {e}; a password stored for '{name}' may remain in the keyring");
    }
    eprintln!("Deleted account '{name}'.");
    Ok(())
}

/// issuer.config names `new` (or, deleted, no longer `old`) where it named
/// `old`: `oidc-token ISSUER` would otherwise look for an account that is
/// gone. The account change stands either way; a failure is said.
fn issuer_config_follows(store: &Store, issuer: &str, old: &str, new: Option<&str>) {
    if let Err(e) = crate::account::issuers::account_moved(store.dir(), issuer, old, new) {
        eprintln!("oidc-gen: warning: could not update issuer.config: {e}");
    }
}

/// Password arguments that say "use the keyring" (to move or refresh an entry).
const KEYRING: crate::cli::PasswordArgs = crate::cli::PasswordArgs {
    pw_env: None,
    pw_file: None,
    pw_cmd: None,
    pw_keyring: true,
    no_prompt: false,
};

pub(super) fn rename(args: &Args, store: &Store, name: &str, new: &str) -> anyhow::Result<()> {
    crate::account::store::check_new_name(new)?;
    if store.path(new)?.exists() {
        bail!("account '{new}' already exists");
    }
    // An `oidc-add` loading the account holds this until the agent has it:
    // then the agent renames it below. Taken first, it makes the load wait,
    // which then finds the old name gone.
    let _renaming = store.lock_account(name, || crate::cli::add::waiting_for_another(name))?;
    let agent = loaded_in_agent(name)?;
    if let Some((client, true)) = &agent
        && account::format::is_ours(&store.read(name)?)
    {
        return rename_in_agent(args, client, store, name, new);
    }
    let (opened, password) = crate::cli::open_account(&args.password, store, name)?;
    let new_path = if opened.format == account::Format::OidcAgent {
        // oidc-agent's format: written anew in ours under the new name.
        if let Some((client, true)) = &agent {
            bail!(legacy_loaded(
                client,
                name,
                &format!("rename it, then load it as '{new}'")
            ));
        }
        let mut config = opened.config.clone();
        config.name = new.to_owned();
        let new_path = save_over(store, &config, &password)?;
        store.delete(name)?;
        account::held::moved(&opened.path, &new_path);
        new_path
    } else {
        // Not loaded (a loaded one was left to the agent above).
        account::rename(store, &opened, new)?
    };
    follow_rename(
        store,
        (name, new),
        (&opened.path, &new_path),
        Some(&opened.config.issuer_url),
        Some(&password),
    );
    Ok(())
}

/// A rename done, the keyring entry and issuer.config follow it: a
/// password kept for the old path moves to the new one (`password`, when
/// known, is the one that opened the file: it also mends a stale entry),
/// and issuer.config names the new name for `issuer`.
fn follow_rename(
    store: &Store,
    (name, new): (&str, &str),
    (old_path, new_path): (&std::path::Path, &std::path::Path),
    issuer: Option<&str>,
    password: Option<&SecretString>,
) {
    if let Ok(Some(stored)) = crate::keyring::get(old_path) {
        let _ = crate::keyring::delete(old_path);
        crate::cli::remember_password(&KEYRING, new_path, new, password.unwrap_or(&stored));
    }
    if let Some(issuer) = issuer {
        issuer_config_follows(store, issuer, name, Some(new));
    }
    eprintln!("Renamed account '{name}' to '{new}'.");
}

/// `--rename` of an account loaded from one of our files: the agent holds
/// its data key and moves the file, so no password is asked for; the
/// keyring entry (a password kept for the old path) and issuer.config
/// follow.
fn rename_in_agent(
    args: &Args,
    client: &AgentClient,
    store: &Store,
    name: &str,
    new: &str,
) -> anyhow::Result<()> {
    let (old_path, new_path) = (store.path(name)?, store.path(new)?);
    client
        .call(&Request::Rename {
            account: name.to_owned(),
            new_name: new.to_owned(),
            account_file: new_path.clone(),
        })
        .with_context(|| format!("'{name}' not renamed"))?;
    // Loaded without its file's key (`--no-save`, say): the file is moved
    // here, which takes the password.
    if old_path.exists() && !new_path.exists() {
        let (opened, _) = crate::cli::open_account(&args.password, store, name)?;
        account::rename(store, &opened, new)?;
    }
    let issuer = client
        .status()
        .ok()
        .and_then(|s| Some(s.account(new)?.issuer.clone()));
    follow_rename(
        store,
        (name, new),
        (&old_path, &new_path),
        issuer.as_deref(),
        None,
    );
    Ok(())
}

pub(super) fn update(args: &Args, store: &Store, name: &str) -> anyhow::Result<()> {
    let plain = zeroize::Zeroizing::new(store.read(name)?);
    if account::is_plain_json(&plain) {
        return encrypt_plain(args, store, name, &plain);
    }
    let (opened, password) = crate::cli::open_account(&args.password, store, name)?;
    let legacy = opened.format == account::Format::OidcAgent;
    if legacy && let Some((client, true)) = loaded_in_agent(name)? {
        bail!(legacy_loaded(
            &client,
            name,
            &format!("run `oidc-gen -u {name}`, then `oidc-add {name}`")
        ));
    }
    let new_pw = match std::env::var(crate::paths::ENV_NEW_PASSWORD) {
        Ok(p) => SecretString::new(p),
        Err(_) if args.password.given() => {
            eprintln!(
                "oidc-gen: note: the password of '{name}' stays the same; set {} to change it",
                crate::paths::ENV_NEW_PASSWORD
            );
            password.clone()
        }
        Err(_) => {
            crate::cli::prompt_password(&format!("New password for account '{name}': "), true)?
        }
    };
    crate::cli::warn_if_empty_password("oidc-gen", name, &new_pw);
    let path = if legacy {
        let held = std::fs::read(&opened.path)
            .with_context(|| format!("cannot read {} to back it up", opened.path.display()))?;
        let backup = crate::account::store::backup(&opened.path, &held)?;
        eprintln!("Kept the oidc-agent file as {}", backup.display());
        save_over(store, &opened.config, &new_pw)?
    } else {
        // Same data key, new password: a loaded account keeps saving.
        account::change_password(store, &opened, &new_pw, kdf_params())?
    };
    // Keep a stored password in step with the file.
    if args.password.pw_keyring || crate::keyring::get(&path).is_ok_and(|p| p.is_some()) {
        crate::cli::remember_password(&KEYRING, &path, name, &new_pw);
    }
    // Not "re-encrypted in our format" for a file that was ours already.
    match (legacy, new_pw == password) {
        (true, _) => eprintln!("Account '{name}' converted to the oidc-agent-rs format."),
        (false, false) => eprintln!("Account '{name}' re-encrypted under the new password."),
        (false, true) => eprintln!("Account '{name}' re-encrypted; its password is unchanged."),
    }
    Ok(())
}

/// `oidc-gen -u` of a plain JSON account (written by hand or by another
/// tool): encrypts it in our format in its place, as oidc-agent's `-u`
/// encrypts a plain file. Nothing plain is kept.
fn encrypt_plain(args: &Args, store: &Store, name: &str, plain: &[u8]) -> anyhow::Result<()> {
    let config = account::parse_plain(&store.path(name)?, plain)?;
    let password = match std::env::var(crate::paths::ENV_NEW_PASSWORD) {
        Ok(p) => SecretString::new(p),
        Err(_) => super::complete::new_password(args, name)?,
    };
    crate::cli::warn_if_empty_password("oidc-gen", name, &password);
    let path = save_over(store, &config, &password)?;
    crate::cli::remember_password(&args.password, &path, name, &password);
    eprintln!(
        "Account '{name}' encrypted in the oidc-agent-rs format in {}; copies of the plain file \
         elsewhere still hold its refresh token",
        path.display()
    );
    Ok(())
}

/// Saves `config` in our format with `password` over any file of its name
/// (a conversion, an encryption, the new name of a rename).
fn save_over(
    store: &Store,
    config: &AccountConfig,
    password: &SecretString,
) -> crate::Result<std::path::PathBuf> {
    account::save(
        store,
        config,
        password,
        kdf_params(),
        account::Existing::Replace,
    )
    .map(|(path, _)| path)
}
