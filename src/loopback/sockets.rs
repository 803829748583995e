//! The listening sockets behind one redirect URI, and the threads that
//! collect their requests.
//!
//! `http://localhost:PORT/` is one name for two addresses: browsers resolve
//! it to `::1` as well as `127.0.0.1` and Chromium tries `::1` first. So for
//! `localhost` we bind both on the same port: the login works whichever
//! address the browser picks, and no other program can sit on `[::1]:PORT`
//! and receive the code. Where the host has no IPv6 loopback we bind
//! 127.0.0.1 alone (the browser's `::1` attempt is then refused and it falls
//! back). An IP literal (`127.0.0.1`, `[::1]`) binds just that address.
//!
//! `http::Server` serves one socket (with its bounds on head size and time),
//! so each server gets a thread that hands its requests to one channel the
//! listener waits on. Once the
//! code has arrived the threads answer later visits themselves (a reload
//! shows "Login already completed" instead of an error) until the listener
//! is dropped, which closes the sockets.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::{self, Request, Server};

use super::error::LoopbackError;
use super::pages::Page;

/// Ephemeral ports to try for `localhost` before giving up on finding one
/// that is free on both loopback addresses.
const EPHEMERAL_ATTEMPTS: usize = 8;

/// Binds `ip:port`, and for `localhost` also `[::1]` on the same port.
/// Returns the sockets, the IPv4 (or only) one first.
pub(super) fn bind(
    ip: IpAddr,
    localhost: bool,
    port: u16,
) -> Result<Vec<TcpListener>, LoopbackError> {
    let attempts = if localhost && port == 0 {
        EPHEMERAL_ATTEMPTS
    } else {
        1
    };
    let mut last = None;
    for _ in 0..attempts {
        let first = bind_one(SocketAddr::new(ip, port), port)?;
        if !localhost {
            return Ok(vec![first]);
        }
        let bound = first
            .local_addr()
            .map_err(|source| LoopbackError::Bind {
                addr: SocketAddr::new(ip, port),
                source,
            })?
            .port();
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), bound);
        match TcpListener::bind(v6) {
            Ok(second) => return Ok(vec![first, second]),
            // Someone else holds [::1]:PORT; with an ephemeral port, draw again.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                last = Some(LoopbackError::PortInUse {
                    addr: v6,
                    port: bound,
                });
            }
            // No IPv6 loopback here: browsers cannot reach ::1 either.
            Err(_) => return Ok(vec![first]),
        }
    }
    Err(last.unwrap_or(LoopbackError::Server {
        reason: "no port free on both 127.0.0.1 and ::1".to_owned(),
    }))
}

fn bind_one(addr: SocketAddr, port: u16) -> Result<TcpListener, LoopbackError> {
    TcpListener::bind(addr).map_err(|source| match source.kind() {
        io::ErrorKind::AddrInUse => LoopbackError::PortInUse { addr, port },
        io::ErrorKind::PermissionDenied => LoopbackError::PortNotPermitted { addr, port },
        _ => LoopbackError::Bind { addr, source },
    })
}

/// Flags shared with the collecting threads.
#[derive(Default)]
struct Phase {
    /// The code has arrived: answer visits directly. A mutex, not an atomic:
    /// a thread checks it and queues a request under the lock, so no request
    /// can slip into the channel after `complete` has drained it.
    completed: Mutex<bool>,
    /// The listener is being dropped: stop.
    closing: AtomicBool,
}

impl Phase {
    fn completed(&self) -> std::sync::MutexGuard<'_, bool> {
        // A panicking holder cannot leave the flag half-set.
        self.completed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running servers and the channel their requests arrive on.
pub(super) struct Servers {
    threads: Vec<JoinHandle<()>>,
    requests: Receiver<io::Result<Request>>,
    phase: Arc<Phase>,
    path: Arc<str>,
}

impl Servers {
    /// Starts one bounded [`http::Server`] and one collecting thread per socket.
    pub(super) fn start(sockets: Vec<TcpListener>, path: &str) -> Result<Self, LoopbackError> {
        let (tx, requests) = mpsc::channel();
        let phase = Arc::new(Phase::default());
        let path: Arc<str> = Arc::from(path);
        let mut this = Self {
            threads: Vec::new(),
            requests,
            phase,
            path,
        };
        for socket in sockets {
            let server = Server::from_listener(socket, http::REQUEST_TIMEOUT).map_err(|e| {
                LoopbackError::Server {
                    reason: e.to_string(),
                }
            })?;
            // The thread owns its server: the socket closes when it ends.
            let (tx, phase, path) = (tx.clone(), Arc::clone(&this.phase), Arc::clone(&this.path));
            let thread = std::thread::Builder::new()
                .name("loopback".to_owned())
                .spawn(move || collect(&server, &tx, &phase, &path))
                .map_err(|e| LoopbackError::Server {
                    reason: format!("cannot start a listener thread: {e}"),
                })?;
            this.threads.push(thread);
        }
        Ok(this)
    }

    /// The next request on any socket, or `None` after `timeout`.
    pub(super) fn recv_timeout(&self, timeout: Duration) -> Result<Option<Request>, LoopbackError> {
        match self.requests.recv_timeout(timeout) {
            Ok(Ok(request)) => Ok(Some(request)),
            Ok(Err(e)) => Err(LoopbackError::Server {
                reason: e.to_string(),
            }),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(LoopbackError::Server {
                reason: "the listening sockets closed".to_owned(),
            }),
        }
    }

    /// The code has arrived: from now on every visit gets the
    /// "already completed" page, including any already queued.
    pub(super) fn complete(&self) {
        let mut completed = self.phase.completed();
        *completed = true;
        self.answer_queued();
    }

    fn answer_queued(&self) {
        while let Ok(Ok(request)) = self.requests.try_recv() {
            after_completion(request, &self.path);
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.phase.closing.store(true, Ordering::SeqCst);
        // Each thread polls `closing` at least every POLL.
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if *self.phase.completed() {
            self.answer_queued();
        }
    }
}

/// One socket's thread: hands requests to the listener until the code has
/// arrived, then answers them itself, until the listener closes.
fn collect(server: &Server, tx: &Sender<io::Result<Request>>, phase: &Phase, path: &str) {
    loop {
        let received = server.recv_timeout(POLL);
        if phase.closing.load(Ordering::SeqCst) {
            return;
        }
        match received {
            Ok(None) => {}
            Ok(Some(request)) => {
                let completed = phase.completed();
                if *completed {
                    drop(completed);
                    after_completion(request, path);
                } else if tx.send(Ok(request)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(io::Error::other(e)));
                return;
            }
        }
    }
}

/// How often a collecting thread looks whether the listener is closing.
const POLL: Duration = Duration::from_millis(50);

fn after_completion(request: Request, path: &str) {
    let target = request.url();
    let request_path = target.split_once('?').map_or(target, |(p, _)| p);
    if request_path == path {
        Page::already_completed().send(request);
    } else {
        Page::not_found().send(request);
    }
}
