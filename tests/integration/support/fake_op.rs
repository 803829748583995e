//! A small std-only OpenID provider for the hermetic tests: discovery and a
//! token endpoint with scripted behaviour (rotation, delays, revocation, no
//! `expires_in`, going down), recording every token request.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

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
}

#[derive(Debug)]
pub struct Inner {
    pub valid_rts: Mutex<HashSet<String>>,
    pub calls: Mutex<Vec<TokenCall>>,
    pub config: Mutex<Config>,
    counter: AtomicU64,
    stopped: AtomicBool,
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
            }),
            counter: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
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

    pub fn valid_rts(&self) -> HashSet<String> {
        self.inner.valid_rts.lock().expect("lock").clone()
    }

    pub fn revoke_all(&self) {
        self.inner.valid_rts.lock().expect("lock").clear();
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

fn serve(mut stream: TcpStream, inner: &Inner, issuer: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
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
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let base = issuer.trim_end_matches('/');
    if path.starts_with("/.well-known/openid-configuration") {
        let doc = serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{base}/auth"),
            "token_endpoint": format!("{base}/token"),
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "code_challenge_methods_supported": ["S256"],
        });
        return respond(&mut stream, "200 OK", &doc.to_string());
    }
    if path != "/token" {
        return respond(&mut stream, "404 Not Found", "{}");
    }
    let form = parse_form(&String::from_utf8_lossy(&body));
    inner.calls.lock().expect("lock").push(TokenCall {
        form: form.clone(),
        basic_auth: headers.get("authorization").cloned(),
    });
    let (rotate, expires_in, delay, jwt) = {
        let c = inner.config.lock().expect("lock");
        (c.rotate, c.expires_in, c.delay, c.jwt_access_tokens)
    };
    thread::sleep(delay);
    let rt = form.get("refresh_token").cloned().unwrap_or_default();
    let mut rts = inner.valid_rts.lock().expect("lock");
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") || !rts.contains(&rt) {
        drop(rts);
        return respond(
            &mut stream,
            "400 Bad Request",
            r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        );
    }
    let n = inner.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let mut reply = serde_json::json!({"token_type": "Bearer", "id_token": format!("idt-{n}")});
    reply["access_token"] = if jwt {
        use base64::Engine as _;
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
    respond(&mut stream, "200 OK", &reply.to_string())
}
