//! Device flow tests against the fake provider, with 1 protocol second
//! scaled down to a few milliseconds.

use serde_json::json;

use super::*;
use crate::oidc::fake_op::{FakeOp, Reply, http_client};
use crate::oidc::test_support::{SECRET, assert_basic_auth, assert_tokens, client, public_client};
use crate::oidc::token::Credentials;

const UNIT: Duration = Duration::from_millis(20);

fn options() -> PollOptions {
    PollOptions {
        time_unit: UNIT,
        max_network_retries: 3,
    }
}

/// Device authorization at `endpoint` for the public client; its token
/// endpoint (port 1) is never called by the start of the flow.
fn device_params<'a>(
    http: &'a reqwest::Client,
    endpoint: &'a Url,
    scopes: &'a [String],
) -> DeviceParams<'a> {
    DeviceParams {
        device_authorization_endpoint: endpoint,
        token: Endpoint {
            http,
            url: "http://127.0.0.1:1/token",
            creds: public_client(),
        },
        scopes,
        audiences: &[],
        audience_mode: AudienceMode::Resource,
    }
}

fn authorization(interval: u64, expires_in: u64) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code: SecretString::new("DC-1".to_owned()),
        user_code: "ABCD-EFGH".to_owned(),
        verification_uri: "https://op.example/device".to_owned(),
        verification_uri_complete: None,
        expires_in: Duration::from_secs(expires_in),
        interval: Duration::from_secs(interval),
        issued_at: Instant::now(),
    }
}

fn token_json() -> serde_json::Value {
    json!({
        "access_token": "AT-D",
        "token_type": "bearer",
        "expires_in": 300,
        "refresh_token": "RT-D",
        "id_token": "id.D"
    })
}

/// Polls with `client` and `auth`; returns the result and the non-tick events.
async fn poll(
    op: &FakeOp,
    client: Credentials<'_>,
    auth: &DeviceAuthorization,
    options: &PollOptions,
) -> (Result<TokenSet, DeviceError>, Vec<PollEvent>) {
    let mut events = Vec::new();
    let http = http_client(Duration::from_secs(5));
    let url = op.url("/token");
    let at = Endpoint {
        http: &http,
        url: url.as_str(),
        creds: client,
    };
    let result = poll_for_token(at, auth, options, |e| {
        if !matches!(e, PollEvent::Tick { .. }) {
            events.push(e);
        }
    })
    .await;
    (result, events)
}

/// Polls as the public client for a 1 s / 600 s authorization, with the
/// default options.
async fn poll_public(op: &FakeOp) -> (Result<TokenSet, DeviceError>, Vec<PollEvent>) {
    poll(op, public_client(), &authorization(1, 600), &options()).await
}

#[tokio::test]
async fn start_sends_scopes_and_reads_the_codes() {
    let op = FakeOp::start();
    op.push(
        "/device",
        Reply::json(
            200,
            &json!({
                "device_code": "DC-1",
                "user_code": "ABCD-EFGH",
                "verification_uri": "https://op.example/device",
                "verification_uri_complete": "https://op.example/device?user_code=ABCD-EFGH",
                "expires_in": 600,
                "interval": 2
            }),
        ),
    );
    // Google's pre-RFC spelling, and no interval: RFC 8628 §3.2 default 5 s.
    op.push(
        "/device",
        Reply::json(
            200,
            &json!({
                "device_code": "DC-2",
                "user_code": "XY",
                "verification_url": "https://op.example/dev",
                "expires_in": 1800
            }),
        ),
    );
    let endpoint = op.url("/device");
    let scopes = vec!["openid offline_access".to_owned()];
    let http = http_client(Duration::from_secs(5));
    let params = device_params(&http, &endpoint, &scopes);
    let first = start_device_authorization(&params).await.expect("first");
    assert_eq!(first.device_code.expose(), "DC-1");
    assert_eq!(first.user_code, "ABCD-EFGH");
    assert_eq!(first.verification_uri, "https://op.example/device");
    assert_eq!(
        first.verification_uri_complete.as_deref(),
        Some("https://op.example/device?user_code=ABCD-EFGH")
    );
    assert_eq!(first.expires_in, Duration::from_secs(600));
    assert_eq!(first.interval, Duration::from_secs(2));
    assert!(
        !format!("{first:?}").contains("DC-1"),
        "Debug must redact the device code"
    );

    let second = start_device_authorization(&params).await.expect("second");
    assert_eq!(second.verification_uri, "https://op.example/dev");
    assert_eq!(second.interval, Duration::from_secs(5));

    let sent = &op.requests()[0];
    assert_eq!(sent.form("scope").as_deref(), Some("openid offline_access"));
    assert_eq!(sent.form("client_id").as_deref(), Some("client-1"));
    assert_eq!(sent.form("client_secret"), None);
    assert_eq!(sent.header("authorization"), None);
}

#[tokio::test]
async fn start_reports_provider_errors() {
    let op = FakeOp::start();
    op.push("/device", Reply::oauth_error("unauthorized_client"));
    let endpoint = op.url("/device");
    let http = http_client(Duration::from_secs(5));
    let params = device_params(&http, &endpoint, &[]);
    let err = start_device_authorization(&params)
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, DeviceError::Oidc(OidcError::Provider { error, .. }) if error == "unauthorized_client"),
        "{err:?}"
    );
}

#[tokio::test]
async fn pending_then_slow_down_then_tokens() {
    let op = FakeOp::start();
    op.push("/token", Reply::oauth_error("authorization_pending"));
    op.push("/token", Reply::oauth_error("slow_down"));
    op.push("/token", Reply::json(200, &token_json()));
    let (result, events) = poll_public(&op).await;
    let tokens = result.expect("tokens");
    assert_tokens(&tokens, "AT-D", "RT-D", "id.D");
    // RFC 8628 §3.5: slow_down adds 5 s to the 1 s interval.
    assert_eq!(
        events,
        vec![
            PollEvent::Pending,
            PollEvent::SlowDown { interval: UNIT * 6 }
        ]
    );

    let requests = op.requests();
    assert_eq!(requests.len(), 3);
    for sent in &requests {
        assert_eq!(sent.form("grant_type").as_deref(), Some(DEVICE_GRANT));
        assert_eq!(sent.form("device_code").as_deref(), Some("DC-1"));
        assert_eq!(sent.form("client_id").as_deref(), Some("client-1"));
        assert_eq!(sent.form("client_secret"), None);
        assert_eq!(sent.header("authorization"), None);
    }
    let after_slow_down = requests[2].at - requests[1].at;
    assert!(
        after_slow_down >= UNIT * 6,
        "interval not increased: {after_slow_down:?}"
    );
}

#[tokio::test]
async fn access_denied_and_expired_token_end_the_flow() {
    let op = FakeOp::start();
    op.push("/token", Reply::error(400, "access_denied", "user said no"));
    op.push("/token", Reply::oauth_error("expired_token"));
    let (denied, _) = poll_public(&op).await;
    match denied {
        Err(ref err @ DeviceError::AccessDenied { ref description }) => {
            assert_eq!(description.as_deref(), Some("user said no"));
            assert_eq!(err.kind(), ErrorKind::ProviderError);
        }
        other => panic!("unexpected {other:?}"),
    }
    let (expired, _) = poll_public(&op).await;
    assert!(matches!(expired, Err(DeviceError::Expired)), "{expired:?}");
}

#[tokio::test]
async fn expires_in_deadline_stops_polling() {
    let op = FakeOp::start();
    for _ in 0..10 {
        op.push("/token", Reply::oauth_error("authorization_pending"));
    }
    let (result, _) = poll(&op, public_client(), &authorization(1, 3), &options()).await;
    assert!(matches!(result, Err(DeviceError::Expired)), "{result:?}");
    assert!(op.requests().len() <= 3, "polled after the deadline");
}

#[tokio::test]
async fn confidential_client_polls_with_http_basic() {
    let op = FakeOp::start();
    op.push("/token", Reply::json(200, &token_json()));
    let secret = SecretString::from(SECRET);
    let (result, _) = poll(
        &op,
        client(Some(&secret), false),
        &authorization(1, 600),
        &options(),
    )
    .await;
    result.expect("tokens");
    assert_basic_auth(&op.requests()[0]);
}

#[tokio::test]
async fn transport_errors_are_retried_then_reported() {
    let op = FakeOp::start();
    op.push("/token", Reply::broken());
    op.push("/token", Reply::json(200, &token_json()));
    let (result, events) = poll_public(&op).await;
    result.expect("tokens after one retry");
    assert!(
        matches!(events.as_slice(), [PollEvent::NetworkRetry { retry_in, .. }] if *retry_in == UNIT * 2),
        "{events:?}"
    );

    op.push("/token", Reply::broken());
    op.push("/token", Reply::broken());
    let once = PollOptions {
        max_network_retries: 1,
        ..options()
    };
    let (result, _) = poll(&op, public_client(), &authorization(1, 600), &once).await;
    assert!(
        matches!(
            result,
            Err(DeviceError::Oidc(OidcError::Unreachable { .. }))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn other_errors_are_typed() {
    let op = FakeOp::start();
    op.push("/token", Reply::oauth_error("invalid_client"));
    op.push(
        "/token",
        Reply::raw(200, "text/html", "<html>portal</html>"),
    );
    op.push("/token", Reply::raw(503, "text/plain", "maintenance"));
    let (client_err, _) = poll_public(&op).await;
    assert!(
        matches!(&client_err, Err(DeviceError::Oidc(OidcError::Provider { error, .. })) if error == "invalid_client"),
        "{client_err:?}"
    );
    let (html, _) = poll_public(&op).await;
    assert!(
        matches!(html, Err(DeviceError::Oidc(OidcError::BadResponse { .. }))),
        "{html:?}"
    );
    let (unavailable, _) = poll_public(&op).await;
    let Err(DeviceError::Oidc(OidcError::BadResponse { detail, .. })) = &unavailable else {
        panic!("unexpected {unavailable:?}");
    };
    assert!(
        detail.contains("503") && detail.contains("maintenance"),
        "{detail}"
    );
}

#[test]
fn flow_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let http = http_client(Duration::from_secs(5));
    let endpoint = Url::parse("http://127.0.0.1:1/token").expect("url");
    let client = public_client();
    let auth = authorization(1, 600);
    let options = options();
    let at = Endpoint {
        http: &http,
        url: endpoint.as_str(),
        creds: client,
    };
    let poll = poll_for_token(at, &auth, &options, |_| {});
    assert_send(&poll);
    assert_send(&start_device_authorization(&device_params(
        &http,
        &endpoint,
        &[],
    )));
    let pending = crate::oidc::authcode::authorization_url(&crate::oidc::authcode::AuthUrlParams {
        authorization_endpoint: &endpoint,
        client_id: "c",
        redirect_uri: "http://localhost:4242",
        scopes: &[],
        audiences: &[],
        audience_mode: AudienceMode::Resource,
        only_access_token: false,
        code_challenge_methods_supported: None,
    })
    .expect("url");
    let code = SecretString::new("c".to_owned());
    let exchange = crate::oidc::authcode::exchange_code(at, &pending, &code, 0);
    assert_send(&exchange);
}
