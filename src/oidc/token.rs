//! Token endpoint calls: the refresh grant (RFC 6749 §6) through the oauth2
//! crate, revocation (RFC 7009) by hand, turning a token response into a
//! [`TokenSet`] with an absolute expiry, and the one mapping of oauth2's
//! request errors to [`OidcError`] that every flow shares.
//!
//! Client authentication: a confidential client uses HTTP Basic
//! (`client_secret_basic`, RFC 6749 §2.3.1), or the form body
//! (`client_secret_post`) when its account says so (the provider offers
//! only that, or the user chose it); a public client sends only its
//! `client_id` in the form body and never a secret.

use std::fmt;

use base64::Engine as _;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, ExtraTokenFields,
    HttpClientError, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use super::{OidcError, body_excerpt, error_chain};
use crate::account::config::{AccountConfig, split_list};
use crate::secret::SecretString;

/// OIDC fields of a token response beyond OAuth's.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct OidcFields {
    /// The ID token (OIDC Core §3.1.3.3), zeroized on drop like every token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<SecretString>,
}

impl fmt::Debug for OidcFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OidcFields([redacted])")
    }
}

impl ExtraTokenFields for OidcFields {}

/// A token response with OIDC fields.
pub type TokenResponse = StandardTokenResponse<OidcFields, BasicTokenType>;

/// An oauth2 client for our token responses; by default with only the token
/// endpoint set (the type parameters track which endpoints are set).
pub type OidcClient<
    HasAuthUrl = EndpointNotSet,
    HasDeviceAuthUrl = EndpointNotSet,
    HasTokenUrl = EndpointSet,
> = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    HasAuthUrl,
    HasDeviceAuthUrl,
    EndpointNotSet,
    EndpointNotSet,
    HasTokenUrl,
>;

/// The account key (RFC 7591's client metadata name) recording how a
/// confidential client authenticates; absent means `client_secret_basic`.
pub const KEY_AUTH_METHOD: &str = "token_endpoint_auth_method";
/// RFC 7591 §2: the secret in the form body (RFC 6749 §2.3.1).
pub const CLIENT_SECRET_POST: &str = "client_secret_post";
/// RFC 7591 §2: the secret in an HTTP Basic header (RFC 6749 §2.3.1).
pub const CLIENT_SECRET_BASIC: &str = "client_secret_basic";

/// Who the client is.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The client id.
    pub client_id: &'a str,
    /// The client secret; `None` or empty for a public client.
    pub client_secret: Option<&'a SecretString>,
    /// Send id and secret in the form body (`client_secret_post`) instead of
    /// HTTP Basic.
    pub post: bool,
}

impl<'a> Credentials<'a> {
    /// The client of an account.
    pub fn of(config: &'a AccountConfig) -> Self {
        Self {
            client_id: &config.client_id,
            client_secret: Some(&config.client_secret),
            post: config
                .extra
                .get(KEY_AUTH_METHOD)
                .is_some_and(|m| m == CLIENT_SECRET_POST),
        }
    }
}

/// The client authentication to use with a provider offering `supported`
/// (its `token_endpoint_auth_methods_supported`): Basic when offered (or
/// nothing is said, RFC 8414 §2's default), else post when offered, else
/// Basic. Returns true for post.
pub fn prefer_post(supported: &[String]) -> bool {
    let offers = |m: &str| supported.iter().any(|s| s == m);
    !supported.is_empty() && !offers(CLIENT_SECRET_BASIC) && offers(CLIENT_SECRET_POST)
}

/// Where a client-authenticated request goes (RFC 6749 §2.3, §3.2): the
/// HTTP client, the endpoint's URL and the client's credentials. One value
/// for every token-endpoint request (and revocation, which authenticates the
/// same way), so that no call can pair a URL with the wrong client.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint<'a> {
    /// The HTTP client (its timeouts and CA roots).
    pub http: &'a reqwest::Client,
    /// The endpoint's URL.
    pub url: &'a str,
    /// Who the client is.
    pub creds: Credentials<'a>,
}

impl Credentials<'_> {
    /// The secret of a confidential client; `None` for a public one.
    pub fn secret(&self) -> Option<&SecretString> {
        self.client_secret.filter(|s| !s.is_empty())
    }
}

impl Endpoint<'_> {
    /// The oauth2 client for this endpoint taken as the token endpoint.
    pub fn oauth(&self) -> Result<OidcClient, OidcError> {
        let (token_endpoint, creds) = (self.url, self.creds);
        let url = TokenUrl::new(token_endpoint.to_owned())
            .map_err(|e| OidcError::Config(format!("bad token endpoint {token_endpoint}: {e}")))?;
        let auth = if creds.post {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        let mut client = oauth2::Client::new(ClientId::new(creds.client_id.to_owned()))
            .set_token_uri(url)
            .set_auth_type(auth);
        // oauth2 keeps its own (non-zeroizing) copy of the secret per request.
        // Without a secret, BasicAuth sends only `client_id` in the body.
        if let Some(secret) = creds.secret() {
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        Ok(client)
    }
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
            id_token: resp.extra_fields().id_token.clone(),
            scope: resp
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
        }
    }

    /// Whether its access token can be used ([`Self::unusable`] says why
    /// not).
    pub fn access_token_usable(&self) -> bool {
        let at = self.access_token.expose();
        !at.is_empty() && at.bytes().all(|b| b.is_ascii_graphic())
    }

    /// Why its access token cannot be used, if it cannot (the answer came
    /// from `url`): empty, or holding anything but visible ASCII (RFC 6750
    /// §2.1's `b64token` is narrower still, but providers such as
    /// Salesforce put `!` in theirs). It goes into `Authorization: Bearer`
    /// headers and git's line-based credential answers, where a provider's
    /// newline or space would be a header or a credential line of its
    /// choosing. Only the access token is refused: a refresh token in the
    /// same answer has replaced the one sent, and is kept.
    pub fn unusable(&self, url: &str) -> Option<OidcError> {
        if self.access_token_usable() {
            return None;
        }
        Some(OidcError::BadResponse {
            url: url.to_owned(),
            detail: if self.access_token.expose().is_empty() {
                "the access token is empty".to_owned()
            } else {
                "the access token holds white space, control or non-ASCII characters, which \
                 no bearer token may (RFC 6750 §2.1); it is not used"
                    .to_owned()
            },
        })
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

/// Turns an oauth2 request error from `url` into ours: the provider's OAuth
/// error, the transport's whole cause chain, or what failed to parse. A
/// refresh adds [`OidcError::for_refresh`] on top.
pub fn map_error(
    e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
    url: &str,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(resp) => OidcError::provider(
            url,
            resp.error().as_ref(),
            resp.error_description().map(String::as_str),
            resp.error_uri().map(String::as_str),
        ),
        // Start below oauth2's "Request failed" wrapper, at reqwest's error.
        RequestTokenError::Request(HttpClientError::Reqwest(err)) => {
            OidcError::unreachable(url, &*err)
        }
        // An answer read but not taken (too large): the provider's.
        RequestTokenError::Request(HttpClientError::Other(detail)) => OidcError::BadResponse {
            url: url.to_owned(),
            detail,
        },
        RequestTokenError::Request(err) => OidcError::unreachable(url, &err),
        RequestTokenError::Parse(err, body) => OidcError::BadResponse {
            url: url.to_owned(),
            detail: format!("{}{}", error_chain(&err), body_excerpt(&body)),
        },
        RequestTokenError::Other(detail) => OidcError::BadResponse {
            url: url.to_owned(),
            detail,
        },
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// POSTs `form` to `endpoint` with the client authentication of the token
/// endpoint (RFC 6749 §2.3.1), for the requests oauth2 does not make for us
/// (device polling, revocation over plain http). Returns status and body;
/// the body is zeroized on drop, since it may hold tokens.
pub(crate) async fn post_form(
    at: Endpoint<'_>,
    form: &[(&str, &str)],
) -> Result<(reqwest::StatusCode, Zeroizing<Vec<u8>>), OidcError> {
    let (endpoint, creds) = (at.url, at.creds);
    let mut form: Vec<(&str, &str)> = form.to_vec();
    let mut request = at
        .http
        .post(endpoint)
        .header(reqwest::header::ACCEPT, "application/json");
    match creds.secret() {
        None => form.push(("client_id", creds.client_id)),
        Some(secret) if creds.post => {
            form.push(("client_id", creds.client_id));
            form.push(("client_secret", secret.expose()));
        }
        Some(secret) => {
            // RFC 6749 §2.3.1: form-encode id and secret before Basic encoding.
            let id: String =
                url::form_urlencoded::byte_serialize(creds.client_id.as_bytes()).collect();
            let secret: Zeroizing<String> = Zeroizing::new(
                url::form_urlencoded::byte_serialize(secret.expose().as_bytes()).collect(),
            );
            request = request.basic_auth(id, Some(secret.as_str()));
        }
    }
    super::http::send(request.form(&form), endpoint).await
}

/// An OAuth error body (RFC 6749 §5.2), as sent by every endpoint.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    pub(crate) error_description: Option<String>,
    pub(crate) error_uri: Option<String>,
}

/// The error for a non-success answer from `endpoint`: the OAuth error it
/// carries, else the status and the start of a non-JSON body.
pub(crate) fn error_reply(endpoint: &str, status: reqwest::StatusCode, body: &[u8]) -> OidcError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => OidcError::provider(
            endpoint,
            &e.error,
            e.error_description.as_deref(),
            e.error_uri.as_deref(),
        ),
        Err(_) => OidcError::BadResponse {
            url: endpoint.to_owned(),
            detail: format!("HTTP {status} without an OAuth error{}", body_excerpt(body)),
        },
    }
}

/// Revokes a refresh token at `endpoint` (RFC 7009 §2.1).
///
/// Done by hand rather than with oauth2, whose revocation refuses `http`
/// endpoints; the client authenticates as at the token endpoint. A 200 means
/// the token is gone or was never valid (RFC 7009 §2.2).
///
/// # Errors
/// `Unreachable`, `Provider` (e.g. `unsupported_token_type`) or `BadResponse`.
pub async fn revoke_refresh_token(at: Endpoint<'_>, token: &SecretString) -> Result<(), OidcError> {
    let form = [
        ("token", token.expose()),
        ("token_type_hint", "refresh_token"),
    ];
    let (status, body) = post_form(at, &form).await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(error_reply(at.url, status, &body))
    }
}

/// What to ask for in a refresh.
#[derive(Debug, Clone, Copy)]
pub struct RefreshParams<'a> {
    /// The account (for messages).
    pub account: &'a str,
    /// The token endpoint and client.
    pub at: Endpoint<'a>,
    /// The refresh token.
    pub refresh_token: &'a SecretString,
    /// Scopes (empty: let the provider use the granted ones).
    pub scopes: &'a [String],
    /// Audiences (sent as `audience`, space-separated).
    pub audiences: &'a [String],
}

/// Refreshes an account's token: `scopes` and `audiences` when given, else
/// the account's refresh scopes and default audience (an account with no
/// scope sends none, so the provider keeps the granted ones, RFC 6749 §6).
/// `now` (Unix seconds) turns the reply's `expires_in` into `expires_at`.
pub async fn refresh_account(
    http: &reqwest::Client,
    token_endpoint: &str,
    config: &AccountConfig,
    scopes: &[String],
    audiences: &[String],
    now: i64,
) -> Result<TokenSet, OidcError> {
    let default_scopes;
    let scopes = if scopes.is_empty() {
        default_scopes = config.refresh_scopes();
        &default_scopes
    } else {
        scopes
    };
    let default_audiences;
    let audiences = if audiences.is_empty() {
        default_audiences = split_list(&config.audience);
        &default_audiences
    } else {
        audiences
    };
    let params = RefreshParams {
        account: &config.name,
        at: Endpoint {
            http,
            url: token_endpoint,
            creds: Credentials::of(config),
        },
        refresh_token: &config.refresh_token,
        scopes,
        audiences,
    };
    refresh(params, now).await
}

/// Runs the refresh grant (RFC 6749 §6).
pub async fn refresh(p: RefreshParams<'_>, now: i64) -> Result<TokenSet, OidcError> {
    let client = p.at.oauth()?;
    let rt = RefreshToken::new(p.refresh_token.expose().to_owned());
    let mut req = client
        .exchange_refresh_token(&rt)
        .add_scopes(p.scopes.iter().cloned().map(Scope::new));
    if !p.audiences.is_empty() {
        req = req.add_extra_param("audience", p.audiences.join(" "));
    }
    let resp = req
        .request_async(&super::http::Capped(p.at.http.clone()))
        .await
        .map_err(|e| map_error(e, p.at.url).for_refresh(p.account));
    // oauth2's token type is a plain String: wipe our copy ourselves.
    rt.into_secret().zeroize();
    Ok(TokenSet::from_response(&resp?, now))
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
