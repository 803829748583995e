//! The paste path of the code flow: `--no-webserver` keeps the attempt in
//! `.NAME.pending` (0600, written atomically, deleted once used or given
//! up) so that `--codeExchange URL` can finish it in a later run: that file
//! holds the PKCE verifier and, for a new account, the client secret, which
//! is why it never outlives its use. A later login of the same name replaces
//! it, `oidc-gen -d NAME` drops it, and a denied one ends it; each time the
//! client registered for it is deleted (RFC 7592 §2.3). `--codeExchange`
//! also finishes a login whose `oidc-gen` still waits on its loopback
//! listener (the browser could not reach it, over SSH say): it hands the
//! address to that listener, as the browser would have.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::args::{Args, Flow};
use super::code::{announce, authorize, exchange};
use super::complete::complete;
use super::session::Session;
use crate::account::config::AccountConfig;
use crate::account::store::Store;
use crate::error::Error;
use crate::loopback::{self, LoopbackError};
use crate::oidc::authcode::PendingAuthorization;
use crate::oidc::token::TokenSet;

/// Version of the `.NAME.pending` file layout.
const PENDING_VERSION: u32 = 1;

/// An attempt kept between `--no-webserver` and `--codeExchange`.
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    version: u32,
    /// The account draft (for `--reauthenticate`, reread from the file).
    config: AccountConfig,
    authorization: PendingAuthorization,
    reauthenticate: bool,
}

/// A `.NAME.pending` file's contents, if they are a pending login of this
/// version.
fn parse_pending(bytes: &[u8]) -> Option<PendingLogin> {
    serde_json::from_slice(bytes)
        .ok()
        .filter(|l: &PendingLogin| l.version == PENDING_VERSION)
}

/// The pending login in the file at `path`, if there is one of this version.
fn read_pending(path: &std::path::Path) -> Option<PendingLogin> {
    let bytes = Zeroizing::new(std::fs::read(path).ok()?);
    parse_pending(&bytes)
}

fn pending_path(store: &Store, name: &str) -> PathBuf {
    store.dir().join(format!(".{name}.pending"))
}

/// `--no-webserver`: print the URL, keep the attempt, and read the
/// redirected URL from a terminal; without one, leave it to `--codeExchange`.
pub(super) fn run_pasted(
    session: &Session<'_>,
    store: &Store,
    config: &AccountConfig,
) -> anyhow::Result<Option<TokenSet>> {
    let args = session.args;
    let candidates = super::code::redirect_candidates(config);
    let redirect_uri = candidates[0].as_str();
    let pending = authorize(session, config, redirect_uri)?;
    let mut draft = config.clone();
    // The old refresh token is replaced anyway; keep it out of the file.
    draft.refresh_token = Default::default();
    let login = PendingLogin {
        version: PENDING_VERSION,
        config: draft,
        authorization: pending,
        reauthenticate: args.reauthenticate,
    };
    // The client (one registered by this run) is the pending login's now.
    drop(session.disarm());
    let path = pending_path(store, &config.name);
    store.ensure_dir()?;
    let json = crate::secret::json_zeroizing(&login, 0);
    crate::account::store::write_atomic(&path, &json)?;
    let pending = &login.authorization;
    announce(args, pending.url(), None);
    eprintln!(
        "After the login, the browser is sent to an address starting with {redirect_uri}; \
         the page may fail to load, which is fine."
    );
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "Copy that address from the browser's address bar and run:\n  oidc-gen {} --codeExchange '<ADDRESS>'{}",
            config.name,
            password_flags(&args.password)
        );
        return Ok(None);
    }
    eprintln!("Paste that address here and press Enter:");
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the pasted address from stdin")?;
    let code =
        loopback::parse_redirect_url(&line, pending.state().expose()).map_err(Error::from)?;
    remove_pending(&path);
    exchange(session, config, pending, &code).map(Some)
}

/// The password options of this run, for the `--codeExchange` line to
/// repeat (a command is left out: it is the user's to quote).
fn password_flags(pw: &crate::cli::PasswordArgs) -> String {
    let mut out = String::new();
    match &pw.pw_env {
        Some(var) if var == crate::paths::ENV_PASSWORD => out.push_str(" --pw-env"),
        Some(var) => out.push_str(&format!(" --pw-env={var}")),
        None => {}
    }
    if let Some(file) = &pw.pw_file {
        out.push_str(&format!(" --pw-file '{}'", file.display()));
    }
    if pw.pw_keyring {
        out.push_str(" --pw-keyring");
    }
    out
}

/// `--codeExchange URL`: finishes the attempt a `--no-webserver` run saved.
pub(super) fn finish_pasted(
    args: &Args,
    store: &Store,
    name: &str,
    url: &str,
) -> anyhow::Result<()> {
    let path = pending_path(store, name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(other) = pending_of(store, url) {
                bail!(
                    "this address belongs to the pending login of '{other}', not of '{name}'; \
                     finish it with `oidc-gen {other} --codeExchange URL` (or without a name)"
                );
            }
            if hand_to_listener(url)? {
                return Ok(());
            }
            bail!(
                "no pending login for account '{name}', and no oidc-gen waits at the address's \
                 port; start the login again (`oidc-gen {name} --flow code --no-webserver \
                 --issuer URL ...` keeps it for --codeExchange)"
            )
        }
        Err(e) => return Err(crate::Error::io("read", &path, e).into()),
    };
    let login = parse_pending(&bytes).with_context(|| {
        format!(
            "{} is not a pending login of this version; delete it and start the login again",
            path.display()
        )
    })?;
    // A wrong URL keeps the file, so the right one can still be pasted; the
    // provider's refusal ends the attempt.
    let code = match loopback::parse_redirect_url(url, login.authorization.state().expose()) {
        Ok(code) => code,
        Err(e) if answered(&e) => {
            give_up(args, &path, &login, "ended by the provider's answer");
            return Err(Error::from(e).into());
        }
        Err(e) => return Err(Error::from(e).into()),
    };
    // The attempt was a re-authentication: so is its end (the file is
    // replaced, the client kept), whether or not this run says so.
    let again;
    let args = if login.reauthenticate && !args.reauthenticate {
        again = Args {
            reauthenticate: true,
            ..args.clone()
        };
        &again
    } else {
        args
    };
    // The password before the code is spent: without one the login would
    // be lost (and the file kept, so a second try with a source works).
    let (config, password) = if login.reauthenticate {
        let (config, pw) = super::session::open_existing(args, store, name)?;
        (config, Some(pw))
    } else if args.no_save || args.only_at {
        (login.config, None)
    } else {
        (
            login.config,
            Some(super::complete::new_password(args, name)?),
        )
    };
    // The code is single-use: whatever the exchange says, the attempt is spent.
    remove_pending(&path);
    let session = Session::open(args, &config)?;
    let tokens = exchange(&session, &config, &login.authorization, &code)?;
    complete(&session, store, config, password, tokens, Flow::Code)
}

/// The account whose pending login `url` (the redirected address) belongs
/// to, found by its `state`: oidc-agent's `oidc-gen --codeExchange URL`
/// needs no account name either.
pub(super) fn pending_account(store: &Store, url: &str) -> anyhow::Result<Option<String>> {
    // Not an address at all: said as such, not as a state that matched none.
    url::Url::parse(url.trim())
        .map_err(|cause| Error::from(LoopbackError::InvalidPastedUrl { cause }))?;
    if let Some(name) = pending_of(store, url) {
        return Ok(Some(name));
    }
    if hand_to_listener(url)? {
        return Ok(None);
    }
    bail!(
        "no pending login in {} matches this address (its state), and no oidc-gen waits at its \
         port; give the account name (`oidc-gen NAME --codeExchange URL`), or start the login \
         again (`oidc-gen NAME --flow code --no-webserver --issuer URL ...` keeps it for \
         --codeExchange)",
        store.dir().display()
    )
}

/// The account whose pending login's `state` the address `url` carries.
fn pending_of(store: &Store, url: &str) -> Option<String> {
    let entries = std::fs::read_dir(store.dir()).ok().into_iter().flatten();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix('.')?.strip_suffix(".pending"))
        else {
            continue;
        };
        let Some(login) = read_pending(&entry.path()) else {
            continue;
        };
        // The state matches also in the provider's refusal.
        match loopback::parse_redirect_url(url, login.authorization.state().expose()) {
            Ok(_) => return Some(name.to_owned()),
            Err(e) if answered(&e) => return Some(name.to_owned()),
            Err(_) => {}
        }
    }
    None
}

/// Whether `e` is the provider's own answer to the attempt (its state
/// matched): a refusal, or a redirect without a code. That attempt is over.
fn answered(e: &LoopbackError) -> bool {
    matches!(
        e,
        LoopbackError::ProviderDenied { .. } | LoopbackError::MissingCode
    )
}

/// Ends the pending login at `path` (`why` says how): the file goes, and
/// so does the client registered for it, if any.
fn give_up(args: &Args, path: &std::path::Path, login: &PendingLogin, why: &str) {
    remove_pending(path);
    if login.reauthenticate || super::registration::registered(&login.config).is_none() {
        return;
    }
    match Session::open(args, &login.config) {
        Ok(session) => super::registration::unregister_for(&session, &login.config, why),
        Err(e) => eprintln!(
            "oidc-gen: note: could not delete the client '{}' registered for the pending login \
             ({e:#}); delete it at the provider",
            login.config.client_id
        ),
    }
}

/// Drops the pending login of `name`, if there is one (`why` says why):
/// before a new login of that name, and for `oidc-gen -d NAME`. Returns
/// whether there was one.
pub(super) fn drop_pending(session: &Session<'_>, store: &Store, name: &str, why: &str) -> bool {
    let path = pending_path(store, name);
    let Some(login) = read_pending(&path) else {
        return false;
    };
    remove_pending(&path);
    // Said, so that a paste of its address in another terminal is understood.
    eprintln!("oidc-gen: note: the pending login of '{name}' is dropped ({why})");
    if !login.reauthenticate {
        super::registration::unregister_for(session, &login.config, why);
    }
    true
}

/// `oidc-gen -d NAME` where NAME has no account but a pending login: it is
/// dropped. Returns whether there was one.
pub(super) fn forget(args: &Args, store: &Store, name: &str) -> anyhow::Result<bool> {
    let path = pending_path(store, name);
    let Some(login) = read_pending(&path) else {
        return Ok(false);
    };
    give_up(args, &path, &login, "dropped with oidc-gen -d");
    eprintln!("Dropped the pending login of '{name}'.");
    Ok(true)
}

/// Hands a redirected address to the oidc-gen waiting on its loopback
/// listener, as the browser would have (it could not reach it: over SSH,
/// say): a GET of that very address, on this machine. Returns whether one
/// took it; false when nothing listens there or it is no loopback address.
fn hand_to_listener(url: &str) -> anyhow::Result<bool> {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return Ok(false);
    };
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if parsed.scheme() != "http" || !loopback || parsed.port().is_none() {
        return Ok(false);
    }
    // Only a listener of this user's (another user's would get the code),
    // and only an oidc-gen's: what else listens there (a dev server on
    // 8080) would answer 200 and keep nothing.
    let ours = rustix::process::getuid().as_raw();
    let listens = |addr| crate::loopback::listener_uid(addr) == Some(ours);
    let addrs = parsed.socket_addrs(|| None).unwrap_or_default();
    if !addrs.into_iter().any(listens) {
        return Ok(false);
    }
    // Not the provider's client (`oidc::http`): a request to this machine
    // takes no proxy and no CA bundle, and no session (with its runtime)
    // exists before the pending login is found.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .context("cannot set up the local HTTP client")?;
    let rt = super::runtime::Runtime::start().context("cannot start the async runtime")?;
    let answer = rt.block_on(async {
        let answer = client.get(parsed.as_str()).send().await.ok()?;
        let status = answer.status();
        let page = crate::oidc::http::body(answer).await.ok()?;
        Some((status, page))
    });
    let Some((status, page)) = answer else {
        return Ok(false);
    };
    if status.is_success() {
        let taken = String::from_utf8_lossy(&page).contains(crate::loopback::TAKEN);
        if !taken {
            return Ok(false);
        }
        eprintln!(
            "Handed the address to the oidc-gen waiting on port {}; it finishes the login there.",
            parsed.port().unwrap_or_default()
        );
        return Ok(true);
    }
    bail!(
        "the oidc-gen waiting on port {} did not take this address (HTTP {status}): it is \
         another login's, or not the last one's; copy the address the browser shows now",
        parsed.port().unwrap_or_default()
    )
}

fn remove_pending(path: &std::path::Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        eprintln!(
            "oidc-gen: warning: could not delete {}: {e}; delete it by hand",
            path.display()
        );
    }
}
