//! [`LoopbackError`]: why the listener could not deliver an authorization
//! code, each with the exit class it decides.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::kind::ErrorKind;

/// Why the loopback listener could not deliver an authorization code.
#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    /// The redirect URI does not parse as a URL.
    #[error(
        "redirect URI {uri:?} is not a valid URL ({source}); pass a loopback URI such as http://localhost:4242/"
    )]
    InvalidRedirectUri {
        /// The URI as given.
        uri: String,
        /// The parser's complaint.
        source: url::ParseError,
    },
    /// The redirect URI is not an `http` URI on a loopback host.
    #[error(
        "redirect URI {uri:?} is not a loopback URI; the local listener needs http://127.0.0.1:PORT/, http://localhost:PORT/ or http://[::1]:PORT/ (or use --no-webserver and --codeExchange)"
    )]
    NotLoopback {
        /// The URI as given.
        uri: String,
    },
    /// Another program already listens on the port.
    #[error(
        "cannot listen on {addr}: port {port} is already in use; stop the program using it, pick another port with --port, or use another registered redirect URI"
    )]
    PortInUse {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The port from the redirect URI or `--port`.
        port: u16,
    },
    /// Every redirect URI the client is registered with names a port that
    /// another program listens on (a preregistered client: a strict
    /// provider accepts no other port, so `--port` is no way out).
    #[error(
        "cannot listen for the login: ports {} (those of the client's registered redirect URIs) \
         are all in use; stop a program using one of them, or use --flow device",
        ports_list(ports)
    )]
    AllPortsInUse {
        /// The ports, in the order tried.
        ports: Vec<u16>,
    },
    /// The port needs privileges we do not have.
    #[error(
        "cannot listen on {addr}: binding port {port} is not permitted (ports below 1024 need privileges); pick a port of 1024 or above with --port"
    )]
    PortNotPermitted {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The port from the redirect URI or `--port`.
        port: u16,
    },
    /// Any other bind failure.
    #[error("cannot listen on {addr}: {source}; use --no-webserver and --codeExchange instead")]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The HTTP server could not start on the bound socket, or stopped.
    #[error(
        "the local redirect listener failed: {reason}; use --no-webserver and --codeExchange instead"
    )]
    Server {
        /// What the OS reported.
        reason: String,
    },
    /// No valid redirect arrived in time.
    #[error("no login redirect reached {redirect_uri} within {} s; finish the login in the browser sooner, or rerun with --no-webserver and pass the final URL with --codeExchange", waited.as_secs())]
    Timeout {
        /// Where we listened.
        redirect_uri: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The provider redirected back with `error=...` (RFC 6749 §4.1.2.1).
    #[error("the provider refused the authorization: {error}{}; approve the request in the browser, or check the client's scopes and redirect URI", describe(description.as_deref()))]
    ProviderDenied {
        /// The OAuth error code, e.g. `access_denied`.
        error: String,
        /// The provider's `error_description`, control characters removed.
        description: Option<String>,
    },
    /// The pasted URL carries no or another login attempt's `state`.
    #[error(
        "the state in the pasted URL does not match this login attempt; paste the URL from the most recent browser login"
    )]
    StateMismatch,
    /// The redirect matched our `state` but carried neither `code` nor `error`.
    #[error(
        "the redirect carried neither a code nor an error; the provider may not support the code flow for this client, try --flow=device"
    )]
    MissingCode,
    /// The pasted text is not a URL.
    #[error(
        "the pasted redirect is not a valid URL ({cause}); copy the whole address from the browser's address bar"
    )]
    InvalidPastedUrl {
        /// The parser's complaint (in the message; not a `source`, which
        /// `{:#}` would print a second time).
        cause: url::ParseError,
    },
}

impl LoopbackError {
    /// The error class, which decides oidc-gen's exit code: a port or URI
    /// the user chose is a usage error (2), a refusal by the provider a
    /// provider error (8), anything else (timeout, stray state) a failure (1).
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRedirectUri { .. }
            | Self::NotLoopback { .. }
            | Self::PortInUse { .. }
            | Self::PortNotPermitted { .. }
            | Self::InvalidPastedUrl { .. } => ErrorKind::Usage,
            Self::ProviderDenied { .. } | Self::MissingCode => ErrorKind::ProviderError,
            Self::Bind { .. }
            | Self::AllPortsInUse { .. }
            | Self::Server { .. }
            | Self::Timeout { .. }
            | Self::StateMismatch => ErrorKind::Failure,
        }
    }
}

/// "8080, 4242 and 43985".
fn ports_list(ports: &[u16]) -> String {
    let mut words: Vec<String> = ports.iter().map(u16::to_string).collect();
    let last = words.pop().unwrap_or_default();
    if words.is_empty() {
        last
    } else {
        format!("{} and {last}", words.join(", "))
    }
}

fn describe(description: Option<&str>) -> String {
    description.map(|d| format!(" ({d})")).unwrap_or_default()
}
