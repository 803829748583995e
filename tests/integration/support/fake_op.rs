//! The one fake OpenID provider of the hermetic tests: the library's unit
//! tests (`src/oidc.rs` includes this file by `#[path]`), the integration
//! tests and the benchmark all compile this file and its `fake_op/` parts.
//!
//! It serves HTTP on 127.0.0.1 with `tiny_http`, one thread per request, and
//! simulates a provider (see `fake_op/endpoints.rs`): discovery, a token
//! endpoint with refresh, authorization-code (PKCE S256) and device grants,
//! rotation, revocation, registration (RFC 7591/7592). A test can instead
//! script the next answers of a path with [`FakeOp::push`]. Every request is
//! recorded ([`FakeOp::requests`]); a test can hold the next matching
//! request until it lets it go, and learn when it arrived
//! ([`FakeOp::hold_next`], [`Held`]), so no test synchronizes by sleeping.
//! Each of the three crates uses a different part, hence the
//! `allow(dead_code)` where it is included.

#[path = "fake_op/endpoints.rs"]
mod endpoints;
#[path = "fake_op/reply.rs"]
mod reply;
#[cfg(test)]
#[path = "fake_op/tests.rs"]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub use reply::{Recorded, Reply};

/// A public client known to the provider: it must never send a secret.
pub const PUBLIC_CLIENT: &str = "OpenCloudDesktop";
/// A confidential client known to the provider: HTTP Basic only.
pub const CONF_CLIENT: &str = "conf-client";
/// The secret of [`CONF_CLIENT`].
pub const CONF_SECRET: &str = "conf:secret/1";

/// The RFC 8628 grant type.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How long a test waits for a request before it fails, and how long a held
/// request waits for its release: bounds for a broken test, never a pace.
const PATIENCE: Duration = Duration::from_secs(30);

/// The simulated provider's behaviour, changed with [`FakeOp::set`].
#[derive(Debug)]
pub struct Config {
    pub rotate: bool,
    pub expires_in: Option<u64>,
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

impl Default for Config {
    fn default() -> Self {
        Self {
            rotate: false,
            expires_in: Some(300),
            jwt_access_tokens: false,
            deny_consent: false,
            device_pending_polls: 1,
            device_deny: false,
            registration: true,
            registration_token: None,
            discovery_issuer: None,
            device_discovery: true,
        }
    }
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

/// A request the test wants held, and the two ends that tell it the request
/// arrived and let the request go on.
struct Trap {
    matches: Box<dyn Fn(&Recorded) -> bool + Send>,
    arrived: mpsc::Sender<Recorded>,
    release: mpsc::Receiver<()>,
}

/// Everything the provider knows; shared with the request threads.
struct Inner {
    issuer: String,
    config: Mutex<Config>,
    valid_rts: Mutex<HashSet<String>>,
    /// client_id → secret (`None`: public client).
    clients: Mutex<HashMap<String, Option<String>>>,
    /// Client ids deleted through RFC 7592.
    deleted_clients: Mutex<Vec<String>>,
    /// Tokens revoked through RFC 7009.
    revoked: Mutex<Vec<String>>,
    /// Protocol violations by clients, in words.
    violations: Mutex<Vec<String>>,
    /// Successful PKCE verifications.
    pkce_verified: AtomicU64,
    codes: Mutex<HashMap<String, CodeGrant>>,
    devices: Mutex<HashMap<String, DeviceGrant>>,
    counter: AtomicU64,
    /// Every request in arrival order.
    requests: Mutex<Vec<Recorded>>,
    /// Scripted answers per path, before the simulation.
    scripted: Mutex<HashMap<String, VecDeque<Reply>>>,
    traps: Mutex<Vec<Trap>>,
}

impl Inner {
    fn next_number(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The provider's own base URL without the trailing slash.
    fn base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    fn violation(&self, what: String) -> String {
        lock(&self.violations).push(what.clone());
        what
    }
}

/// A lock that survives a panicking request thread (the test reports it).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request the provider holds until the test releases it (or drops this).
pub struct Held {
    arrived: mpsc::Receiver<Recorded>,
    release: mpsc::Sender<()>,
}

impl Held {
    /// Waits until the held request has reached the provider and returns it.
    pub fn arrived(&self) -> Recorded {
        self.arrived
            .recv_timeout(PATIENCE)
            .expect("the held request never reached the provider")
    }

    /// Lets the held request go on (dropping the `Held` does the same).
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

/// The running provider; stops when dropped.
pub struct FakeOp {
    /// `http://127.0.0.1:PORT/`.
    pub issuer: String,
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: Mutex<Option<Running>>,
}

/// The server until [`FakeOp::stop`].
struct Running {
    server: Arc<tiny_http::Server>,
    /// The thread that hands requests to their own threads.
    thread: JoinHandle<()>,
    /// The listening socket `tiny_http` also owns.
    listening: TcpListener,
}

impl FakeOp {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake OP");
        let addr = listener.local_addr().expect("fake OP address");
        // A second handle on the listening socket, for `stop`.
        let listening = listener.try_clone().expect("clone the fake OP listener");
        let server =
            Arc::new(tiny_http::Server::from_listener(listener, None).expect("serve fake OP"));
        let issuer = format!("http://{addr}/");
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            config: Mutex::new(Config::default()),
            valid_rts: Mutex::new(HashSet::from(["rt-initial".to_owned()])),
            clients: Mutex::new(HashMap::from([
                (PUBLIC_CLIENT.to_owned(), None),
                (CONF_CLIENT.to_owned(), Some(CONF_SECRET.to_owned())),
            ])),
            deleted_clients: Mutex::new(Vec::new()),
            revoked: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            pkce_verified: AtomicU64::new(0),
            codes: Mutex::new(HashMap::new()),
            devices: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            scripted: Mutex::new(HashMap::new()),
            traps: Mutex::new(Vec::new()),
        });
        let thread = {
            let (server, inner) = (Arc::clone(&server), Arc::clone(&inner));
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    let inner = Arc::clone(&inner);
                    thread::spawn(move || serve(request, &inner));
                }
            })
        };
        Self {
            issuer,
            addr,
            inner,
            server: Mutex::new(Some(Running {
                server,
                thread,
                listening,
            })),
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{path}", self.addr)).expect("fake provider URL")
    }

    /// Queues `reply` as the next answer for `path`, in place of the
    /// simulated endpoint (or the 404 of an unknown path).
    pub fn push(&self, path: &str, reply: Reply) {
        lock(&self.inner.scripted)
            .entry(path.to_owned())
            .or_default()
            .push_back(reply);
    }

    /// Holds the next request that `matches` when it arrives (recorded, not
    /// yet answered) until the returned [`Held`] is released: a test can then
    /// act while a request is deterministically under way.
    pub fn hold_next_where(&self, matches: impl Fn(&Recorded) -> bool + Send + 'static) -> Held {
        let (arrived_tx, arrived) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        lock(&self.inner.traps).push(Trap {
            matches: Box::new(matches),
            arrived: arrived_tx,
            release: release_rx,
        });
        Held { arrived, release }
    }

    /// Holds the next request to `path` (see [`FakeOp::hold_next_where`]).
    pub fn hold_next(&self, path: &str) -> Held {
        let path = path.to_owned();
        self.hold_next_where(move |r| r.path == path)
    }

    /// Holds the next refresh-token grant (see [`FakeOp::hold_next_where`]).
    pub fn hold_next_refresh(&self) -> Held {
        self.hold_next_where(|r| r.is_grant("refresh_token"))
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.inner.requests).clone()
    }

    pub fn set<F: FnOnce(&mut Config)>(&self, f: F) {
        f(&mut lock(&self.inner.config));
    }

    /// Token-endpoint requests.
    pub fn calls(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/token")
            .collect()
    }

    /// Token-endpoint requests with this `grant_type`.
    pub fn grants(&self, grant_type: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_grant(grant_type))
            .collect()
    }

    /// Number of refresh grants received.
    pub fn refreshes(&self) -> usize {
        self.grants("refresh_token").len()
    }

    pub fn valid_rts(&self) -> HashSet<String> {
        lock(&self.inner.valid_rts).clone()
    }

    /// Makes the provider accept `rt` as a refresh token (a login elsewhere).
    pub fn accept_rt(&self, rt: &str) {
        lock(&self.inner.valid_rts).insert(rt.to_owned());
    }

    pub fn revoke_all(&self) {
        lock(&self.inner.valid_rts).clear();
    }

    /// Query parameters of every authorization request.
    pub fn auth_requests(&self) -> Vec<HashMap<String, String>> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == "/auth")
            .map(|r| r.query)
            .collect()
    }

    /// Bodies and Authorization headers of registration requests.
    pub fn registrations(&self) -> Vec<(serde_json::Value, Option<String>)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/register")
            .map(|r| {
                let body = serde_json::from_str(&r.body).unwrap_or_default();
                (body, r.header("authorization").map(str::to_owned))
            })
            .collect()
    }

    pub fn deleted_clients(&self) -> Vec<String> {
        lock(&self.inner.deleted_clients).clone()
    }

    pub fn revoked(&self) -> Vec<String> {
        lock(&self.inner.revoked).clone()
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.inner.violations).clone()
    }

    pub fn pkce_verified(&self) -> u64 {
        self.inner.pkce_verified.load(Ordering::SeqCst)
    }

    /// Stops listening: further connections are refused. Requests already
    /// accepted still get their answers.
    pub fn stop(&self) {
        if let Some(running) = lock(&self.server).take() {
            running.server.unblock();
            let _ = running.thread.join();
            drop(running.server);
            // `tiny_http` closes its listener from its own accept thread, some
            // time after the drop; shutting the socket down ends listening
            // now (Linux: a listener shut down for reading is closed).
            let _ = rustix::net::shutdown(&running.listening, rustix::net::Shutdown::Read);
        }
    }
}

impl Drop for FakeOp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Records `request`, holds it if a test asked to, then answers it from the
/// script or the simulation.
fn serve(mut request: tiny_http::Request, inner: &Inner) {
    let mut body = Vec::new();
    if request.as_reader().read_to_end(&mut body).is_err() {
        return;
    }
    let recorded = Recorded::new(&request, &body);
    lock(&inner.requests).push(recorded.clone());
    let trap = {
        let mut traps = lock(&inner.traps);
        let found = traps.iter().position(|t| (t.matches)(&recorded));
        found.map(|i| traps.remove(i))
    };
    if let Some(trap) = trap {
        let _ = trap.arrived.send(recorded.clone());
        // Released by `Held::release` or by dropping the `Held`.
        let _ = trap.release.recv_timeout(PATIENCE);
    }
    let scripted = lock(&inner.scripted)
        .get_mut(&recorded.path)
        .and_then(VecDeque::pop_front);
    let reply = scripted.unwrap_or_else(|| endpoints::answer(inner, &recorded));
    reply.send(request);
}

/// A `reqwest::Client` shaped like the main crate's: no redirects, no proxy,
/// bounded time.
pub fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .build()
        .expect("build reqwest client")
}
