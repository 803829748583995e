//! The one HTTP client: rustls with the system roots and an account's extra
//! CA bundle ([`super::roots`]), timeouts on every request, and no redirects
//! (following them on token calls opens the door to SSRF and leaks
//! credentials to wherever the redirect points).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::proxy::proxies_off;
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

/// How long the agent waits for the answer to a refresh it has sent while
/// it is not stopping: a provider that was frozen (a paused VM, a stopped
/// process) still answers the request in its socket when it resumes, with
/// the rotated refresh token; given up on after [`ANSWER_DEADLINE`], that
/// answer went nowhere, and the next refresh sent the spent token (a
/// replay that ends the login). A stopping agent still gives up after
/// [`ANSWER_DEADLINE`].
pub const UNSTOPPED_ANSWER_DEADLINE: Duration = Duration::from_secs(3600);

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

/// The most of a provider's answer that is read: discovery documents,
/// token and registration answers are a few kB. A larger one (a proxy or a
/// captive portal streaming a file, a broken provider) would otherwise be
/// held in memory whole, the agent's with every account in it.
pub const MAX_ANSWER: usize = 1 << 20;

/// Why [`body`] read no answer.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than [`MAX_ANSWER`].
    TooLarge,
    /// The transfer failed.
    Transfer(reqwest::Error),
}

impl BodyError {
    /// The error for an answer from `url`.
    pub fn at(self, url: &str) -> OidcError {
        match self {
            Self::TooLarge => OidcError::BadResponse {
                url: url.to_owned(),
                detail: too_large(),
            },
            Self::Transfer(e) => OidcError::unreachable(url, &e),
        }
    }
}

/// What an answer past [`MAX_ANSWER`] is said to be.
fn too_large() -> String {
    format!(
        "the answer is larger than {} MiB, which no provider sends; is a proxy or a login portal \
         answering instead?",
        MAX_ANSWER >> 20
    )
}

/// What a redirect is said to be: it is not followed, since a request
/// carrying a client secret, a code or a refresh token goes only where the
/// provider's discovery document said.
fn redirected(response: &reqwest::Response) -> String {
    let to: String = response
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| crate::oidc::printable(&String::from_utf8_lossy(v.as_bytes())))
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    format!(
        "HTTP {} redirects to {to:?}, which is not followed; is the issuer URL the provider's \
         own (https rather than http, the right path)?",
        response.status()
    )
}

/// The body of `resp`, read up to [`MAX_ANSWER`] bytes (zeroized on drop:
/// it may hold tokens).
pub async fn body(mut resp: reqwest::Response) -> Result<zeroize::Zeroizing<Vec<u8>>, BodyError> {
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = zeroize::Zeroizing::new(Vec::new());
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transfer)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(BodyError::TooLarge);
        }
        crate::secret::extend_zeroizing(&mut body, &chunk);
    }
    Ok(body)
}

/// The HTTP client for oauth2's requests, reading answers with [`body`]
/// (oauth2's own reads them whole, however large). Holds a clone of the
/// client (a reference count).
pub struct Capped(pub reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Capped {
    type Error = oauth2::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, Self::Error>> + Send + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let response = self.0.execute(request).await.map_err(Box::new)?;
            if response.status().is_redirection() {
                return Err(oauth2::HttpClientError::Other(redirected(&response)));
            }
            let mut answer = oauth2::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = match body(response).await {
                Ok(body) => body.to_vec(),
                Err(BodyError::TooLarge) => {
                    return Err(oauth2::HttpClientError::Other(too_large()));
                }
                Err(BodyError::Transfer(e)) => return Err(Box::new(e).into()),
            };
            answer.body(body).map_err(oauth2::HttpClientError::Http)
        })
    }
}

/// Sends `request` to `url` and reads the answer's status and body (capped
/// as [`body`] reads it); the errors name `url`.
pub async fn send(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<(reqwest::StatusCode, zeroize::Zeroizing<Vec<u8>>), OidcError> {
    let response = request
        .send()
        .await
        .map_err(|e| OidcError::unreachable(url, &e))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(OidcError::BadResponse {
            url: url.to_owned(),
            detail: redirected(&response),
        });
    }
    let body = body(response).await.map_err(|e| e.at(url))?;
    Ok((status, body))
}

/// GETs `url` and returns the body of a 200 answer.
pub async fn get(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, OidcError> {
    let request = http.get(url).header("Accept", "application/json");
    let (status, body) = send(request, url).await?;
    if !status.is_success() {
        return Err(OidcError::BadResponse {
            url: url.to_owned(),
            detail: format!("HTTP {status}"),
        });
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A redirect is neither followed nor reported as an empty answer: the
    /// error says where it pointed, for our requests and for oauth2's.
    #[tokio::test]
    async fn a_redirect_is_said_not_followed() {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("listen");
        let url = format!("http://{}/token", server.server_addr());
        std::thread::spawn(move || {
            for request in server.incoming_requests().take(2) {
                let location =
                    tiny_http::Header::from_bytes("Location", "https://op.example/token")
                        .expect("header");
                let _ = request.respond(tiny_http::Response::empty(307).with_header(location));
            }
        });
        let http = client(None).expect("client");
        let err = get(&http, &url).await.expect_err("redirected");
        assert!(
            matches!(&err, OidcError::BadResponse { detail, .. }
                if detail.contains("307") && detail.contains("\"https://op.example/token\"")),
            "{err}"
        );
        let request = oauth2::http::Request::post(url.as_str())
            .body(b"grant_type=refresh_token".to_vec())
            .expect("request");
        let capped = Capped(http);
        let answer = oauth2::AsyncHttpClient::call(&capped, request).await;
        assert!(
            matches!(&answer, Err(oauth2::HttpClientError::Other(detail))
                if detail.contains("redirects to \"https://op.example/token\", which is not followed")),
            "{:?}",
            answer.map(|a| a.status())
        );
    }

    /// A body streamed without a length, and one whose length is said:
    /// both larger than [`MAX_ANSWER`], both refused without holding more.
    #[tokio::test]
    async fn an_answer_past_the_cap_is_refused() {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("listen");
        let url = format!("http://{}/", server.server_addr());
        std::thread::spawn(move || {
            for (i, request) in server.incoming_requests().take(2).enumerate() {
                let big = std::io::Read::take(std::io::repeat(b'A'), 2 << 20);
                let length = (i == 1).then_some(2 << 20);
                let answer = tiny_http::Response::new(200.into(), vec![], big, length, None);
                let _ = request.respond(answer);
            }
        });
        let http = client(None).expect("client");
        for _ in 0..2 {
            let err = get(&http, &url).await.expect_err("too large");
            assert!(
                matches!(&err, OidcError::BadResponse { detail, .. } if detail.contains("larger than 1 MiB")),
                "{err}"
            );
        }
    }
}
