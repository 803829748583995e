//! Authorization URL and code exchange tests against the fake provider.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use serde_json::json;

use super::*;
use crate::oidc::fake_op::{FakeOp, Recorded, Reply, http_client};
use crate::oidc::test_support::{SECRET, assert_basic_auth, assert_tokens, client, public_client};
use crate::oidc::token::Credentials;

const REDIRECT: &str = "http://localhost:4242";
const NOW: i64 = 1_000_000;

fn scopes() -> Vec<String> {
    vec!["openid offline_access".to_owned(), "profile".to_owned()]
}

fn params<'a>(endpoint: &'a Url, scopes: &'a [String]) -> AuthUrlParams<'a> {
    AuthUrlParams {
        authorization_endpoint: endpoint,
        client_id: "client-1",
        redirect_uri: REDIRECT,
        scopes,
        audiences: &[],
        audience_mode: AudienceMode::Resource,
        only_access_token: false,
        code_challenge_methods_supported: None,
    }
}

fn query(url: &Url) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in url.query_pairs() {
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    map
}

fn one<'a>(q: &'a HashMap<String, Vec<String>>, key: &str) -> Option<&'a str> {
    q.get(key).map(|v| {
        assert_eq!(v.len(), 1, "{key} repeated");
        v[0].as_str()
    })
}

fn authorize_endpoint() -> Url {
    Url::parse("https://op.example/authorize?tenant=x").expect("url")
}

#[test]
fn url_carries_pkce_state_nonce_and_offline_params() {
    let endpoint = authorize_endpoint();
    let scopes = scopes();
    let pending = authorization_url(&params(&endpoint, &scopes)).expect("url");
    let q = query(pending.url());
    assert_eq!(pending.url().path(), "/authorize");
    assert_eq!(one(&q, "tenant"), Some("x"), "endpoint's own query kept");
    assert_eq!(one(&q, "response_type"), Some("code"));
    assert_eq!(one(&q, "client_id"), Some("client-1"));
    assert_eq!(
        one(&q, "redirect_uri"),
        Some(REDIRECT),
        "sent byte for byte"
    );
    assert_eq!(one(&q, "scope"), Some("openid offline_access profile"));
    assert_eq!(one(&q, "state"), Some(pending.state().expose()));
    assert_eq!(one(&q, "nonce"), Some(pending.nonce().expose()));
    assert_ne!(pending.state().expose(), pending.nonce().expose());
    assert_eq!(one(&q, "code_challenge_method"), Some("S256"));
    assert_eq!(one(&q, "code_challenge").map(str::len), Some(43));
    assert_eq!(one(&q, "prompt"), Some("consent"));
    assert_eq!(one(&q, "access_type"), Some("offline"));
    assert!(pending.uses_pkce());
    let verifier = pending.pkce_verifier.as_ref().expect("verifier");
    assert_eq!(verifier.expose().len(), 128);
    let debug = format!("{pending:?}");
    // The URL (with state and challenge) is public; the verifier is not.
    assert!(!debug.contains(verifier.expose()));
}

#[test]
fn each_attempt_is_fresh() {
    let endpoint = authorize_endpoint();
    let scopes = scopes();
    let a = authorization_url(&params(&endpoint, &scopes)).expect("a");
    let b = authorization_url(&params(&endpoint, &scopes)).expect("b");
    assert_ne!(a.state().expose(), b.state().expose());
    assert_ne!(a.nonce().expose(), b.nonce().expose());
    assert_ne!(
        one(&query(a.url()), "code_challenge"),
        one(&query(b.url()), "code_challenge")
    );
}

#[test]
fn only_access_token_skips_consent_and_offline() {
    let endpoint = authorize_endpoint();
    let scopes = scopes();
    let pending = authorization_url(&AuthUrlParams {
        only_access_token: true,
        ..params(&endpoint, &scopes)
    })
    .expect("url");
    let q = query(pending.url());
    assert!(!q.contains_key("prompt") && !q.contains_key("access_type"));
}

#[test]
fn pkce_s256_unless_the_provider_lists_methods_without_it() {
    let endpoint = authorize_endpoint();
    let scopes = scopes();
    let cases: [(Option<&[String]>, bool); 4] = [
        (None, true),
        (Some(&[]), true),
        (Some(&["plain".to_owned(), "S256".to_owned()]), true),
        (Some(&["plain".to_owned()]), false),
    ];
    for (methods, expect_pkce) in cases {
        let pending = authorization_url(&AuthUrlParams {
            code_challenge_methods_supported: methods,
            ..params(&endpoint, &scopes)
        })
        .expect("url");
        let q = query(pending.url());
        assert_eq!(pending.uses_pkce(), expect_pkce, "{methods:?}");
        assert_eq!(q.contains_key("code_challenge"), expect_pkce, "{methods:?}");
        assert_ne!(one(&q, "code_challenge_method"), Some("plain"));
    }
}

#[test]
fn audiences_as_resource_or_legacy() {
    let endpoint = authorize_endpoint();
    let scopes = scopes();
    let audiences = vec!["https://a.example".to_owned(), "b".to_owned()];
    let resource = authorization_url(&AuthUrlParams {
        audiences: &audiences,
        ..params(&endpoint, &scopes)
    })
    .expect("url");
    assert_eq!(query(resource.url()).get("resource"), Some(&audiences));
    let legacy = authorization_url(&AuthUrlParams {
        audiences: &audiences,
        audience_mode: AudienceMode::Legacy,
        ..params(&endpoint, &scopes)
    })
    .expect("url");
    let q = query(legacy.url());
    assert_eq!(one(&q, "audience"), Some("https://a.example b"));
    assert!(!q.contains_key("resource"));
}

fn token_json() -> serde_json::Value {
    json!({
        "access_token": "AT-1",
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "RT-1",
        "id_token": "eyJ.id.token",
        "scope": "openid offline_access profile"
    })
}

fn pending_for_exchange() -> PendingAuthorization {
    let endpoint = authorize_endpoint();
    let scopes = scopes();
    authorization_url(&params(&endpoint, &scopes)).expect("url")
}

/// Exchanges the code `c` of a fresh authorization at `token_endpoint`.
async fn exchange(
    http: &reqwest::Client,
    token_endpoint: &Url,
    client: Credentials<'_>,
) -> Result<TokenSet, OidcError> {
    let code = SecretString::new("c".to_owned());
    let at = Endpoint {
        http,
        url: token_endpoint.as_str(),
        creds: client,
    };
    exchange_code(at, &pending_for_exchange(), &code, NOW).await
}

#[tokio::test]
async fn public_client_exchange_sends_verifier_and_no_secret() {
    let op = FakeOp::start();
    op.push("/token", Reply::json(200, &token_json()));
    let pending = pending_for_exchange();
    let code = SecretString::new("the-code".to_owned());
    let http = http_client(Duration::from_secs(5));
    let url = op.url("/token");
    let at = Endpoint {
        http: &http,
        url: url.as_str(),
        creds: public_client(),
    };
    let tokens = exchange_code(at, &pending, &code, NOW)
        .await
        .expect("tokens");
    assert_tokens(&tokens, "AT-1", "RT-1", "eyJ.id.token");
    assert_eq!(tokens.expires_at, Some(NOW + 3600));
    assert_eq!(
        tokens.scope.as_deref(),
        Some("openid offline_access profile")
    );
    assert!(
        !format!("{tokens:?}").contains("AT-1"),
        "Debug must redact tokens"
    );

    let requests = op.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        sent.header("authorization"),
        None,
        "public client: no Basic auth"
    );
    assert_eq!(
        sent.form("client_secret"),
        None,
        "public client: never a secret"
    );
    assert_eq!(sent.form("client_id").as_deref(), Some("client-1"));
    assert_eq!(
        sent.form("grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(sent.form("code").as_deref(), Some("the-code"));
    assert_eq!(sent.form("redirect_uri").as_deref(), Some(REDIRECT));
    // RFC 7636 §4.6: the verifier sent must hash to the challenge in the URL.
    let verifier = sent.form("code_verifier").expect("code_verifier sent");
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
    let url_challenge = query(pending.url())
        .remove("code_challenge")
        .expect("challenge");
    assert_eq!(url_challenge, vec![challenge.as_str().to_owned()]);
}

/// Exchanges a code at a fresh provider as `client`; returns the request
/// sent.
async fn request_sent_by(client: Credentials<'_>) -> Recorded {
    let op = FakeOp::start();
    op.push("/token", Reply::json(200, &token_json()));
    exchange(
        &http_client(Duration::from_secs(5)),
        &op.url("/token"),
        client,
    )
    .await
    .expect("tokens");
    op.requests().remove(0)
}

#[tokio::test]
async fn confidential_client_uses_http_basic() {
    let secret = SecretString::from(SECRET);
    assert_basic_auth(&request_sent_by(client(Some(&secret), false)).await);
}

#[tokio::test]
async fn client_secret_post_sends_the_secret_in_the_body() {
    let secret = SecretString::from(SECRET);
    let sent = request_sent_by(client(Some(&secret), true)).await;
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.form("client_id").as_deref(), Some("client-1"));
    assert_eq!(sent.form("client_secret").as_deref(), Some(SECRET));
}

#[test]
fn auth_method_follows_the_provider() {
    let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(!token::prefer_post(&[]), "absent: Basic (RFC 8414 §2)");
    assert!(!token::prefer_post(&list(&[
        "client_secret_basic",
        "client_secret_post"
    ])));
    assert!(token::prefer_post(&list(&[
        "client_secret_post",
        "private_key_jwt"
    ])));
    assert!(!token::prefer_post(&list(&["private_key_jwt"])));
}

#[tokio::test]
async fn empty_secret_is_a_public_client() {
    let empty = SecretString::default();
    let sent = request_sent_by(client(Some(&empty), false)).await;
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.form("client_id").as_deref(), Some("client-1"));
    assert_eq!(sent.form("client_secret"), None);
}

#[test]
fn pending_authorization_survives_serialization() {
    let pending = pending_for_exchange();
    let json = serde_json::to_string(&pending).expect("serialize");
    let back: PendingAuthorization = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back.url(), pending.url());
    assert_eq!(back.state().expose(), pending.state().expose());
    assert_eq!(back.redirect_uri(), pending.redirect_uri());
    assert_eq!(
        back.pkce_verifier.as_ref().map(SecretString::expose),
        pending.pkce_verifier.as_ref().map(SecretString::expose)
    );
}

async fn exchange_against(op: &FakeOp, http: &reqwest::Client) -> OidcError {
    exchange(http, &op.url("/token"), public_client())
        .await
        .expect_err("exchange should fail")
}

/// The error of an exchange that a fresh provider answers with `reply`.
async fn error_for(reply: Reply) -> OidcError {
    let op = FakeOp::start();
    op.push("/token", reply);
    exchange_against(&op, &http_client(Duration::from_secs(5))).await
}

#[tokio::test]
async fn provider_error_keeps_code_and_description() {
    let err = error_for(Reply::error(400, "invalid_grant", "Code not valid")).await;
    match &err {
        OidcError::Provider {
            error, description, ..
        } => {
            assert_eq!(error, "invalid_grant");
            assert_eq!(description.as_deref(), Some("Code not valid"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("Code not valid")
            && message.contains("start the login again")
            && message.contains("/token"),
        "{message}"
    );
}

#[tokio::test]
async fn invalid_client_is_distinct_with_remedy() {
    let err = error_for(Reply::json(401, &json!({"error": "invalid_client"}))).await;
    assert!(matches!(&err, OidcError::Provider { error, .. } if error == "invalid_client"));
    assert!(err.to_string().contains("client id and secret"));
    assert_eq!(err.kind(), crate::error::ErrorKind::ProviderError);
}

#[tokio::test]
async fn connection_refused_reports_the_whole_chain() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let endpoint = Url::parse(&format!("http://127.0.0.1:{port}/token")).expect("url");
    let err = exchange(
        &http_client(Duration::from_secs(5)),
        &endpoint,
        public_client(),
    )
    .await
    .expect_err("refused");
    let OidcError::Unreachable { detail, .. } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(err.kind(), crate::error::ErrorKind::ProviderUnreachable);
    assert!(
        detail.to_lowercase().contains("refused"),
        "chain lost: {detail}"
    );
}

#[tokio::test]
async fn timeout_is_unreachable_and_says_so() {
    let op = FakeOp::start();
    // Held until the client has given up: only its own timeout ends the call.
    let held = op.hold_next("/token");
    let err = exchange_against(&op, &http_client(Duration::from_millis(150))).await;
    held.release();
    assert!(
        matches!(
            &err,
            OidcError::Unreachable {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    // A private CA is no cause of a timeout: not offered as the remedy.
    let said = err.to_string();
    assert!(
        said.contains("did not answer in time") && !said.contains("--cp"),
        "{said}"
    );
}

#[tokio::test]
async fn unparsable_replies_are_invalid_response() {
    let gateway = error_for(Reply::raw(502, "text/html", "<html>Bad Gateway</html>")).await;
    assert!(
        matches!(&gateway, OidcError::BadResponse { detail, .. } if detail.contains("Bad Gateway")),
        "{gateway:?}"
    );
    let html = error_for(Reply::raw(200, "text/html", "<html>login page</html>")).await;
    assert!(matches!(html, OidcError::BadResponse { .. }), "{html:?}");
    let missing = error_for(Reply::json(
        200,
        &json!({"token_type": "Bearer", "refresh_token": "RT-secret"}),
    ))
    .await;
    let OidcError::BadResponse { detail, .. } = &missing else {
        panic!("unexpected {missing:?}");
    };
    assert!(detail.contains("access_token"), "{detail}");
    assert!(
        !detail.contains("RT-secret"),
        "JSON bodies stay out of messages: {detail}"
    );
}
