//! OpenID Connect and OAuth 2.0: discovery, token requests, HTTP.
//!
//! Request building and response parsing live here; the only I/O is the one
//! HTTP client in [`http`]. Nothing in this module prints or prompts.

pub mod discovery;
pub mod http;
pub mod token;

use crate::error::ErrorKind;

/// Errors from talking to a provider.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Network, TLS, DNS or timeout: the provider could not be reached.
    #[error(
        "cannot reach {url}: {detail}; check the network, the issuer URL and `--cp` for a private CA"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The whole error chain.
        detail: String,
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
    /// The provider answered with an OAuth error.
    #[error("the provider refused: {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        /// The OAuth `error` code.
        error: String,
        /// `error_description`, when given.
        description: Option<String>,
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
    #[error("the provider {issuer} has no {what}")]
    MissingEndpoint {
        /// The issuer.
        issuer: String,
        /// Which endpoint.
        what: &'static str,
    },
    /// Bad configuration (URL, CA file).
    #[error("{0}")]
    Config(String),
}

impl OidcError {
    /// The error class, for exit codes and protocol replies.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreachable { .. } => ErrorKind::ProviderUnreachable,
            Self::RefreshTokenRejected { .. } => ErrorKind::RefreshTokenRejected,
            Self::Provider { .. }
            | Self::BadResponse { .. }
            | Self::IssuerMismatch { .. }
            | Self::MissingEndpoint { .. } => ErrorKind::ProviderError,
            Self::Config(_) => ErrorKind::Failure,
        }
    }
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
