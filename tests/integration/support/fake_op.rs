//! A small std-only OpenID provider for the hermetic tests: discovery, a
//! token endpoint with scripted behaviour (rotation, delays, revocation, no
//! `expires_in`, going down), and the interactive endpoints oidc-gen needs:
//! authorization (code + PKCE S256, 302 to the loopback redirect), device
//! authorization (RFC 8628), dynamic registration (RFC 7591/7592) and
//! revocation (RFC 7009). Every token-endpoint request is recorded, and
//! every protocol violation a client commits (a secret sent by a public
//! client, a bad PKCE verifier, ...) is recorded in `violations` as well as
//! refused, so tests can say exactly what went wrong.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use base64::Engine as _;

/// A public client known to the provider: it must never send a secret.
pub const PUBLIC_CLIENT: &str = "OpenCloudDesktop";
/// A confidential client known to the provider: HTTP Basic only.
pub const CONF_CLIENT: &str = "conf-client";
/// The secret of [`CONF_CLIENT`].
pub const CONF_SECRET: &str = "conf:secret/1";

/// The RFC 8628 grant type.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// One recorded token-endpoint request.
#[derive(Debug, Clone)]
pub struct TokenCall {
    pub form: HashMap<String, String>,
    pub basic_auth: Option<String>,
}

#[derive(Debug)]
pub struct Config {
    pub rotate: bool,
    pub expires_in: Option<u64>,
    pub delay: Duration,
    pub jwt_access_tokens: bool,
    /// The authorization endpoint answers `error=access_denied`.
    pub deny_consent: bool,
    /// Device polls answered `authorization_pending` before the outcome.
    pub device_pending_polls: u32,
    /// The device grant ends in `access_denied` instead of tokens.
    pub device_deny: bool,
    /// Discovery lists the registration endpoint.
    pub registration: bool,
    /// The registration endpoint wants this bearer token.
    pub registration_token: Option<String>,
    /// Discovery names this issuer instead of the real one.
    pub discovery_issuer: Option<String>,
    /// Discovery lists the device authorization endpoint.
    pub device_discovery: bool,
}

/// An issued authorization code.
#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
}

#[derive(Debug)]
struct DeviceGrant {
    client_id: String,
    polls: u32,
}

#[derive(Debug)]
pub struct Inner {
    pub valid_rts: Mutex<HashSet<String>>,
    pub calls: Mutex<Vec<TokenCall>>,
    pub config: Mutex<Config>,
    /// client_id → secret (`None`: public client).
    pub clients: Mutex<HashMap<String, Option<String>>>,
    /// Query parameters of every authorization request.
    pub auth_requests: Mutex<Vec<HashMap<String, String>>>,
    /// Bodies and Authorization headers of registration requests.
    pub registrations: Mutex<Vec<(serde_json::Value, Option<String>)>>,
    /// Client ids deleted through RFC 7592.
    pub deleted_clients: Mutex<Vec<String>>,
    /// Tokens revoked through RFC 7009.
    pub revoked: Mutex<Vec<String>>,
    /// Protocol violations by clients, in words.
    pub violations: Mutex<Vec<String>>,
    /// Successful PKCE verifications.
    pub pkce_verified: AtomicU64,
    codes: Mutex<HashMap<String, CodeGrant>>,
    devices: Mutex<HashMap<String, DeviceGrant>>,
    counter: AtomicU64,
    stopped: AtomicBool,
    /// A trap for the next refresh-token grant (see [`FakeOp::hold_next_refresh`]).
    hold: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

/// A refresh-token grant the provider holds until the test releases it.
pub struct Held {
    arrived: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl Held {
    /// Waits until the held request has reached the provider.
    pub fn arrived(&self) {
        self.arrived
            .recv_timeout(Duration::from_secs(30))
            .expect("the held refresh never reached the provider");
    }

    /// Lets the held request go on.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// The running provider; stops when dropped.
pub struct FakeOp {
    pub issuer: String,
    pub inner: Arc<Inner>,
    port: u16,
}

impl FakeOp {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake OP");
        let port = listener.local_addr().expect("addr").port();
        let issuer = format!("http://127.0.0.1:{port}/");
        let inner = Arc::new(Inner {
            valid_rts: Mutex::new(HashSet::from(["rt-initial".to_owned()])),
            calls: Mutex::new(Vec::new()),
            config: Mutex::new(Config {
                rotate: false,
                expires_in: Some(300),
                delay: Duration::ZERO,
                jwt_access_tokens: false,
                deny_consent: false,
                device_pending_polls: 1,
                device_deny: false,
                registration: true,
                registration_token: None,
                discovery_issuer: None,
                device_discovery: true,
            }),
            clients: Mutex::new(HashMap::from([
                (PUBLIC_CLIENT.to_owned(), None),
                (CONF_CLIENT.to_owned(), Some(CONF_SECRET.to_owned())),
            ])),
            auth_requests: Mutex::new(Vec::new()),
            registrations: Mutex::new(Vec::new()),
            deleted_clients: Mutex::new(Vec::new()),
            revoked: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            pkce_verified: AtomicU64::new(0),
            codes: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            hold: Mutex::new(None),
        });
        let (inner2, issuer2) = (inner.clone(), issuer.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if inner2.stopped.load(Ordering::SeqCst) {
                    break; // dropping the listener closes the port
                }
                let Ok(stream) = stream else { continue };
                let (inner3, issuer3) = (inner2.clone(), issuer2.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &inner3, &issuer3);
                });
            }
        });
        Self {
            issuer,
            inner,
            port,
        }
    }

    /// Holds the next refresh-token grant when it arrives (before it is
    /// answered) until the returned [`Held`] is released: a test can then act
    /// while a refresh is deterministically under way.
    pub fn hold_next_refresh(&self) -> Held {
        let (arrived_tx, arrived) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        *self.inner.hold.lock().expect("lock") = Some((arrived_tx, release_rx));
        Held { arrived, release }
    }

    pub fn set<F: FnOnce(&mut Config)>(&self, f: F) {
        f(&mut self.inner.config.lock().expect("lock"));
    }

    /// Number of refresh grants received.
    pub fn refreshes(&self) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.form.get("grant_type").map(String::as_str) == Some("refresh_token"))
            .count()
    }

    pub fn calls(&self) -> Vec<TokenCall> {
        self.inner.calls.lock().expect("lock").clone()
    }

    /// Token-endpoint requests with this `grant_type`.
    pub fn grants(&self, grant_type: &str) -> Vec<TokenCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.form.get("grant_type").map(String::as_str) == Some(grant_type))
            .collect()
    }

    pub fn valid_rts(&self) -> HashSet<String> {
        self.inner.valid_rts.lock().expect("lock").clone()
    }

    pub fn revoke_all(&self) {
        self.inner.valid_rts.lock().expect("lock").clear();
    }

    pub fn auth_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.auth_requests.lock().expect("lock").clone()
    }

    pub fn registrations(&self) -> Vec<(serde_json::Value, Option<String>)> {
        self.inner.registrations.lock().expect("lock").clone()
    }

    pub fn deleted_clients(&self) -> Vec<String> {
        self.inner.deleted_clients.lock().expect("lock").clone()
    }

    pub fn revoked(&self) -> Vec<String> {
        self.inner.revoked.lock().expect("lock").clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.inner.violations.lock().expect("lock").clone()
    }

    pub fn pkce_verified(&self) -> u64 {
        self.inner.pkce_verified.load(Ordering::SeqCst)
    }

    /// Stops listening: further connections are refused.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for FakeOp {
    fn drop(&mut self) {
        self.stop();
    }
}

fn parse_form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn redirect(stream: &mut TcpStream, location: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn oauth_error(
    stream: &mut TcpStream,
    status: &str,
    error: &str,
    description: &str,
) -> std::io::Result<()> {
    let body = serde_json::json!({"error": error, "error_description": description});
    respond(stream, status, &body.to_string())
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_owned();
    let target = parts.next().unwrap_or("/").to_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Ok(Request {
        method,
        path: path.to_owned(),
        query: parse_form(query),
        headers,
        body,
    })
}

fn serve(mut stream: TcpStream, inner: &Inner, issuer: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let req = read_request(&stream)?;
    let base = issuer.trim_end_matches('/');
    let path = req.path.as_str();
    if path.starts_with("/.well-known/openid-configuration") {
        let c = inner.config.lock().expect("lock");
        let mut doc = serde_json::json!({
            "issuer": c.discovery_issuer.clone().unwrap_or_else(|| issuer.to_owned()),
            "authorization_endpoint": format!("{base}/auth"),
            "token_endpoint": format!("{base}/token"),
            "device_authorization_endpoint": format!("{base}/device"),
            "revocation_endpoint": format!("{base}/revoke"),
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT],
        });
        if c.registration {
            doc["registration_endpoint"] = format!("{base}/register").into();
        }
        if !c.device_discovery {
            doc.as_object_mut()
                .expect("object")
                .remove("device_authorization_endpoint");
        }
        drop(c);
        return respond(&mut stream, "200 OK", &doc.to_string());
    }
    match (req.method.as_str(), path) {
        ("GET", "/auth") => authorize(&mut stream, inner, issuer, &req),
        ("POST", "/token") => token(&mut stream, inner, &req),
        ("POST", "/device") => device(&mut stream, inner, base, &req),
        ("POST", "/register") => register(&mut stream, inner, base, &req),
        ("DELETE", p) if p.starts_with("/register/") => unregister(&mut stream, inner, &req),
        ("POST", "/revoke") => revoke(&mut stream, inner, &req),
        _ => respond(&mut stream, "404 Not Found", "{}"),
    }
}

fn violation(inner: &Inner, what: String) -> String {
    inner.violations.lock().expect("lock").push(what.clone());
    what
}

fn is_loopback_http(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
    })
}

/// RFC 6749 §4.1.1 with RFC 7636: checks the request and redirects back
/// with a code (or `error=access_denied`), plus RFC 9207 `iss`.
fn authorize(
    stream: &mut TcpStream,
    inner: &Inner,
    issuer: &str,
    req: &Request,
) -> std::io::Result<()> {
    let q = &req.query;
    inner.auth_requests.lock().expect("lock").push(q.clone());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (client_id, redirect_uri, state) = (get("client_id"), get("redirect_uri"), get("state"));
    let mut problems = Vec::new();
    if get("response_type") != "code" {
        problems.push("response_type is not code".to_owned());
    }
    if !inner.clients.lock().expect("lock").contains_key(&client_id) {
        problems.push(format!("unknown client_id {client_id:?}"));
    }
    if !is_loopback_http(&redirect_uri) {
        problems.push(format!(
            "redirect_uri {redirect_uri:?} is not a loopback URI"
        ));
    }
    if state.is_empty() {
        problems.push("no state".to_owned());
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        problems.push("no S256 code_challenge".to_owned());
    }
    if !problems.is_empty() {
        let what = violation(
            inner,
            format!("authorization request: {}", problems.join(", ")),
        );
        return oauth_error(stream, "400 Bad Request", "invalid_request", &what);
    }
    let mut location = url::Url::parse(&redirect_uri).expect("checked above");
    if inner.config.lock().expect("lock").deny_consent {
        location
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user denied the request")
            .append_pair("state", &state);
        return redirect(stream, location.as_str());
    }
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let code = format!("code-{n}");
    inner.codes.lock().expect("lock").insert(
        code.clone(),
        CodeGrant {
            client_id,
            redirect_uri,
            challenge: get("code_challenge"),
        },
    );
    location
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state)
        .append_pair("iss", issuer);
    redirect(stream, location.as_str())
}

/// RFC 6749 §2.3.1 client authentication. Known confidential clients must
/// use Basic, known public clients must send no secret at all; unknown
/// client ids (the refresh tests' `cid`) are let through as before.
fn authenticate(
    inner: &Inner,
    req: &Request,
    form: &HashMap<String, String>,
) -> Result<String, String> {
    let basic = req
        .headers
        .get("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .map(|b| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b)
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (id, secret) = text.split_once(':').unwrap_or((&text, ""));
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (decode(id), decode(secret))
        });
    let clients = inner.clients.lock().expect("lock");
    if let Some((id, secret)) = basic {
        if form.contains_key("client_secret") {
            return Err(format!("{id}: secret both in Basic and in the body"));
        }
        return match clients.get(&id) {
            Some(Some(s)) if *s == secret => Ok(id),
            Some(Some(_)) => Err(format!("{id}: wrong client secret")),
            Some(None) => Err(format!("{id}: public client sent a secret (Basic)")),
            None => Ok(id),
        };
    }
    let id = form
        .get("client_id")
        .cloned()
        .ok_or_else(|| "no client authentication at all".to_owned())?;
    match clients.get(&id) {
        Some(None) if form.contains_key("client_secret") => {
            Err(format!("{id}: public client sent a client_secret"))
        }
        Some(None) | None => Ok(id),
        Some(Some(_)) => Err(format!("{id}: confidential client did not use HTTP Basic")),
    }
}

/// Issues tokens with a fresh refresh token `rt-{kind}-N`.
fn issue(inner: &Inner, kind: &str) -> serde_json::Value {
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let rt = format!("rt-{kind}-{n}");
    inner.valid_rts.lock().expect("lock").insert(rt.clone());
    let mut reply = serde_json::json!({
        "token_type": "Bearer",
        "access_token": format!("at-{n}"),
        "refresh_token": rt,
        "id_token": format!("idt-{n}"),
        "scope": "openid offline_access",
    });
    if let Some(e) = inner.config.lock().expect("lock").expires_in {
        reply["expires_in"] = e.into();
    }
    reply
}

fn token(stream: &mut TcpStream, inner: &Inner, req: &Request) -> std::io::Result<()> {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    inner.calls.lock().expect("lock").push(TokenCall {
        form: form.clone(),
        basic_auth: req.headers.get("authorization").cloned(),
    });
    let (rotate, expires_in, delay, jwt) = {
        let c = inner.config.lock().expect("lock");
        (c.rotate, c.expires_in, c.delay, c.jwt_access_tokens)
    };
    thread::sleep(delay);
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if grant == "refresh_token" {
        let trap = inner.hold.lock().expect("lock").take();
        if let Some((arrived, release)) = trap {
            let _ = arrived.send(());
            let _ = release.recv_timeout(Duration::from_secs(60));
        }
    }
    if grant == "authorization_code" || grant == DEVICE_GRANT {
        let client_id = match authenticate(inner, req, &form) {
            Ok(id) => id,
            Err(what) => {
                let what = violation(inner, what);
                return oauth_error(stream, "401 Unauthorized", "invalid_client", &what);
            }
        };
        return if grant == "authorization_code" {
            code_grant(stream, inner, &form, &client_id)
        } else {
            device_grant(stream, inner, &form, &client_id)
        };
    }
    let rt = form.get("refresh_token").cloned().unwrap_or_default();
    if grant == "refresh_token"
        && let Err(what) = authenticate(inner, req, &form)
    {
        let what = violation(inner, what);
        return oauth_error(stream, "401 Unauthorized", "invalid_client", &what);
    }
    let mut rts = inner.valid_rts.lock().expect("lock");
    if grant != "refresh_token" || !rts.contains(&rt) {
        drop(rts);
        return respond(
            stream,
            "400 Bad Request",
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        );
    }
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let mut reply = serde_json::json!({"token_type": "Bearer", "id_token": format!("idt-{n}")});
    reply["access_token"] = if jwt {
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs()
            + 120;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
        format!("eyJhbGciOiJub25lIn0.{payload}.sig-{n}").into()
    } else {
        format!("at-{n}").into()
    };
    if let Some(e) = expires_in {
        reply["expires_in"] = e.into();
    }
    if rotate {
        let new = format!("rt-rotated-{n}");
        rts.remove(&rt);
        rts.insert(new.clone());
        reply["refresh_token"] = new.into();
    }
    drop(rts);
    respond(stream, "200 OK", &reply.to_string())
}

/// RFC 6749 §4.1.3 + RFC 7636 §4.6: single-use code, same client and
/// redirect URI, and a verifier that hashes to the challenge.
fn code_grant(
    stream: &mut TcpStream,
    inner: &Inner,
    form: &HashMap<String, String>,
    client_id: &str,
) -> std::io::Result<()> {
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(grant) = inner.codes.lock().expect("lock").remove(&code) else {
        return oauth_error(
            stream,
            "400 Bad Request",
            "invalid_grant",
            "unknown or used code",
        );
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = oauth2::PkceCodeChallenge::from_code_verifier_sha256(
        &oauth2::PkceCodeVerifier::new(verifier),
    );
    let mut problems = Vec::new();
    if grant.client_id != client_id {
        problems.push(format!(
            "code of {} redeemed by {client_id}",
            grant.client_id
        ));
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        problems.push("redirect_uri differs from the authorization request".to_owned());
    }
    if challenge.as_str() != grant.challenge {
        problems.push("PKCE verifier does not match the challenge".to_owned());
    }
    if !problems.is_empty() {
        let what = violation(inner, format!("code exchange: {}", problems.join(", ")));
        return oauth_error(stream, "400 Bad Request", "invalid_grant", &what);
    }
    inner.pkce_verified.fetch_add(1, Ordering::SeqCst);
    respond(stream, "200 OK", &issue(inner, "code").to_string())
}

fn device_grant(
    stream: &mut TcpStream,
    inner: &Inner,
    form: &HashMap<String, String>,
    client_id: &str,
) -> std::io::Result<()> {
    let (pending_polls, deny) = {
        let c = inner.config.lock().expect("lock");
        (c.device_pending_polls, c.device_deny)
    };
    let device_code = form.get("device_code").cloned().unwrap_or_default();
    let polls = {
        let mut devices = inner.devices.lock().expect("lock");
        let Some(grant) = devices.get_mut(&device_code) else {
            drop(devices);
            return oauth_error(
                stream,
                "400 Bad Request",
                "invalid_grant",
                "unknown device code",
            );
        };
        if grant.client_id != client_id {
            drop(devices);
            let what = violation(inner, format!("device code redeemed by {client_id}"));
            return oauth_error(stream, "400 Bad Request", "invalid_grant", &what);
        }
        grant.polls += 1;
        grant.polls
    };
    if polls <= pending_polls {
        return oauth_error(
            stream,
            "400 Bad Request",
            "authorization_pending",
            "waiting for the user",
        );
    }
    inner.devices.lock().expect("lock").remove(&device_code);
    if deny {
        return oauth_error(
            stream,
            "400 Bad Request",
            "access_denied",
            "The user denied the request",
        );
    }
    respond(stream, "200 OK", &issue(inner, "device").to_string())
}

/// RFC 8628 §3.1-3.2.
fn device(stream: &mut TcpStream, inner: &Inner, base: &str, req: &Request) -> std::io::Result<()> {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    let client_id = match authenticate(inner, req, &form) {
        Ok(id) => id,
        Err(what) => {
            let what = violation(inner, what);
            return oauth_error(stream, "401 Unauthorized", "invalid_client", &what);
        }
    };
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let device_code = format!("dc-{n}");
    let user_code = format!("WDJB-{n:04}");
    inner.devices.lock().expect("lock").insert(
        device_code.clone(),
        DeviceGrant {
            client_id,
            polls: 0,
        },
    );
    let reply = serde_json::json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": format!("{base}/device-ui"),
        "verification_uri_complete": format!("{base}/device-ui?user_code={user_code}"),
        "expires_in": 60,
        "interval": 1,
    });
    respond(stream, "200 OK", &reply.to_string())
}

/// RFC 7591 §3.
fn register(
    stream: &mut TcpStream,
    inner: &Inner,
    base: &str,
    req: &Request,
) -> std::io::Result<()> {
    let auth = req.headers.get("authorization").cloned();
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    inner
        .registrations
        .lock()
        .expect("lock")
        .push((body.clone(), auth.clone()));
    let wanted = inner
        .config
        .lock()
        .expect("lock")
        .registration_token
        .clone();
    if let Some(token) = wanted
        && auth.as_deref() != Some(&format!("Bearer {token}"))
    {
        return oauth_error(
            stream,
            "401 Unauthorized",
            "invalid_token",
            "an initial access token is required",
        );
    }
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let client_id = format!("dyn-{n}");
    let public = body["token_endpoint_auth_method"] == "none";
    let secret = (!public).then(|| format!("dyn-secret-{n}"));
    inner
        .clients
        .lock()
        .expect("lock")
        .insert(client_id.clone(), secret.clone());
    let mut reply = body;
    reply["client_id"] = client_id.clone().into();
    if let Some(secret) = secret {
        reply["client_secret"] = secret.into();
    }
    reply["registration_client_uri"] = format!("{base}/register/{client_id}").into();
    reply["registration_access_token"] = format!("rat-{client_id}").into();
    respond(stream, "201 Created", &reply.to_string())
}

/// RFC 7592 §2.3.
fn unregister(stream: &mut TcpStream, inner: &Inner, req: &Request) -> std::io::Result<()> {
    let client_id = req.path.trim_start_matches("/register/").to_owned();
    let expected = format!("Bearer rat-{client_id}");
    if req.headers.get("authorization") != Some(&expected) {
        let what = violation(
            inner,
            format!("RFC 7592 delete of {client_id} without its token"),
        );
        return oauth_error(stream, "401 Unauthorized", "invalid_token", &what);
    }
    inner.clients.lock().expect("lock").remove(&client_id);
    inner.deleted_clients.lock().expect("lock").push(client_id);
    write!(
        stream,
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    )
}

/// RFC 7009 §2.
fn revoke(stream: &mut TcpStream, inner: &Inner, req: &Request) -> std::io::Result<()> {
    let form = parse_form(&String::from_utf8_lossy(&req.body));
    if let Err(what) = authenticate(inner, req, &form) {
        let what = violation(inner, what);
        return oauth_error(stream, "401 Unauthorized", "invalid_client", &what);
    }
    if form.get("token_type_hint").map(String::as_str) != Some("refresh_token") {
        violation(
            inner,
            "revocation without token_type_hint=refresh_token".to_owned(),
        );
    }
    let token = form.get("token").cloned().unwrap_or_default();
    inner.valid_rts.lock().expect("lock").remove(&token);
    inner.revoked.lock().expect("lock").push(token);
    respond(stream, "200 OK", "")
}
