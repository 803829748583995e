//! RFC 8252 loopback redirect listener for the authorization-code flow.
//!
//! Owns the sockets from bind to drop: it binds the loopback address of the
//! redirect URI (never all interfaces; for `localhost` both 127.0.0.1 and
//! ::1, see `sockets`), serves requests until one redirect carries the
//! expected `state`, answers the browser with a small HTML page (`pages`) and
//! hands back the code. It never exchanges the code (that is
//! `oidc::authcode`) and never prints. The HTTP side, with its bounds on
//! head size and time, is in [`http`]; [`LoopbackError`] in `error`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use http::Request;
use subtle::ConstantTimeEq as _;
use url::{Host, Url, form_urlencoded};

use crate::oidc::printable;
use crate::secret::SecretString;

mod error;
mod pages;
mod peer;
pub use error::LoopbackError;
pub use pages::TAKEN;
pub use peer::listener_uid;

mod sockets;

use pages::Page;

/// An authorization code delivered by the redirect, with the optional
/// RFC 9207 `iss` parameter the caller should compare with the issuer.
#[derive(Debug)]
pub struct AuthCode {
    code: SecretString,
    issuer: Option<String>,
}

impl AuthCode {
    /// The code, to be exchanged once at the token endpoint.
    pub fn code(&self) -> &SecretString {
        &self.code
    }

    /// Consumes the wrapper and returns the code.
    pub fn into_code(self) -> SecretString {
        self.code
    }

    /// The `iss` parameter (RFC 9207 §2), if the provider sent one.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
}

/// A bound loopback listener waiting for the authorization redirect.
///
/// The socket stays bound from [`LoopbackListener::bind`] until drop, so no
/// other process can take the port between registering and receiving.
pub struct LoopbackListener {
    servers: sockets::Servers,
    addrs: Vec<SocketAddr>,
    redirect_uri: String,
    path: String,
}

impl std::fmt::Debug for LoopbackListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackListener")
            .field("addrs", &self.addrs)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl LoopbackListener {
    /// Binds the loopback address named by `redirect_uri`.
    ///
    /// `port` overrides the URI's port; `Some(0)`, or a URI without a port,
    /// binds an ephemeral port, for providers that accept any loopback port
    /// (RFC 8252 §7.3). `127.0.0.1` binds 127.0.0.1, `[::1]` binds `::1`,
    /// and `localhost` binds both on the same port (browsers may use either).
    ///
    /// # Errors
    /// [`LoopbackError::NotLoopback`] or `InvalidRedirectUri` for a URI that
    /// is not a loopback `http` URL; `PortInUse`, `PortNotPermitted` or `Bind`
    /// when the socket cannot be bound.
    pub fn bind(redirect_uri: &str, port: Option<u16>) -> Result<Self, LoopbackError> {
        let url = Url::parse(redirect_uri).map_err(|source| LoopbackError::InvalidRedirectUri {
            uri: redirect_uri.to_owned(),
            source,
        })?;
        let not_loopback = || LoopbackError::NotLoopback {
            uri: redirect_uri.to_owned(),
        };
        // RFC 8252 §7.3: loopback redirects use plain http. RFC 6749 §3.1.2:
        // no fragment. Userinfo would only confuse the port substitution.
        if url.scheme() != "http"
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(not_loopback());
        }
        // RFC 8252 §8.3 prefers the IP literal; for `localhost` we bind the
        // loopback addresses ourselves rather than trust the resolver.
        let (ip, localhost) = match url.host() {
            Some(Host::Domain(name)) if name.eq_ignore_ascii_case("localhost") => {
                (IpAddr::V4(Ipv4Addr::LOCALHOST), true)
            }
            Some(Host::Ipv4(ip)) if ip.is_loopback() => (IpAddr::V4(ip), false),
            Some(Host::Ipv6(ip)) if ip.is_loopback() => (IpAddr::V6(ip), false),
            _ => return Err(not_loopback()),
        };
        let wanted = port.or(url.port()).unwrap_or(0);
        let listeners = sockets::bind(ip, localhost, wanted)?;
        let addrs = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<io::Result<Vec<_>>>()
            .map_err(|source| LoopbackError::Bind {
                addr: SocketAddr::new(ip, wanted),
                source,
            })?;
        let bound = addrs.first().map_or(wanted, SocketAddr::port);
        let redirect_uri = with_port(redirect_uri, bound).ok_or_else(not_loopback)?;
        let path = url.path().to_owned();
        let servers = sockets::Servers::start(listeners, &path)?;
        Ok(Self {
            servers,
            addrs,
            redirect_uri,
            path,
        })
    }

    /// The redirect URI to send to the provider: the given spelling of scheme,
    /// host and path, with the port actually bound.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The bound socket address (for `localhost`, the IPv4 one).
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every bound socket address: two for `localhost` where the host has
    /// an IPv6 loopback, one otherwise.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Serves requests until one redirect with `expected_state` arrives, or
    /// `timeout` passes.
    ///
    /// Requests for other paths get 404, requests with a missing or wrong
    /// `state` get 400 and are otherwise ignored: a stray or hostile request
    /// must not end the user's login. After a code has arrived, and until the
    /// listener is dropped, every visit gets a "Login already completed" page.
    ///
    /// # Errors
    /// `Timeout` when no valid redirect arrives in time, `ProviderDenied` or
    /// `MissingCode` for a redirect with our `state` but no code, `Server` if
    /// the listener stops.
    pub fn wait_for_code(
        &self,
        expected_state: &str,
        timeout: Duration,
    ) -> Result<AuthCode, LoopbackError> {
        let start = Instant::now();
        let deadline = start.checked_add(timeout).unwrap_or(start);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(LoopbackError::Timeout {
                    redirect_uri: self.redirect_uri.clone(),
                    waited: start.elapsed(),
                });
            }
            if let Some(request) = self.servers.recv_timeout(remaining)?
                && let Some(outcome) = self.handle(request, expected_state)
            {
                return outcome;
            }
        }
    }

    /// Answers one request; `Some` ends the wait, `None` keeps listening.
    fn handle(
        &self,
        request: Request,
        expected_state: &str,
    ) -> Option<Result<AuthCode, LoopbackError>> {
        let target = request.url().to_owned();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if path != self.path {
            // Favicon fetches, scanners and typos: not ours, keep waiting.
            Page::not_found().send(request);
            return None;
        }
        if request.method() != "GET" {
            Page::method_not_allowed().send(request);
            return None;
        }
        // Another user of this computer (root aside) who read the login
        // URL could complete it as themselves: their redirect is ignored.
        if let Some((ours, peer)) = request.addrs()
            && let Some(uid) = peer::uid(ours, peer)
            && uid != rustix::process::getuid().as_raw()
            && uid != 0
        {
            Page::another_user().send(request);
            return None;
        }
        match classify(query, expected_state) {
            Outcome::StateMismatch => {
                Page::state_mismatch().send(request);
                None
            }
            Outcome::Denied { error, description } => {
                Page::refused(&error, description.as_deref()).send(request);
                Some(Err(LoopbackError::ProviderDenied { error, description }))
            }
            Outcome::MissingCode => {
                Page::missing_code().send(request);
                Some(Err(LoopbackError::MissingCode))
            }
            Outcome::Code(code) => {
                // Before the page goes out: a reload right after it must
                // find the listener already answering "completed".
                self.servers.complete();
                Page::success().send(request);
                Some(Ok(code))
            }
        }
    }
}

/// Checks a redirect URL pasted by the user (`--codeExchange`, `--no-webserver`)
/// with the same rules as the listener: matching `state`, then `error` or `code`.
///
/// # Errors
/// `InvalidPastedUrl`, `StateMismatch`, `ProviderDenied` or `MissingCode`.
pub fn parse_redirect_url(url: &str, expected_state: &str) -> Result<AuthCode, LoopbackError> {
    let url = Url::parse(url.trim()).map_err(|cause| LoopbackError::InvalidPastedUrl { cause })?;
    match classify(url.query().unwrap_or(""), expected_state) {
        Outcome::Code(code) => Ok(code),
        Outcome::StateMismatch => Err(LoopbackError::StateMismatch),
        Outcome::Denied { error, description } => {
            Err(LoopbackError::ProviderDenied { error, description })
        }
        Outcome::MissingCode => Err(LoopbackError::MissingCode),
    }
}

enum Outcome {
    Code(AuthCode),
    StateMismatch,
    Denied {
        error: String,
        description: Option<String>,
    },
    MissingCode,
}

fn classify(query: &str, expected_state: &str) -> Outcome {
    let mut state: Option<String> = None;
    let mut code: Option<SecretString> = None;
    let mut error = None;
    let mut description = None;
    let mut issuer = None;
    let mut repeated = false;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        // RFC 6749 §3.1: parameters MUST NOT appear more than once.
        let slot_taken = match key.as_ref() {
            "state" => state.replace(value.into_owned()).is_some(),
            "code" => code
                .replace(SecretString::new(value.into_owned()))
                .is_some(),
            "error" => error.replace(printable(&value)).is_some(),
            "error_description" => description.replace(printable(&value)).is_some(),
            "iss" => issuer.replace(value.into_owned()).is_some(),
            _ => false,
        };
        repeated |= slot_taken;
    }
    // RFC 6749 §10.12: the state binds the response to this attempt; check it
    // before looking at anything else in the response.
    let state_ok = state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(expected_state.as_bytes())));
    if repeated || !state_ok {
        return Outcome::StateMismatch;
    }
    if let Some(error) = error {
        return Outcome::Denied { error, description };
    }
    match code {
        Some(code) if !code.expose().is_empty() => Outcome::Code(AuthCode { code, issuer }),
        _ => Outcome::MissingCode,
    }
}

/// `uri` with its port replaced by `port`, keeping every other byte as given:
/// providers compare redirect URIs as strings (RFC 6749 §3.1.2.3), so
/// `http://localhost:4242` must not turn into `http://localhost:4242/`.
fn with_port(uri: &str, port: u16) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = if authority.starts_with('[') {
        &authority[..=authority.find(']')?]
    } else {
        authority.split(':').next()?
    };
    Some(format!("{scheme}://{host}:{port}{tail}"))
}

mod http;
#[cfg(test)]
mod tests;
