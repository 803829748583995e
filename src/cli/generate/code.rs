//! The authorization-code flow on the command line: the redirect URI, the
//! loopback listener or the paste path, the browser, and the code exchange.
//!
//! The authorization URL always goes to stderr on a line of its own, so a
//! script (or a test) can pick it up; stdout stays clean. With
//! `--no-webserver` the attempt is kept in `.NAME.pending` (0600, written
//! atomically, deleted once used) so that `--codeExchange URL` can finish
//! it in a later run: that file holds the PKCE verifier and, for a new
//! account, the client secret, which is why it never outlives its use.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use super::complete::complete;
use super::{Args, Flow, Session, auth_scopes};
use crate::account::config::{AccountConfig, same_issuer, split_list};
use crate::account::store::Store;
use crate::error::Error;
use crate::loopback::{self, AuthCode, LoopbackError, LoopbackListener};
use crate::oidc::OidcError;
use crate::oidc::authcode::{self, AudienceMode, AuthUrlParams, PendingAuthorization};
use crate::oidc::token::{self, TokenSet};

/// The redirect URI when neither the account nor the command line names one:
/// 127.0.0.1 with an ephemeral port (RFC 8252 §7.3, §8.3).
const DEFAULT_REDIRECT: &str = "http://127.0.0.1";

/// Version of the `.NAME.pending` file layout.
const PENDING_VERSION: u32 = 1;

/// `--redirect-uri` values, then `http://localhost:PORT` for each `--port`.
pub(super) fn explicit_redirect_uris(args: &Args) -> Vec<String> {
    let mut uris = args.redirect_uri.clone();
    uris.extend(args.port.iter().map(|p| format!("http://localhost:{p}")));
    uris
}

/// Runs the code flow for `config`. `None` means the attempt was saved for
/// a later `--codeExchange` (`--no-webserver` without a terminal).
pub(super) fn run(
    session: &Session<'_>,
    store: &Store,
    config: &AccountConfig,
) -> anyhow::Result<Option<TokenSet>> {
    let args = session.args;
    let candidates = if config.redirect_uris.is_empty() {
        vec![DEFAULT_REDIRECT.to_owned()]
    } else {
        config.redirect_uris.clone()
    };
    if args.no_webserver {
        return run_pasted(session, store, config, &candidates[0]);
    }
    let listener = bind_first(&candidates).map_err(Error::from)?;
    let pending = authorize(session, config, listener.redirect_uri())?;
    let timeout = std::time::Duration::from_secs(args.timeout);
    // The Ctrl-C handler is in place before the URL is shown.
    let code = session
        .waiting("waiting for the browser login", || {
            announce(args, pending.url(), Some(listener.local_addr().port()));
            listener.wait_for_code(pending.state().expose(), timeout)
        })?
        .map_err(Error::from)?;
    eprintln!("Received the authorization code; exchanging it for tokens...");
    // The listener stays up during the exchange so that a reload of the tab
    // shows "Login already completed" rather than a connection error.
    let tokens = exchange(session, config, &pending, &code);
    drop(listener);
    tokens.map(Some)
}

/// True when a browser can be opened here: a graphical session, or macOS.
pub(super) fn browser_available() -> bool {
    let set = |var| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    cfg!(target_os = "macos") || set("DISPLAY") || set("WAYLAND_DISPLAY")
}

/// How long a launcher (`xdg-open`, `gio open`, …) may take to fail before
/// the browser counts as opened and the next launcher is not tried.
const LAUNCHER_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Opens `url` with the desktop's launchers as the `open` crate lists them,
/// the first that works, but without the secrets oidc-gen may have been
/// given in its environment (the `open` crate has no way to leave them out,
/// and a browser keeps its environment for as long as it runs) and in a
/// process group of its own, so a Ctrl-C at oidc-gen's prompt does not
/// reach the browser it started.
fn open_browser(url: &str) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt as _;
    use std::process::Stdio;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no launcher found");
    for mut command in open::commands(url) {
        for var in crate::paths::SECRET_ENV {
            command.env_remove(var);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                last = e;
                continue;
            }
        };
        if !crate::process::wait_child(&child, LAUNCHER_CHECK)? {
            // Still running (xdg-open may wait for the browser): handed off.
            // A thread reaps it if it ends while oidc-gen still runs.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        let status = child.wait()?;
        if status.success() {
            return Ok(());
        }
        last = std::io::Error::other(format!("{:?} failed ({status})", command.get_program()));
    }
    Err(last)
}

/// Binds the first candidate that can be bound; on failure, the first
/// candidate's error, which names the port and the remedy, or, when each
/// of several was a port in use, one error naming them all.
fn bind_first(candidates: &[String]) -> Result<LoopbackListener, LoopbackError> {
    let mut errors = Vec::new();
    for uri in candidates {
        match LoopbackListener::bind(uri, None) {
            Ok(listener) => return Ok(listener),
            Err(e) => errors.push(e),
        }
    }
    let busy: Vec<u16> = errors
        .iter()
        .filter_map(|e| match e {
            LoopbackError::PortInUse { port, .. } => Some(*port),
            _ => None,
        })
        .collect();
    if errors.len() > 1 && busy.len() == errors.len() {
        return Err(LoopbackError::AllPortsInUse { ports: busy });
    }
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => LoopbackListener::bind(DEFAULT_REDIRECT, None),
    }
}

/// A fresh authorization attempt (new state, nonce and verifier) for
/// `redirect_uri`.
fn authorize(
    session: &Session<'_>,
    config: &AccountConfig,
    redirect_uri: &str,
) -> anyhow::Result<PendingAuthorization> {
    let meta = &session.meta;
    let endpoint = meta
        .authorization_endpoint
        .as_deref()
        .ok_or_else(|| OidcError::MissingEndpoint {
            issuer: config.issuer_url.clone(),
            what: "authorization endpoint (code flow)",
            remedy: "use --flow device, or import a refresh token with --rt".into(),
        })
        .map_err(Error::from)?;
    let endpoint = Url::parse(endpoint).map_err(|e| {
        Error::from(OidcError::BadResponse {
            url: config.issuer_url.clone(),
            detail: format!("the authorization_endpoint {endpoint:?} is not a URL ({e})"),
        })
    })?;
    let scopes = auth_scopes(config);
    let audiences = split_list(&config.audience);
    let methods = Some(meta.code_challenge_methods_supported.as_slice());
    Ok(authcode::authorization_url(&AuthUrlParams {
        authorization_endpoint: &endpoint,
        client_id: &config.client_id,
        redirect_uri,
        scopes: &scopes,
        audiences: &audiences,
        // The same `audience` parameter the refresh requests send.
        audience_mode: AudienceMode::Legacy,
        only_access_token: session.args.only_at,
        code_challenge_methods_supported: methods,
    })
    .map_err(Error::from)?)
}

/// Prints the URL (always, on its own line), an SSH hint when the browser
/// is elsewhere, and opens the browser when one is available.
fn announce(args: &Args, url: &Url, port: Option<u16>) {
    eprintln!("To log in, open this URL in a browser:");
    eprintln!("{url}");
    let ssh = std::env::var_os("SSH_CONNECTION").is_some_and(|v| !v.is_empty())
        && std::env::var_os("DISPLAY").is_none_or(|v| v.is_empty());
    if ssh && let Some(port) = port {
        eprintln!(
            "You are logged in over SSH: the browser must reach port {port} of this machine. \
             On the computer with the browser, run `ssh -L {port}:127.0.0.1:{port} {}` first, \
             or use `--flow device` instead.",
            super::registration::hostname()
        );
    }
    if !args.no_url_call
        && browser_available()
        && let Err(e) = open_browser(url.as_str())
    {
        eprintln!("oidc-gen: note: could not open a browser ({e}); open the URL above by hand");
    }
    if port.is_some() {
        eprintln!(
            "Waiting up to {} s for the login to finish (Ctrl-C to abort)...",
            args.timeout
        );
    }
}

/// Exchanges the code, after checking the RFC 9207 `iss` parameter.
fn exchange(
    session: &Session<'_>,
    config: &AccountConfig,
    pending: &PendingAuthorization,
    code: &AuthCode,
) -> anyhow::Result<TokenSet> {
    if let Some(iss) = code.issuer()
        && !same_issuer(iss, &config.issuer_url)
    {
        // RFC 9207 §2.4: a response from another issuer is a mix-up attack.
        return Err(Error::from(OidcError::BadResponse {
            url: config.issuer_url.clone(),
            detail: format!(
                "the authorization response names the issuer {:?} (RFC 9207); start the login again \
                 from the URL oidc-gen prints",
                crate::oidc::printable(iss)
            ),
        })
        .into());
    }
    Ok(session.await_answer(authcode::exchange_code(
        session.token_endpoint(config),
        pending,
        code.code(),
        token::unix_now(),
    ))?)
}

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

fn pending_path(store: &Store, name: &str) -> PathBuf {
    store.dir().join(format!(".{name}.pending"))
}

/// `--no-webserver`: print the URL, keep the attempt, and read the
/// redirected URL from a terminal; without one, leave it to `--codeExchange`.
fn run_pasted(
    session: &Session<'_>,
    store: &Store,
    config: &AccountConfig,
    redirect_uri: &str,
) -> anyhow::Result<Option<TokenSet>> {
    let args = session.args;
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no pending login for account '{name}'; start one with \
             `oidc-gen {name} --flow code --no-webserver --issuer URL ...`"
        ),
        Err(e) => return Err(crate::Error::io("read", &path, e).into()),
    };
    let login = parse_pending(&bytes).with_context(|| {
        format!(
            "{} is not a pending login of this version; delete it and start the login again",
            path.display()
        )
    })?;
    // A wrong URL keeps the file, so the right one can still be pasted.
    let code = loopback::parse_redirect_url(url, login.authorization.state().expose())
        .map_err(Error::from)?;
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
        let (config, pw) = super::open_existing(args, store, name)?;
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
pub(super) fn pending_account(store: &Store, url: &str) -> anyhow::Result<String> {
    let entries = std::fs::read_dir(store.dir()).ok().into_iter().flatten();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix('.')?.strip_suffix(".pending"))
        else {
            continue;
        };
        let Ok(bytes) = std::fs::read(entry.path()).map(Zeroizing::new) else {
            continue;
        };
        let Some(login) = parse_pending(&bytes) else {
            continue;
        };
        if loopback::parse_redirect_url(url, login.authorization.state().expose()).is_ok() {
            return Ok(name.to_owned());
        }
    }
    bail!(
        "no pending login in {} matches this address (its state); give the account name \
         (`oidc-gen NAME --codeExchange URL`), or start the login with \
         `oidc-gen NAME --flow code --no-webserver --issuer URL ...`",
        store.dir().display()
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn explicit_redirects_then_ports_on_localhost() {
        let args = Args::try_parse_from([
            "oidc-gen",
            "x",
            "--port",
            "4242",
            "--redirect-uri",
            "http://127.0.0.1:8080/cb",
        ])
        .expect("valid command line");
        assert_eq!(
            explicit_redirect_uris(&args),
            vec!["http://127.0.0.1:8080/cb", "http://localhost:4242"]
        );
    }

    #[test]
    fn the_first_bindable_candidate_wins() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("hold");
        let port = held.local_addr().expect("addr").port();
        let busy = format!("http://127.0.0.1:{port}");
        let listener =
            bind_first(&[busy.clone(), DEFAULT_REDIRECT.to_owned()]).expect("fallback binds");
        assert_ne!(listener.local_addr().port(), port);
        let err = bind_first(std::slice::from_ref(&busy)).expect_err("only a busy port");
        assert!(matches!(err, LoopbackError::PortInUse { .. }), "{err:?}");
        // A preregistered client's ports, all busy: named together, and
        // not --port, which a strict provider would refuse.
        let held2 = std::net::TcpListener::bind("127.0.0.1:0").expect("hold");
        let port2 = held2.local_addr().expect("addr").port();
        let err =
            bind_first(&[busy, format!("http://127.0.0.1:{port2}/")]).expect_err("two busy ports");
        let said = err.to_string();
        assert!(
            said.contains(&format!("ports {port} and {port2} (")) && !said.contains("--port"),
            "{said}"
        );
        assert_eq!(err.kind(), crate::error::ErrorKind::Failure);
    }
}
