//! The loopback listener's HTTP/1.x server: only what a browser's redirect
//! needs (a GET request line; headers are skipped, bodies never read), with
//! hard bounds so that only a real redirect can hold the listener.
//!
//! A request head larger than [`MAX_HEAD`] bytes is answered 431 and closed
//! after reading at most that much; a client that has not sent its whole head
//! within [`REQUEST_TIMEOUT`] (one header line per second, or nothing) is
//! answered 408 and closed; at most [`MAX_CONNECTIONS`] heads are read at a
//! time, and a connection past them closes the one that has waited longest
//! (idle ones cannot keep a redirect out). A browser sends its redirect
//! (about 1–2 KB) in one write, well inside every bound.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest request head read (request line and headers).
pub const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its whole request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Request heads read at the same time.
pub const MAX_CONNECTIONS: usize = 64;
/// Time a client has to take our (small) reply.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a request head was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// More than [`MAX_HEAD`] bytes without the blank line ending the head.
    TooLarge,
    /// The head did not arrive within the deadline.
    Timeout,
    /// The client closed before the head was complete.
    Closed,
    /// Not an HTTP/1.x request head; says which part.
    Malformed(&'static str),
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
pub struct Head {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The origin-form target: path and query.
    pub target: String,
}

/// The length of the head (through its blank line), if `buf` holds one.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses a complete request head (RFC 9112 §3: `method SP target SP
/// HTTP-version`); header fields are not interpreted.
pub fn parse_head(head: &[u8]) -> Result<Head, HeadError> {
    let line_end = head
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(HeadError::Malformed("no request line"))?;
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let line = std::str::from_utf8(line).map_err(|_| HeadError::Malformed("request line"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("request line"));
    };
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(method) {
        return Err(HeadError::Malformed("method"));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HeadError::Malformed("request target"));
    }
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Err(HeadError::Malformed("HTTP version"));
    }
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
    })
}

/// Reads one request head from `stream` within `timeout`.
pub fn read_head(stream: &mut TcpStream, timeout: Duration) -> Result<Head, HeadError> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(HeadError::Timeout);
        }
        // Never read past the bound, even within one chunk.
        let room = (MAX_HEAD + 1 - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(HeadError::Closed),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::Timeout);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HeadError::Closed),
        }
        match head_end(&buf) {
            Some(end) if end <= MAX_HEAD => return parse_head(&buf[..end]),
            Some(_) => return Err(HeadError::TooLarge),
            None if buf.len() > MAX_HEAD => return Err(HeadError::TooLarge),
            None => {}
        }
    }
}

/// One request whose head arrived; answer it with [`Request::respond`].
pub struct Request {
    head: Head,
    stream: TcpStream,
}

impl Request {
    /// The request target (path and query).
    pub fn url(&self) -> &str {
        &self.head.target
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.head.method
    }

    /// Our address and the client's.
    pub fn addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        Some((
            self.stream.local_addr().ok()?,
            self.stream.peer_addr().ok()?,
        ))
    }

    /// Sends the reply and closes the connection.
    pub fn respond(mut self, status: u16, headers: &[(&str, &str)], body: &str) {
        write_reply(&mut self.stream, status, headers, body);
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

fn write_reply(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &str) {
    let mut reply = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        reply.push_str(&format!("{name}: {value}\r\n"));
    }
    reply.push_str("\r\n");
    reply.push_str(body);
    // The client may already have gone away; nothing depends on the reply.
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

/// Reads and discards what the client still sends, for a bounded time and
/// amount: closing with unread data makes the kernel reset the connection,
/// which can destroy the reply before the client reads it.
fn linger(stream: &mut TcpStream) {
    let deadline = Instant::now() + WRITE_TIMEOUT;
    let mut sink = [0u8; 4096];
    let mut left: usize = 1 << 20;
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Accepts connections on a thread, reads heads on bounded worker threads
/// and hands complete requests to [`Server::recv_timeout`].
pub struct Server {
    requests: mpsc::Receiver<Request>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `listener`.
    pub fn from_listener(listener: TcpListener, timeout: Duration) -> io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, requests) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("loopback-accept".into())
                .spawn(move || accept_loop(&listener, &stop, &tx, timeout))?
        };
        Ok(Self {
            requests,
            stop,
            addr,
            acceptor: Some(acceptor),
        })
    }

    /// The next complete request, or `None` after `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Request>, String> {
        match self.requests.recv_timeout(timeout) {
            Ok(r) => Ok(Some(r)),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err("the accept loop stopped".into()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees `stop` and closes the
        // socket now; join only if the wake-up connection was made.
        if TcpStream::connect_timeout(&self.addr, WRITE_TIMEOUT).is_ok()
            && let Some(t) = self.acceptor.take()
        {
            let _ = t.join();
        }
    }
}

/// The connections whose heads are being read, oldest first, each with a
/// handle to close it by.
type Open = Arc<std::sync::Mutex<std::collections::VecDeque<(u64, TcpStream)>>>;

/// Takes a connection out of [`Open`] when its worker ends, even by panic.
struct Reading(Open, u64);

impl Drop for Reading {
    fn drop(&mut self) {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|(id, _)| *id != self.1);
    }
}

fn accept_loop(
    listener: &TcpListener,
    stop: &AtomicBool,
    tx: &mpsc::Sender<Request>,
    timeout: Duration,
) {
    let open: Open = Arc::default();
    for (id, conn) in (0u64..).zip(listener.incoming()) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = conn else { continue };
        {
            let mut reading = open.lock().unwrap_or_else(|e| e.into_inner());
            // Full: the connection that has waited longest is closed, not
            // the newest. A browser sends its redirect as it connects, so
            // what waits is idle (a preconnect, or another local user
            // holding connections to keep the redirect out).
            if reading.len() >= MAX_CONNECTIONS
                && let Some((_, oldest)) = reading.pop_front()
            {
                let _ = oldest.shutdown(Shutdown::Both);
            }
            let Ok(handle) = stream.try_clone() else {
                continue;
            };
            reading.push_back((id, handle));
        }
        let guard = Reading(open.clone(), id);
        let tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("loopback-conn".into())
            .spawn(move || {
                let _guard = guard;
                match read_head(&mut stream, timeout) {
                    Ok(head) => {
                        let _ = tx.send(Request { head, stream });
                    }
                    Err(e) => {
                        let status = match e {
                            HeadError::TooLarge => 431,
                            HeadError::Timeout => 408,
                            HeadError::Malformed(_) => 400,
                            HeadError::Closed => return,
                        };
                        write_reply(&mut stream, status, &[], "");
                        linger(&mut stream);
                    }
                }
            });
        // Out of threads: the connection closes with the dropped closure.
        drop(spawned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More idle connections than are read at once (another local user's,
    /// say) do not keep the redirect out: it still arrives, and the
    /// connection that waited longest is the one closed.
    #[test]
    fn idle_connections_do_not_keep_the_redirect_out() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = Server::from_listener(listener, REQUEST_TIMEOUT).expect("serve");
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + 6)
            .map(|_| TcpStream::connect(addr).expect("connect"))
            .collect();
        let mut redirect = TcpStream::connect(addr).expect("connect");
        redirect
            .write_all(b"GET /cb?code=c&state=s HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let request = server
            .recv_timeout(REQUEST_TIMEOUT)
            .expect("serving")
            .expect("the redirect was kept out");
        assert_eq!(request.url(), "/cb?code=c&state=s");
        let mut first = &idle[0];
        first
            .set_read_timeout(Some(REQUEST_TIMEOUT))
            .expect("timeout");
        let mut byte = [0u8; 1];
        assert_eq!(
            first.read(&mut byte).expect("closed"),
            0,
            "the oldest was not closed"
        );
    }

    #[test]
    fn request_lines() {
        let ok = parse_head(b"GET /cb?code=a&state=b HTTP/1.1\r\nHost: x\r\n\r\n").expect("ok");
        assert_eq!(
            (ok.method.as_str(), ok.target.as_str()),
            ("GET", "/cb?code=a&state=b")
        );
        assert!(parse_head(b"GET /cb HTTP/1.0\n\n").is_ok());
        // RFC 9112 §3: method SP request-target SP HTTP-version.
        for (bad, why) in [
            (&b"GET /cb\r\n\r\n"[..], "no version"),
            (b"GET  /cb HTTP/1.1\r\n\r\n", "two spaces"),
            (b"GET http://x/cb HTTP/1.1\r\n\r\n", "absolute form"),
            (b"GET /c\x01b HTTP/1.1\r\n\r\n", "a control in the target"),
            (b"G(T /cb HTTP/1.1\r\n\r\n", "a method that is no token"),
            (b"GET /cb HTTP/2\r\n\r\n", "not HTTP/1.x"),
            (b"GET /cb HTTP/1.1 x\r\n\r\n", "a fourth part"),
            (b"\xff /cb HTTP/1.1\r\n\r\n", "not ASCII"),
            (b"", "nothing"),
        ] {
            assert!(
                matches!(parse_head(bad), Err(HeadError::Malformed(_))),
                "{why}: {}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Seeded properties: a well-formed head parses to exactly its method
    /// and target; damaged heads parse or fail as `Malformed`, and whatever
    /// parses has an origin-form target without spaces or controls; a head
    /// split into random chunks over a real socket reads the same.
    #[test]
    fn request_head_properties() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x1bc_0004);
        const PATH: &[u8] = b"abcXYZ019-._~!$&'()*+,;=:@/%?";
        for case in 0..3000 {
            let method = ["GET", "POST", "HEAD", "X-Y"][case % 4];
            let target: String = std::iter::once('/')
                .chain(
                    (0..rng.gen_range(0..200))
                        .map(|_| char::from(PATH[rng.gen_range(0..PATH.len())])),
                )
                .collect();
            let head = format!("{method} {target} HTTP/1.1\r\nHost: h\r\nX: {case}\r\n\r\n");
            let parsed = parse_head(head.as_bytes()).expect("well-formed");
            assert_eq!(
                (parsed.method.as_str(), parsed.target.as_str()),
                (method, &*target)
            );

            let mut bad = head.into_bytes();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bad.len());
                bad[at] = rng.r#gen();
            }
            match parse_head(&bad) {
                Ok(h) => assert!(
                    h.target.starts_with('/') && !h.target.bytes().any(|b| b <= b' ' || b == 0x7f),
                    "case {case}: {h:?}"
                ),
                Err(HeadError::Malformed(_)) => {}
                Err(e) => panic!("case {case}: {e:?}"),
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        for case in 0..20 {
            let head = format!("GET /cb?state={case} HTTP/1.1\r\nHost: h\r\n\r\n");
            let cuts: Vec<usize> = {
                let mut c: Vec<usize> = (0..3).map(|_| rng.gen_range(0..head.len())).collect();
                c.sort_unstable();
                c
            };
            let client = std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                let mut from = 0;
                for cut in cuts.into_iter().chain([head.len()]) {
                    s.write_all(&head.as_bytes()[from..cut]).expect("write");
                    s.flush().expect("flush");
                    from = cut;
                }
                s
            });
            let (mut conn, _) = listener.accept().expect("accept");
            let got = read_head(&mut conn, Duration::from_secs(10)).expect("head");
            assert_eq!(got.target, format!("/cb?state={case}"));
            drop(client.join().expect("client"));
        }
    }
}
