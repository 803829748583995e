//! The one HTTP client: rustls with the system roots and an account's extra
//! CA bundle ([`super::roots`]), timeouts on every request, and no redirects
//! (following them on token calls opens the door to SSRF and leaks
//! credentials to wherever the redirect points).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{OidcError, error_chain, roots};

/// Time to establish a TCP+TLS connection (default; `oidc-agent
/// --connect-timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for a whole request, connection included (default;
/// `oidc-agent --request-timeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The provider deadlines in force.
/// How long the agent waits for the answer to a request it has sent (its
/// callers wait only `--request-timeout`): a refresh the provider received
/// may rotate the refresh token, and an answer given up on loses the new
/// one for good, while sending the old one again is a replay that may
/// revoke the login (RFC 6819 §5.2.2.3). So a slow provider is waited for;
/// one that does not take the connection still fails after the connect
/// timeout.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// Connecting (TCP and TLS).
    pub connect: Duration,
    /// A whole request, connecting included.
    pub request: Duration,
}

impl Deadlines {
    /// [`CONNECT_TIMEOUT`] and [`REQUEST_TIMEOUT`].
    pub const DEFAULT: Self = Self {
        connect: CONNECT_TIMEOUT,
        request: REQUEST_TIMEOUT,
    };
}

// Set once, at start, from `oidc-agent`'s options: a process-wide setting
// like the CA roots, so every client built afterwards (per account, per
// oidc-gen session) uses it without threading it through each caller.
static DEADLINES: OnceLock<Deadlines> = OnceLock::new();

/// Sets the deadlines for every client built afterwards; false if they were
/// already set.
pub fn set_deadlines(deadlines: Deadlines) -> bool {
    DEADLINES.set(deadlines).is_ok()
}

/// The deadlines in force: those set at start, else the defaults.
pub fn deadlines() -> Deadlines {
    DEADLINES.get().copied().unwrap_or(Deadlines::DEFAULT)
}
/// How long an idle pooled connection may be reused. Providers close idle
/// keep-alive connections after a few seconds (Node's and Apache's default is
/// 5 s); a request written into a connection the server has just closed fails
/// after it was sent, and a spent authorization code or a rotated refresh
/// token cannot be sent again (RFC 6749 §4.1.2, RFC 6819 §5.2.2.3). So a
/// connection idle for longer than this is never reused: any HTTP call after
/// a wait on a person (loopback listener, device polling, a prompt) or an
/// idle agent opens a fresh one.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether `NO_PROXY` (else `no_proxy`; `var` reads them) is `*`, which
/// curl, and so oidc-agent, take as "no proxy for any host" and reqwest
/// 0.12 reads as a host name.
pub(crate) fn proxies_off(var: impl Fn(&str) -> Option<String>) -> bool {
    ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))
        .is_some_and(|v| v.trim() == "*")
}

/// Builds the client, trusting the PEM bundle at `cert_path` as well.
pub fn client(cert_path: Option<&Path>) -> Result<reqwest::Client, OidcError> {
    build(cert_path, deadlines().request)
}

/// The same for token requests that cannot be sent again: it waits for
/// the answer up to [`ANSWER_DEADLINE`], as the agent does. An imported
/// refresh token is spent once the provider has it (a rotating provider
/// answers with its replacement, and sending it again is a replay that
/// revokes the login), an authorization code once it is exchanged.
pub fn patient_client(cert_path: Option<&Path>) -> Result<reqwest::Client, OidcError> {
    build(cert_path, deadlines().request.max(ANSWER_DEADLINE))
}

fn build(cert_path: Option<&Path>, request: Duration) -> Result<reqwest::Client, OidcError> {
    let system = roots::system()?;
    let roots = match cert_path.filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => roots::with_bundle(system, path)?,
        None => system,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OidcError::Config(format!("cannot set up HTTPS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1 only, as reqwest asks when it builds the TLS set-up itself.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Sessions to resume for up to 32 providers (rustls's default makes room
    // for 256, 14 kB per client); a client serves the providers of one CA
    // bundle.
    tls.resumption = rustls::client::Resumption::in_memory_sessions(32);
    let mut builder = reqwest::Client::builder();
    if proxies_off(|name| std::env::var(name).ok()) {
        builder = builder.no_proxy();
    }
    builder
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(deadlines().connect)
        .timeout(request)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .user_agent(concat!("oidc-agent-rs/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OidcError::Config(format!("cannot set up HTTPS: {}", error_chain(&e))))
}

/// GETs `url` and returns the body of a 200 answer.
pub async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, OidcError> {
    let unreachable = |e: reqwest::Error| OidcError::unreachable(url, &e);
    let resp = http
        .get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(OidcError::BadResponse {
            url: url.to_owned(),
            detail: format!("HTTP {status}"),
        });
    }
    Ok(body.to_vec())
}
