//! RFC 6749 §4.1 authorization-code flow with RFC 7636 PKCE, via the oauth2 crate.
//!
//! Owns the authorization URL (a fresh `state`, `nonce` and S256 verifier per
//! attempt) and the code exchange. It does not listen for the redirect
//! (`crate::loopback`), print, or validate the ID token: `id_token` is
//! returned as received. Tokens and errors are the shared ones of
//! [`super::token`] and [`OidcError`].

use std::borrow::Cow;

use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::OidcError;
use super::token::{self, Endpoint, OidcClient, TokenSet};
use crate::secret::SecretString;

/// How audiences are put in authorization and device requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudienceMode {
    /// One RFC 8707 `resource` parameter per audience.
    #[default]
    Resource,
    /// oidc-agent's legacy `audience=<space-separated list>`.
    Legacy,
}

/// Inputs for one authorization URL.
#[derive(Debug)]
pub struct AuthUrlParams<'a> {
    /// The provider's `authorization_endpoint`.
    pub authorization_endpoint: &'a Url,
    /// The registered `client_id`.
    pub client_id: &'a str,
    /// The redirect URI, byte for byte as registered (with the bound port).
    pub redirect_uri: &'a str,
    /// Scopes to request; entries may hold several space-separated scopes.
    pub scopes: &'a [String],
    /// Audiences to request (empty for none).
    pub audiences: &'a [String],
    /// How to send `audiences`.
    pub audience_mode: AudienceMode,
    /// Only an access token is wanted: skip `prompt=consent` and `access_type=offline`.
    pub only_access_token: bool,
    /// The provider's `code_challenge_methods_supported`, if it lists any.
    pub code_challenge_methods_supported: Option<&'a [String]>,
}

/// One authorization attempt: the URL to open and what the exchange needs.
///
/// Serializable so that `oidc-gen --codeExchange` can finish an attempt a
/// previous run started; the serialized form holds the PKCE verifier and
/// must be stored like a secret.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingAuthorization {
    url: Url,
    state: SecretString,
    nonce: SecretString,
    pkce_verifier: Option<SecretString>,
    redirect_uri: String,
}

impl PendingAuthorization {
    /// The URL to open in the browser.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The `state` the redirect must carry back.
    pub fn state(&self) -> &SecretString {
        &self.state
    }

    /// The `nonce` sent, for a caller that validates the ID token.
    pub fn nonce(&self) -> &SecretString {
        &self.nonce
    }

    /// Whether the URL carries a PKCE S256 challenge.
    pub fn uses_pkce(&self) -> bool {
        self.pkce_verifier.is_some()
    }

    /// The redirect URI sent, repeated verbatim at the exchange.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }
}

/// Builds the authorization URL for one attempt (RFC 6749 §4.1.1).
///
/// PKCE S256 is used when the provider lists `S256` or lists nothing (a
/// public client without PKCE is useless, and unknown parameters are ignored
/// per RFC 6749 §3.1); `plain` is never used (RFC 7636 §7.2).
///
/// # Errors
/// [`OidcError::Config`] when the redirect URI is not a URL.
pub fn authorization_url(params: &AuthUrlParams<'_>) -> Result<PendingAuthorization, OidcError> {
    let redirect = redirect_url(params.redirect_uri)?;
    let client: OidcClient<_, _, _> =
        oauth2::Client::new(ClientId::new(params.client_id.to_owned()))
            .set_auth_uri(AuthUrl::from_url(params.authorization_endpoint.clone()))
            .set_redirect_uri(redirect);
    // OIDC Core §3.1.2.1: the nonce binds the ID token to this attempt.
    let nonce = CsrfToken::new_random_len(24);
    let mut request = client
        .authorize_url(|| CsrfToken::new_random_len(24))
        .add_scopes(split_scopes(params.scopes))
        .add_extra_param("nonce", nonce.secret().clone());
    let pkce_verifier = if wants_pkce(params.code_challenge_methods_supported) {
        // 96 random bytes give the longest verifier, 128 characters (RFC 7636
        // §4.1), as oidc-agent uses.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(96);
        request = request.set_pkce_challenge(challenge);
        Some(SecretString::new(verifier.into_secret()))
    } else {
        None
    };
    if !params.only_access_token {
        // Like oidc-agent: `prompt=consent` makes providers issue a refresh
        // token on every login; `access_type=offline` is Google's switch for it.
        request = request
            .add_extra_param("prompt", "consent")
            .add_extra_param("access_type", "offline");
    }
    for (name, value) in audience_params(params.audiences, params.audience_mode) {
        request = request.add_extra_param(name, value);
    }
    let (url, state) = request.url();
    Ok(PendingAuthorization {
        url,
        state: SecretString::new(state.into_secret()),
        nonce: SecretString::new(nonce.into_secret()),
        pkce_verifier,
        redirect_uri: params.redirect_uri.to_owned(),
    })
}

/// Exchanges `code` at `token_endpoint` (RFC 6749 §4.1.3), sending the PKCE
/// verifier and the redirect URI of `pending`; `now` (Unix seconds) anchors
/// the expiry.
///
/// # Errors
/// [`OidcError::Provider`] for an OAuth error (`invalid_grant`, ...),
/// `Unreachable` when the request does not complete, `BadResponse` when the
/// reply is neither tokens nor an OAuth error.
pub async fn exchange_code(
    at: Endpoint<'_>,
    pending: &PendingAuthorization,
    code: &SecretString,
    now: i64,
) -> Result<TokenSet, OidcError> {
    let redirect = redirect_url(&pending.redirect_uri)?;
    let oauth = at.oauth()?;
    let mut request = oauth
        .exchange_code(AuthorizationCode::new(code.expose().to_owned()))
        .set_redirect_uri(Cow::Owned(redirect));
    if let Some(verifier) = &pending.pkce_verifier {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()));
    }
    let response = request
        .request_async(&super::http::Capped(at.http.clone()))
        .await
        .map_err(|e| token::map_error(e, at.url))?;
    Ok(TokenSet::from_response(&response, now))
}

fn wants_pkce(methods: Option<&[String]>) -> bool {
    methods.is_none_or(|m| m.is_empty() || m.iter().any(|x| x == "S256"))
}

fn redirect_url(uri: &str) -> Result<RedirectUrl, OidcError> {
    RedirectUrl::new(uri.to_owned()).map_err(|e| {
        OidcError::Config(format!(
            "redirect URI {uri:?} is not a valid URL ({e}); check --redirect-uri"
        ))
    })
}

pub(crate) fn split_scopes(scopes: &[String]) -> Vec<Scope> {
    scopes
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(|s| Scope::new(s.to_owned()))
        .collect()
}

pub(crate) fn audience_params(
    audiences: &[String],
    mode: AudienceMode,
) -> Vec<(&'static str, String)> {
    if audiences.is_empty() {
        return Vec::new();
    }
    match mode {
        // RFC 8707 §2: one `resource` parameter per target.
        AudienceMode::Resource => audiences.iter().map(|a| ("resource", a.clone())).collect(),
        AudienceMode::Legacy => vec![("audience", audiences.join(" "))],
    }
}

#[cfg(test)]
mod tests;
