//! Token endpoint calls through the oauth2 crate: the refresh grant
//! (RFC 6749 §6) and revocation (RFC 7009), and turning the token response
//! into a [`TokenSet`] with an absolute expiry.
//!
//! Client authentication: a confidential client uses HTTP Basic
//! (`client_secret_basic`, RFC 6749 §2.3.1); a public client sends only its
//! `client_id` in the form body and never a secret.

use std::fmt;

use base64::Engine as _;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields,
    HttpClientError, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::{OidcError, error_chain};
use crate::secret::SecretString;

/// OIDC fields of a token response beyond OAuth's.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct OidcFields {
    /// The ID token (OIDC Core §3.1.3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl fmt::Debug for OidcFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OidcFields([redacted])")
    }
}

impl ExtraTokenFields for OidcFields {}

/// A token response with OIDC fields.
pub type TokenResponse = StandardTokenResponse<OidcFields, BasicTokenType>;

/// An oauth2 client with the token endpoint set.
pub type OidcClient = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Who the client is.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The client secret; `None` or empty for a public client.
    pub client_secret: Option<&'a SecretString>,
}

/// Builds the oauth2 client for a token endpoint.
pub fn client(token_endpoint: &str, creds: Credentials<'_>) -> Result<OidcClient, OidcError> {
    let url = TokenUrl::new(token_endpoint.to_owned())
        .map_err(|e| OidcError::Config(format!("bad token endpoint {token_endpoint}: {e}")))?;
    let mut client = oauth2::Client::new(ClientId::new(creds.client_id.to_owned()))
        .set_token_uri(url)
        .set_auth_type(AuthType::BasicAuth);
    if let Some(secret) = creds.client_secret.filter(|s| !s.is_empty()) {
        client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
    }
    Ok(client)
}

/// The tokens from one token response.
#[derive(Debug, Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: SecretString,
    /// Absolute expiry (Unix seconds), when known.
    pub expires_at: Option<i64>,
    /// A new refresh token, when the provider rotated it.
    pub refresh_token: Option<SecretString>,
    /// The ID token, when the provider sent one.
    pub id_token: Option<SecretString>,
    /// The granted scope, when the provider said.
    pub scope: Option<String>,
}

impl TokenSet {
    /// Reads a token response received at `now`. Without `expires_in`, the
    /// expiry is the `exp` claim of a JWT access token, else unknown (and the
    /// token is then not cached: oidc-agent#53).
    pub fn from_response(resp: &TokenResponse, now: i64) -> Self {
        let access_token = SecretString::new(resp.access_token().secret().clone());
        let expires_at = resp
            .expires_in()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .map(|s| now.saturating_add(s))
            .or_else(|| jwt_exp(access_token.expose()));
        Self {
            access_token,
            expires_at,
            refresh_token: resp
                .refresh_token()
                .map(|t| SecretString::new(t.secret().clone())),
            id_token: resp.extra_fields().id_token.clone().map(SecretString::new),
            scope: resp
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        }
    }
}

/// The `exp` claim of a JWT, read without verifying the signature: the token
/// came straight from the token endpoint over TLS (OIDC Core §3.1.3.7), and we
/// only use it to decide how long to cache.
pub fn jwt_exp(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_i64()
}

/// Turns an oauth2 request error into ours. `account` names the account for
/// the re-authentication hint on `invalid_grant`.
pub fn map_error(
    e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
    url: &str,
    account: &str,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(resp) => {
            let description = resp.error_description().cloned();
            match resp.error() {
                BasicErrorResponseType::InvalidGrant => OidcError::RefreshTokenRejected {
                    account: account.to_owned(),
                    description: description.unwrap_or_default(),
                },
                other => OidcError::Provider {
                    error: other.to_string(),
                    description,
                },
            }
        }
        RequestTokenError::Request(err) => OidcError::Unreachable {
            url: url.to_owned(),
            detail: error_chain(&err),
        },
        RequestTokenError::Parse(err, _) => OidcError::BadResponse {
            url: url.to_owned(),
            detail: error_chain(&err),
        },
        RequestTokenError::Other(detail) => OidcError::BadResponse {
            url: url.to_owned(),
            detail,
        },
    }
}

/// What to ask for in a refresh.
#[derive(Debug, Clone, Copy)]
pub struct RefreshParams<'a> {
    /// The account (for messages).
    pub account: &'a str,
    /// The token endpoint.
    pub token_endpoint: &'a str,
    /// The client.
    pub creds: Credentials<'a>,
    /// The refresh token.
    pub refresh_token: &'a SecretString,
    /// Scopes (empty: let the provider use the granted ones).
    pub scopes: &'a [String],
    /// Audiences (sent as `audience`, space-separated).
    pub audiences: &'a [String],
}

/// Runs the refresh grant (RFC 6749 §6).
pub async fn refresh(
    http: &reqwest::Client,
    p: RefreshParams<'_>,
    now: i64,
) -> Result<TokenSet, OidcError> {
    let client = client(p.token_endpoint, p.creds)?;
    let rt = RefreshToken::new(p.refresh_token.expose().to_owned());
    let mut req = client
        .exchange_refresh_token(&rt)
        .add_scopes(p.scopes.iter().cloned().map(Scope::new));
    if !p.audiences.is_empty() {
        req = req.add_extra_param("audience", p.audiences.join(" "));
    }
    let resp = req
        .request_async(http)
        .await
        .map_err(|e| map_error(e, p.token_endpoint, p.account))?;
    Ok(TokenSet::from_response(&resp, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_exp_reads_claim() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"exp":1700000000,"sub":"x"}"#);
        assert_eq!(jwt_exp(&format!("h.{payload}.s")), Some(1_700_000_000));
        assert_eq!(jwt_exp("opaque-token"), None);
        assert_eq!(jwt_exp("a.!!!.c"), None);
    }

    #[test]
    fn expiry_from_expires_in_or_jwt() {
        let resp: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"refresh_token":"r2"}"#,
        )
        .expect("parse");
        let set = TokenSet::from_response(&resp, 1000);
        assert_eq!(set.expires_at, Some(1060));
        assert_eq!(
            set.refresh_token.as_ref().map(SecretString::expose),
            Some("r2")
        );
        let resp: TokenResponse =
            serde_json::from_str(r#"{"access_token":"opaque","token_type":"bearer"}"#)
                .expect("parse");
        assert_eq!(TokenSet::from_response(&resp, 1000).expires_at, None);
    }
}
