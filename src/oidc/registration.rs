//! RFC 7591 dynamic client registration and RFC 7592 client deletion.
//!
//! Builds the registration request oidc-gen sends when no client id is
//! given, and reads the provider's answer. What to register (names, redirect
//! URIs, grant types) is decided by the CLI; this module only speaks the
//! protocol and never prints.

use serde::{Deserialize, Serialize};

use super::OidcError;
use super::token::error_reply;
use crate::secret::SecretString;

/// RFC 8628 §3.4: the device-code grant type, as registered.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The client metadata we register (RFC 7591 §2).
#[derive(Debug, Clone, Serialize)]
pub struct ClientMetadata {
    /// A human-readable name, shown on the provider's consent page.
    pub client_name: String,
    /// Redirect URIs; loopback ones without a port let any port through
    /// (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// Grant types, e.g. `authorization_code` and `refresh_token`.
    pub grant_types: Vec<String>,
    /// Response types; `code` for the code flow.
    pub response_types: Vec<String>,
    /// `none` for a public client, `client_secret_basic` otherwise.
    pub token_endpoint_auth_method: String,
    /// The scopes the client may ask for, space-separated.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// OIDC Dynamic Client Registration §2: `native` allows `http` loopback
    /// redirect URIs, which `web` clients may not use.
    pub application_type: String,
}

/// The provider's answer (RFC 7591 §3.2.1).
#[derive(Debug, Deserialize)]
pub struct RegisteredClient {
    /// The issued client id.
    pub client_id: String,
    /// The issued secret; absent for a public client.
    pub client_secret: Option<SecretString>,
    /// Where the registration can be read, changed or deleted (RFC 7592).
    pub registration_client_uri: Option<String>,
    /// The bearer token for `registration_client_uri`.
    pub registration_access_token: Option<SecretString>,
    /// The scopes the provider granted the client, when it says.
    pub scope: Option<String>,
}

/// Registers a client at `endpoint` (RFC 7591 §3.1). `initial_access_token`
/// is the bearer token a protected endpoint needs (`oidc-gen --at`).
///
/// # Errors
/// `Unreachable` when the request does not complete, `Provider` for an
/// RFC 7591 §3.2.2 error (`invalid_redirect_uri`, ...), `BadResponse` for
/// anything else, with a hint to `--at` on 401 and 403.
pub async fn register(
    http: &reqwest::Client,
    endpoint: &str,
    initial_access_token: Option<&SecretString>,
    metadata: &ClientMetadata,
) -> Result<RegisteredClient, OidcError> {
    let body = serde_json::to_vec(metadata).map_err(|e| OidcError::Config(e.to_string()))?;
    let mut request = http
        .post(endpoint)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(token) = initial_access_token {
        request = request.bearer_auth(token.expose());
    }
    let (status, body) = super::http::send(request, endpoint).await?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| OidcError::BadResponse {
            url: endpoint.to_owned(),
            detail: format!("not a client registration response: {e}"),
        });
    }
    match error_reply(endpoint, status, &body) {
        OidcError::BadResponse { url, detail } if matches!(status.as_u16(), 401 | 403) => {
            Err(OidcError::BadResponse {
                url,
                detail: format!(
                    "{detail}; the registration endpoint needs an access token: pass one with --at, \
                     or use a registered client with --client-id"
                ),
            })
        }
        other => Err(other),
    }
}

/// Deletes a dynamically registered client (RFC 7592 §2.3).
///
/// # Errors
/// `Unreachable`, `Provider` or `BadResponse`, as for [`register`].
pub async fn delete_client(
    http: &reqwest::Client,
    registration_client_uri: &str,
    registration_access_token: &SecretString,
) -> Result<(), OidcError> {
    let request = http
        .delete(registration_client_uri)
        .bearer_auth(registration_access_token.expose());
    let (status, body) = super::http::send(request, registration_client_uri).await?;
    if status.is_success() {
        return Ok(());
    }
    Err(error_reply(registration_client_uri, status, &body))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::oidc::fake_op::{FakeOp, Reply, http_client};

    fn metadata() -> ClientMetadata {
        ClientMetadata {
            client_name: "oidc-agent:kit-host".to_owned(),
            redirect_uris: vec!["http://127.0.0.1".to_owned(), "http://localhost".to_owned()],
            grant_types: vec!["authorization_code".to_owned(), DEVICE_GRANT.to_owned()],
            response_types: vec!["code".to_owned()],
            token_endpoint_auth_method: "none".to_owned(),
            scope: "openid offline_access".to_owned(),
            application_type: "native".to_owned(),
        }
    }

    #[tokio::test]
    async fn registers_with_bearer_and_reads_the_answer() {
        let op = FakeOp::start();
        op.push(
            "/register",
            Reply::json(
                201,
                &json!({
                    "client_id": "dyn-1",
                    "client_secret": "dyn-secret",
                    "registration_client_uri": "https://op/register/dyn-1",
                    "registration_access_token": "rat",
                    "redirect_uris": ["http://127.0.0.1"]
                }),
            ),
        );
        let http = http_client(Duration::from_secs(5));
        let at = SecretString::from("initial-at");
        let client = register(&http, op.url("/register").as_str(), Some(&at), &metadata())
            .await
            .expect("registered");
        assert_eq!(client.client_id, "dyn-1");
        assert_eq!(
            client.client_secret.as_ref().map(SecretString::expose),
            Some("dyn-secret")
        );
        assert_eq!(
            client.registration_client_uri.as_deref(),
            Some("https://op/register/dyn-1")
        );
        let sent = &op.requests()[0];
        assert_eq!(sent.header("authorization"), Some("Bearer initial-at"));
        let body: serde_json::Value = serde_json::from_str(&sent.body).expect("JSON body");
        assert_eq!(body["client_name"], "oidc-agent:kit-host");
        assert_eq!(body["token_endpoint_auth_method"], "none");
        assert_eq!(body["grant_types"][1], DEVICE_GRANT);
        assert_eq!(body["application_type"], "native");
    }

    #[tokio::test]
    async fn errors_name_the_remedy() {
        let op = FakeOp::start();
        op.push(
            "/register",
            Reply::error(400, "invalid_redirect_uri", "no http"),
        );
        op.push("/register", Reply::raw(401, "text/plain", "login first"));
        let http = http_client(Duration::from_secs(5));
        let url = op.url("/register");
        let err = register(&http, url.as_str(), None, &metadata())
            .await
            .expect_err("refused");
        assert!(
            matches!(&err, OidcError::Provider { error, .. } if error == "invalid_redirect_uri"),
            "{err:?}"
        );
        assert!(err.to_string().contains("--redirect-uri"), "{err}");
        let err = register(&http, url.as_str(), None, &metadata())
            .await
            .expect_err("unauthorized");
        assert!(err.to_string().contains("--at"), "{err}");
    }
}
