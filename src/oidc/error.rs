//! [`OidcError`], what talking to a provider can fail with, and how its
//! messages name the cause and the remedy (the provider's own words kept
//! printable and short).

use super::proxy::proxy_for;
use crate::error::kind::ErrorKind;

/// What to check when `url` cannot be reached (`detail`, the transport's
/// words): a timeout is the provider's (or the network's) slowness, where a
/// private CA is no cause; nor is it for a plain `http://` URL, which has no
/// TLS. A CA certificate serving as the server's own is refused whatever
/// `--cp` says.
fn unreachable_hint(url: &str, timed_out: bool, detail: &str) -> &'static str {
    if detail.contains("CaUsedAsEndEntity") {
        "the provider's certificate is a CA certificate (CA:TRUE, as `openssl req -x509` makes \
         by default) serving as its own, which is refused even when `--cp` names it (OpenSSL \
         takes it): give the server a certificate with CA:FALSE (`-addext \
         basicConstraints=critical,CA:FALSE`), or one a CA issued, and pass that CA with `--cp`"
    } else if timed_out {
        "the provider did not answer in time; check the network and try again"
    } else if url.starts_with("https:") {
        "check the network, the issuer URL and `--cp` for a private CA"
    } else {
        "check the network and the issuer URL"
    }
}

/// What an unreachable provider's message adds when a proxy is set.
fn proxy_note(proxy: &Option<String>) -> String {
    proxy.as_ref().map_or_else(String::new, |p| {
        format!(" (a proxy is set, {p}: check it too, or name the host in NO_PROXY)")
    })
}

/// Whether any cause in `err`'s chain is a timeout: reqwest's own (its
/// connect or request timeout) or the socket's.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(err), |e| e.source()).any(|e| {
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
            || e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    })
}

/// Errors from talking to a provider.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Network, TLS, DNS or timeout: the provider could not be reached.
    #[error("cannot reach {url}: {detail}; {}{}", unreachable_hint(url, *timed_out, detail), proxy_note(proxy))]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The whole error chain.
        detail: String,
        /// The transport gave up waiting (as opposed to a refused
        /// connection, DNS or TLS), read off the error's types.
        timed_out: bool,
        /// The proxy set for the URL in the environment (`NAME=URL`).
        proxy: Option<String>,
    },
    /// The refresh token is no longer accepted (`invalid_grant`).
    #[error(
        "refresh token expired or revoked for account '{account}'; run `oidc-gen --reauthenticate {account}`"
    )]
    RefreshTokenRejected {
        /// The account.
        account: String,
        /// The provider's description.
        description: String,
    },
    /// The refresh token given to create a new account (`oidc-gen --rt`) is
    /// refused: there is no account to re-authenticate yet.
    #[error(
        "the provider refused the refresh token given for the new account '{account}'{}; \
         pass a fresh one (--rt-env), or create the account with a login instead of --rt \
         (--flow code or --flow device). A token used before is refused by a provider that \
         rotates them, which also ends the login it came from, in every account holding it",
        detail(Some(description.as_str()).filter(|d| !d.is_empty()), None)
    )]
    ImportedTokenRejected {
        /// The account being created.
        account: String,
        /// The provider's description.
        description: String,
    },
    /// The provider answered with an OAuth error (RFC 6749 §5.2).
    #[error("{endpoint} answered {error}{}; {}", detail(description.as_deref(), error_uri.as_deref()), remedy(error))]
    Provider {
        /// The endpoint that answered.
        endpoint: String,
        /// The OAuth `error` code, e.g. `invalid_client`.
        error: String,
        /// `error_description`, when given.
        description: Option<String>,
        /// `error_uri`, when given.
        error_uri: Option<String>,
    },
    /// The provider's answer could not be understood.
    #[error("unexpected answer from {url}: {detail}")]
    BadResponse {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// Discovery found a different issuer than asked for.
    #[error(
        "issuer mismatch: asked for {expected} but the discovery document at {url} says {found}; use the exact issuer URL"
    )]
    IssuerMismatch {
        /// The issuer asked for.
        expected: String,
        /// The issuer in the document.
        found: String,
        /// The document's URL.
        url: String,
    },
    /// A required endpoint is missing from the provider's metadata.
    #[error("the provider {issuer} has no {what}; {remedy}")]
    MissingEndpoint {
        /// The issuer.
        issuer: String,
        /// Which endpoint.
        what: &'static str,
        /// What to do instead.
        remedy: std::borrow::Cow<'static, str>,
    },
    /// The issuer is not an http(s) URL.
    #[error(
        "'{0}' is not an issuer URL; give its full address, e.g. https://op.example/realms/name"
    )]
    InvalidIssuer(String),
    /// No discovery document at any of the well-known places.
    #[error(
        "no discovery document for {issuer} ({detail} at {}); check the issuer URL, or pass --configuration-endpoint URL",
        tried.join(" and ")
    )]
    NoDiscovery {
        /// The issuer.
        issuer: String,
        /// The URLs tried.
        tried: Vec<String>,
        /// What the last one answered.
        detail: String,
    },
    /// Bad configuration (URL, CA file).
    #[error("{0}")]
    Config(String),
    /// Not sent: the agent was told to stop.
    #[error(
        "not refreshed: the agent is stopping, and starts no refresh (its refresh token would be \
         spent while the next agent loads the same one); ask the agent that replaces it"
    )]
    Stopping,
}

impl OidcError {
    /// [`OidcError::Unreachable`] with every cause: reqwest alone says only
    /// "error sending request".
    pub(crate) fn unreachable(url: &str, err: &(dyn std::error::Error + 'static)) -> Self {
        Self::Unreachable {
            url: url.to_owned(),
            detail: error_chain(err),
            timed_out: timed_out(err),
            proxy: proxy_for(url, |name| std::env::var(name).ok()),
        }
    }

    /// The error class, for exit codes and protocol replies.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::ProviderUnreachable,
            Self::RefreshTokenRejected { .. } | Self::ImportedTokenRejected { .. } => {
                ErrorKind::RefreshTokenRejected
            }
            Self::Provider { .. }
            | Self::BadResponse { .. }
            | Self::IssuerMismatch { .. }
            | Self::MissingEndpoint { .. }
            | Self::NoDiscovery { .. } => ErrorKind::ProviderError,
            Self::InvalidIssuer(_) => ErrorKind::Usage,
            Self::Config(_) => ErrorKind::Failure,
            Self::Stopping => ErrorKind::NoAgent,
        }
    }

    /// An OAuth error from `endpoint`, its texts stripped of control
    /// characters (they come from the provider and end up on a terminal).
    pub fn provider(
        endpoint: &str,
        error: &str,
        description: Option<&str>,
        error_uri: Option<&str>,
    ) -> Self {
        Self::Provider {
            endpoint: endpoint.to_owned(),
            error: printable(error),
            description: description.map(printable),
            error_uri: error_uri.map(printable),
        }
    }

    /// Reads an error from the refresh grant: `invalid_grant` there means
    /// the refresh token of `account` is dead (RFC 6749 §5.2), which has its
    /// own exit code and remedy.
    pub fn for_refresh(self, account: &str) -> Self {
        match self {
            Self::Provider {
                error, description, ..
            } if error == "invalid_grant" => Self::RefreshTokenRejected {
                account: account.to_owned(),
                description: description.unwrap_or_default(),
            },
            other => other,
        }
    }
}

fn detail(description: Option<&str>, error_uri: Option<&str>) -> String {
    let description = description.map(|d| format!(" ({d})")).unwrap_or_default();
    let error_uri = error_uri.map(|u| format!(" [see {u}]")).unwrap_or_default();
    description + &error_uri
}

/// What to do about an OAuth error code (RFC 6749 §5.2, RFC 7591 §3.2.2).
fn remedy(error: &str) -> &'static str {
    match error {
        "invalid_grant" => {
            "the code or token is invalid, expired or already used; start the login again"
        }
        "invalid_client" => {
            "the provider did not accept the client; check the client id and secret, or register a new client"
        }
        "unauthorized_client" => {
            "this client may not use this grant; enable it in the client's registration"
        }
        "invalid_scope" => "request other or fewer scopes with --scope",
        "unsupported_grant_type" => "the provider does not offer this flow; try another --flow",
        "invalid_request" => {
            "the provider found the request malformed; check the client's registration and the \
             options given (redirect URI, scope, audience)"
        }
        "invalid_redirect_uri" => {
            "the provider refused the redirect URIs; pass others with --redirect-uri"
        }
        "invalid_client_metadata" => {
            "the provider refused the client registration; register a client by hand and pass --client-id"
        }
        "invalid_token" => {
            "the access token for the registration endpoint was refused; pass a valid one with --at"
        }
        _ => "see the provider's description",
    }
}

/// Drops control characters, so a provider's text cannot drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// A short, printable start of a body that is not JSON (an HTML error page
/// from a proxy, say). JSON bodies are left out: they may hold tokens.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    if body.is_empty() || serde_json::from_slice::<serde_json::Value>(body).is_ok() {
        return String::new();
    }
    let text: String = printable(&String::from_utf8_lossy(body))
        .chars()
        .take(120)
        .collect();
    format!("; body starts with {text:?}")
}

/// The whole `source()` chain of an error, joined by ": " (reqwest and
/// oauth2 put the useful part deep in the chain).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--cp` (a CA bundle) only where TLS is, and not for a timeout.
    #[test]
    fn a_private_ca_is_named_only_for_https() {
        let said = |url: &str, timed_out| unreachable_hint(url, timed_out, "");
        assert!(said("https://op.example/token", false).contains("--cp"));
        assert!(!said("http://127.0.0.1:8080/token", false).contains("--cp"));
        assert!(!said("https://op.example/token", true).contains("--cp"));
        let ca_as_server = "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))";
        assert!(
            unreachable_hint("https://op.example/", false, ca_as_server).contains("CA:FALSE"),
            "a CA certificate as the server's own is named"
        );
    }

    /// The proxy reqwest would take for the scheme, first match wins, and
    /// never its password.
    #[test]
    fn names_the_proxy_for_the_scheme_without_credentials() {
        let env = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let both = env(&[
            ("http_proxy", "http://plain:3128"),
            ("HTTPS_PROXY", "http://user:s3cret@proxy.example:8080"),
        ]);
        let all = env(&[
            ("ALL_PROXY", "socks5://127.0.0.1:1080"),
            ("https_proxy", " "),
        ]);
        for (url, set, expected) in [
            (
                "https://op.example/token",
                both,
                Some("HTTPS_PROXY=http://proxy.example:8080/"),
            ),
            (
                "http://op.example/token",
                both,
                Some("http_proxy=http://plain:3128/"),
            ),
            (
                "https://op.example/",
                all,
                Some("ALL_PROXY=socks5://127.0.0.1:1080"),
            ),
            ("https://op.example/", env(&[]), None),
            (
                "https://op.example/",
                env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", " * ")]),
                None,
            ),
        ] {
            assert_eq!(proxy_for(url, set).as_deref(), expected, "{url}");
        }
        let said = OidcError::Unreachable {
            url: "https://op.example/".into(),
            detail: "tcp connect error".into(),
            timed_out: false,
            proxy: proxy_for("https://op.example/", both),
        }
        .to_string();
        assert!(
            said.contains("a proxy is set, HTTPS_PROXY=http://proxy.example:8080/")
                && !said.contains("s3cret"),
            "{said}"
        );
    }
}
