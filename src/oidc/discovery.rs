//! OpenID Connect Discovery 1.0 and RFC 8414 metadata.
//!
//! Tries `/.well-known/openid-configuration`, then
//! `/.well-known/oauth-authorization-server`, unless a configuration endpoint
//! is given. The document's `issuer` must equal the one asked for (one
//! trailing slash ignored; OIDC Discovery §4.3), so a redirected or
//! impersonated provider is refused.

use serde::Deserialize;

use super::OidcError;
use crate::account::config::same_issuer;

/// The parts of the provider metadata we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    /// The issuer identifier.
    pub issuer: String,
    /// Authorization endpoint (code flow).
    pub authorization_endpoint: Option<String>,
    /// Token endpoint.
    pub token_endpoint: String,
    /// RFC 8628 device authorization endpoint.
    pub device_authorization_endpoint: Option<String>,
    /// RFC 7009 revocation endpoint.
    pub revocation_endpoint: Option<String>,
    /// RFC 7591 registration endpoint.
    pub registration_endpoint: Option<String>,
    /// UserInfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// Scopes the provider advertises.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// PKCE methods (RFC 7636).
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// Grant types.
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// Client authentication methods of the token endpoint (RFC 8414 §2;
    /// absent means `client_secret_basic`).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

/// The URLs to try, in order.
pub fn candidate_urls(issuer: &str, config_endpoint: Option<&str>) -> Vec<String> {
    if let Some(url) = config_endpoint.filter(|u| !u.is_empty()) {
        return vec![url.to_owned()];
    }
    let base = issuer.trim_end_matches('/');
    vec![
        format!("{base}/.well-known/openid-configuration"),
        format!("{base}/.well-known/oauth-authorization-server"),
    ]
}

/// Parses a discovery document and checks its issuer.
pub fn parse(issuer: &str, url: &str, body: &[u8]) -> Result<Metadata, OidcError> {
    let meta: Metadata = serde_json::from_slice(body).map_err(|e| OidcError::BadResponse {
        url: url.to_owned(),
        detail: format!("invalid discovery document: {e}"),
    })?;
    if !same_issuer(&meta.issuer, issuer) {
        return Err(OidcError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: meta.issuer,
            url: url.to_owned(),
        });
    }
    downgrade(&meta, url)?;
    Ok(meta)
}

/// Refuses an `https` issuer's endpoint that is plain `http`: refresh
/// tokens, codes and client secrets would cross the network in clear text
/// (a proxy that rewrites the provider's base URL does this). OpenID
/// Connect Discovery 1.0 §3 and RFC 8414 §2 require `https` there.
fn downgrade(meta: &Metadata, url: &str) -> Result<(), OidcError> {
    if !meta.issuer.starts_with("https://") {
        return Ok(());
    }
    let endpoints = [
        ("token_endpoint", Some(&meta.token_endpoint)),
        (
            "authorization_endpoint",
            meta.authorization_endpoint.as_ref(),
        ),
        (
            "device_authorization_endpoint",
            meta.device_authorization_endpoint.as_ref(),
        ),
        ("revocation_endpoint", meta.revocation_endpoint.as_ref()),
        ("registration_endpoint", meta.registration_endpoint.as_ref()),
        ("userinfo_endpoint", meta.userinfo_endpoint.as_ref()),
    ];
    for (field, endpoint) in endpoints {
        if let Some(endpoint) = endpoint.filter(|e| !e.starts_with("https://")) {
            return Err(OidcError::BadResponse {
                url: url.to_owned(),
                detail: format!(
                    "the https issuer names {field} {endpoint:?}, which is not https: tokens and \
                     secrets would travel in clear text; the provider's configuration (or a \
                     proxy in front of it) must name its https address"
                ),
            });
        }
    }
    Ok(())
}

/// The document a `file://` configuration endpoint names (oidc-agent's
/// documented form for a provider without discovery:
/// `--configuration-endpoint file:///PATH`); `None` for any other URL.
fn file_document(config_endpoint: &str) -> Option<Result<Vec<u8>, OidcError>> {
    let path = url::Url::parse(config_endpoint)
        .ok()
        .filter(|u| u.scheme() == "file")?
        .to_file_path()
        .ok()?;
    let cap = super::http::MAX_ANSWER as u64;
    Some(
        crate::files::read_regular(&path, cap, "a discovery document").map_err(|e| {
            OidcError::Config(format!(
                "cannot read the discovery document {}: {e}",
                path.display()
            ))
        }),
    )
}

/// The issuer the document at `config_endpoint` names: oidc-gen
/// `--configuration-endpoint` without `--issuer`, which oidc-agent's docs
/// allow ("the issuer url is not required anymore"). Read as [`discover`]
/// reads it (a `file://` URL too); [`discover`] then checks it as usual.
pub async fn issuer_at(http: &reqwest::Client, config_endpoint: &str) -> Result<String, OidcError> {
    let body = match file_document(config_endpoint) {
        Some(read) => read?,
        None => super::http::get(http, config_endpoint).await?,
    };
    let meta: Metadata = serde_json::from_slice(&body).map_err(|e| OidcError::BadResponse {
        url: config_endpoint.to_owned(),
        detail: format!("invalid discovery document: {e}"),
    })?;
    Ok(meta.issuer)
}

/// Fetches and checks the provider's metadata.
pub async fn discover(
    http: &reqwest::Client,
    issuer: &str,
    config_endpoint: Option<&str>,
) -> Result<Metadata, OidcError> {
    if !url::Url::parse(issuer).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
        return Err(OidcError::InvalidIssuer(issuer.to_owned()));
    }
    if let Some(endpoint) = config_endpoint
        && let Some(read) = file_document(endpoint)
    {
        return parse(issuer, endpoint, &read?);
    }
    let tried = candidate_urls(issuer, config_endpoint);
    let mut detail = String::new();
    for url in &tried {
        match super::http::get(http, url).await {
            Ok(body) => return parse(issuer, url, &body),
            Err(OidcError::BadResponse { detail: d, .. }) => detail = d,
            // Unreachable is final: the fallback URL is on the same host.
            Err(e) => return Err(e),
        }
    }
    Err(OidcError::NoDiscovery {
        issuer: issuer.to_owned(),
        tried,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"issuer":"https://op.example/","token_endpoint":"https://op.example/token",
        "authorization_endpoint":"https://op.example/auth","scopes_supported":["openid","profile"],
        "code_challenge_methods_supported":["S256"],"unknown":1}"#;

    #[test]
    fn parses_and_checks_issuer() {
        let m = parse("https://op.example", "u", DOC.as_bytes()).expect("parse");
        assert_eq!(m.token_endpoint, "https://op.example/token");
        assert_eq!(m.scopes_supported, vec!["openid", "profile"]);
        let err = parse("https://evil.example", "u", DOC.as_bytes()).expect_err("mismatch");
        assert!(matches!(err, OidcError::IssuerMismatch { .. }));
        // An https issuer's token endpoint in clear text: refused, named.
        let plain = DOC.replace("https://op.example/token", "http://op.example/token");
        let err = parse("https://op.example", "u", plain.as_bytes()).expect_err("downgrade");
        assert!(err.to_string().contains("token_endpoint"), "{err}");
    }

    #[test]
    fn candidate_order() {
        assert_eq!(
            candidate_urls("https://op/realms/x/", None),
            vec![
                "https://op/realms/x/.well-known/openid-configuration",
                "https://op/realms/x/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            candidate_urls("https://op", Some("https://c")),
            vec!["https://c"]
        );
    }

    #[test]
    fn missing_token_endpoint_is_an_error() {
        let err = parse("https://op", "u", br#"{"issuer":"https://op"}"#).expect_err("bad");
        assert!(err.to_string().contains("token_endpoint"), "{err}");
    }
}
