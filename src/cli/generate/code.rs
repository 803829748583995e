//! The authorization-code flow on the command line: the redirect URI, the
//! loopback listener (the paste path is `pasted`), the browser, and the
//! code exchange.
//!
//! The authorization URL always goes to stderr on a line of its own, so a
//! script (or a test) can pick it up; stdout stays clean.

use url::Url;

use super::args::Args;
use super::session::{Session, auth_scopes};
use crate::account::config::{AccountConfig, same_issuer, split_list};
use crate::error::Error;
use crate::loopback::{AuthCode, LoopbackError, LoopbackListener};
use crate::oidc::OidcError;
use crate::oidc::authcode::{self, AudienceMode, AuthUrlParams, PendingAuthorization};
use crate::oidc::token::{self, TokenSet};

/// The redirect URI when neither the account nor the command line names one:
/// 127.0.0.1 with an ephemeral port (RFC 8252 §7.3, §8.3).
const DEFAULT_REDIRECT: &str = "http://127.0.0.1";

/// `--redirect-uri` values, then `http://localhost:PORT` for each `--port`.
pub(super) fn explicit_redirect_uris(args: &Args) -> Vec<String> {
    let mut uris = args.redirect_uri.clone();
    uris.extend(args.port.iter().map(|p| format!("http://localhost:{p}")));
    uris
}

/// Runs the code flow for `config` through the loopback listener.
pub(super) fn run(session: &Session<'_>, config: &AccountConfig) -> anyhow::Result<TokenSet> {
    let args = session.args;
    let candidates = redirect_candidates(config);
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
    tokens
}

/// The redirect URIs to try, in order: the account's, else 127.0.0.1 on
/// any port.
pub(super) fn redirect_candidates(config: &AccountConfig) -> Vec<String> {
    if config.redirect_uris.is_empty() {
        vec![DEFAULT_REDIRECT.to_owned()]
    } else {
        config.redirect_uris.clone()
    }
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
pub(super) fn authorize(
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
pub(super) fn announce(args: &Args, url: &Url, port: Option<u16>) {
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
pub(super) fn exchange(
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
