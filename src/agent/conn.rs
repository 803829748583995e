//! One client connection: the peer check, reading the request (plain JSON,
//! or oidc-agent's encrypted mode, whose sans-IO half is
//! `compat::ipc_crypt`), and writing the reply.
//!
//! oidc-agent's framing is none: one request, one reply in a single write,
//! then close. A malformed, oversized or slow request gets a `failure` reply
//! (or is dropped when the client is gone); it never blocks another client.
//! A request it will not read further is answered at once; then the agent
//! half-closes and drains what the client still sends (up to the size
//! limit), so the client reads the reply instead of a connection reset.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use zeroize::Zeroizing;

use super::ctx::Ctx;
use crate::compat::ipc_crypt::{self, FirstMessage, MessageStatus, ServerSession};
use crate::error::ErrorKind;
use crate::protocol::{MAX_MESSAGE, Request, Response};

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The bytes to write last, and whether the client may still be sending
/// (a refused request: drained after the reply).
struct Reply {
    bytes: Zeroizing<Vec<u8>>,
    unread: bool,
}

impl Reply {
    fn answer(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self {
            bytes,
            unread: false,
        }
    }

    fn refusal(msg: &str) -> Self {
        Self {
            bytes: failure(msg),
            unread: true,
        }
    }
}

/// What the first bytes of a connection turned out to be.
#[derive(Debug)]
pub enum Message {
    /// A complete JSON value (plain mode).
    Plain(Zeroizing<Vec<u8>>),
    /// Not JSON: the start of oidc-agent's encrypted mode, or garbage.
    Other(Zeroizing<Vec<u8>>),
}

fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "client stalled (no complete request within {} s)",
            READ_TIMEOUT.as_secs()
        ),
    )
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "request too large")
}

/// Reads more bytes into `buf` until `done` says stop (or EOF, the cap, or
/// the deadline).
async fn read_until(
    stream: &mut UnixStream,
    buf: &mut Zeroizing<Vec<u8>>,
    deadline: tokio::time::Instant,
    done: impl Fn(&[u8]) -> bool,
) -> io::Result<()> {
    let mut chunk = Zeroizing::new([0u8; 8192]);
    while !done(buf) {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk[..])).await {
            Ok(r) => r?,
            Err(_) => return Err(stalled()),
        };
        if n == 0 {
            break;
        }
        // Grows without leaving a plain copy of the request behind.
        crate::secret::extend_zeroizing(buf, &chunk[..n]);
        if buf.len() > MAX_MESSAGE {
            return Err(too_large());
        }
    }
    Ok(())
}

/// Where a plain request ends, found as its bytes arrive, each byte looked
/// at once: a request written in many pieces (the C, Python and Go
/// libraries write 4096-byte chunks) or dripped by a stuck client costs
/// time linear in its size, not a parse of all of it after every piece.
/// It follows brackets and strings only; serde parses the whole once.
#[derive(Default)]
struct Ends {
    /// Bytes looked at.
    seen: usize,
    /// Open `{` and `[` outside strings.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// A `{`, `[` or `"` opened the value.
    opened: bool,
}

impl Ends {
    /// Looks at what `buf` has beyond the bytes seen; true once the value
    /// the first of them opened is closed.
    fn closed(&mut self, buf: &[u8]) -> bool {
        for &b in &buf[self.seen.min(buf.len())..] {
            self.seen += 1;
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => {
                        self.in_string = false;
                        if self.depth == 0 {
                            return true;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => (self.in_string, self.opened) = (true, true),
                b'{' | b'[' => (self.depth, self.opened) = (self.depth + 1, true),
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return true;
                    }
                }
                _ => {}
            }
        }
        false
    }
}

/// Whether `buf` is a whole JSON value (`Some(true)`), cannot become one
/// (`Some(false)`), or may still (`None`).
fn json_state(buf: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<serde::de::IgnoredAny>(buf) {
        Ok(_) => Some(true),
        Err(e) if e.is_eof() => None,
        Err(_) => Some(false),
    }
}

/// How long a client may pause inside a request before the agent looks at
/// whether what came so far can still become JSON.
const PAUSE: Duration = Duration::from_millis(200);

/// Reads one message: until it is a whole JSON value, or the client stops
/// sending (EOF, or a pause after something that cannot become JSON).
pub async fn read_message(stream: &mut UnixStream) -> io::Result<Message> {
    let mut buf = Zeroizing::new(Vec::with_capacity(1024));
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    let mut chunk = Zeroizing::new([0u8; 8192]);
    let mut ends = Ends::default();
    loop {
        let pause = (tokio::time::Instant::now() + PAUSE).min(deadline);
        let n = match tokio::time::timeout_at(pause, stream.read(&mut chunk[..])).await {
            Ok(r) => r?,
            Err(_) if pause < deadline => {
                // The client waits: for the reply to something that
                // cannot become JSON, or it is slow. One parse a pause.
                if json_state(&buf).is_some() {
                    break;
                }
                continue;
            }
            Err(_) => return Err(stalled()),
        };
        if n == 0 {
            break;
        }
        let first = buf.is_empty();
        // Grows without leaving a plain copy of the request behind.
        crate::secret::extend_zeroizing(&mut buf, &chunk[..n]);
        if buf.len() > MAX_MESSAGE {
            return Err(too_large());
        }
        if ends.closed(&buf) {
            break;
        }
        // Not a bracketed value or a string (oidc-agent's encrypted mode,
        // garbage, a scalar): oidc-agent clients send it in one write, so
        // it is answered now.
        if first && !ends.opened && json_state(&buf).is_some() {
            break;
        }
    }
    Ok(if json_state(&buf) == Some(true) {
        Message::Plain(buf)
    } else {
        Message::Other(buf)
    })
}

/// Parses and handles one plain request.
pub async fn dispatch(ctx: &Arc<Ctx>, bytes: &[u8]) -> Response {
    match Request::parse(bytes) {
        Ok(req) => super::handlers::handle(ctx, req).await,
        Err(e) => Response::failure(e.kind(), e.message()),
    }
}

fn failure(msg: &str) -> Zeroizing<Vec<u8>> {
    Response::failure(ErrorKind::Usage, msg).to_bytes()
}

/// How long the agent keeps reading (and discarding) a request it has
/// already refused, waiting for the next piece of it.
const DRAIN_IDLE: Duration = Duration::from_millis(200);

/// Reads and discards what the client still sends (up to the size limit,
/// until it pauses for [`DRAIN_IDLE`] or closes): a client that writes its
/// request in pieces (the C, Python and Go libraries write 4096-byte
/// chunks) would otherwise get EPIPE for the rest and never read the reply.
/// Runs after the reply is written, so no client waits for it.
async fn drain(stream: &mut UnixStream) {
    let mut chunk = [0u8; 8192];
    let mut total = 0;
    while total <= MAX_MESSAGE {
        match tokio::time::timeout(DRAIN_IDLE, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => total += n,
            _ => break,
        }
    }
}

/// Serves one connection from start to close; `reading` is its place
/// among the connections read at once, given up once its request is read.
pub async fn serve(
    ctx: Arc<Ctx>,
    mut stream: UnixStream,
    reading: Option<tokio::sync::OwnedSemaphorePermit>,
) -> io::Result<()> {
    // The socket is 0600 in a 0700 directory already; the uid check also
    // covers a socket path someone made reachable (bind mounts, forwarding).
    let cred = stream.peer_cred()?;
    if cred.uid() != rustix::process::getuid().as_raw() {
        return Ok(());
    }
    let message = read_message(&mut stream).await;
    drop(reading);
    let reply = match message {
        // Closed without a word: a liveness probe (another agent looking for
        // dead sockets, a script's check), no request to answer and nothing
        // for the log (the reply's write would fail with EPIPE).
        Ok(Message::Other(bytes)) if bytes.is_empty() => return Ok(()),
        Ok(Message::Plain(bytes)) => Ok(Reply::answer(dispatch(&ctx, &bytes).await.to_bytes())),
        Ok(Message::Other(bytes)) => serve_non_json(&ctx, &mut stream, bytes).await,
        Err(e) => Err(e),
    };
    let reply = match reply {
        Ok(reply) => reply,
        // Too large or too slow, in either mode: said (in oidc-agent's
        // failure shape) to a client that may still be reading; a gone one
        // makes the write fail, which ends the connection as before.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::TimedOut
            ) =>
        {
            super::log::connection_error(&e);
            Reply::refusal(&format!("Bad Request: {e}"))
        }
        Err(e) => return Err(e),
    };
    if !reply.bytes.is_empty() {
        stream.write_all(&reply.bytes).await?;
    }
    // The reply is complete for the client (EOF) before any drain.
    let closed = stream.shutdown().await;
    if reply.unread {
        drain(&mut stream).await;
    }
    closed
}

/// Handles a first message that is not JSON: oidc-agent's encrypted mode
/// starts with the client's base64 public key. Returns the bytes to write
/// last (the sealed reply, or a plain JSON failure as oidc-agent sends one).
async fn serve_non_json(
    ctx: &Arc<Ctx>,
    stream: &mut UnixStream,
    mut buf: Zeroizing<Vec<u8>>,
) -> io::Result<Reply> {
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    read_until(stream, &mut buf, deadline, |b| {
        ipc_crypt::classify_first_message(b) != FirstMessage::Incomplete
    })
    .await?;
    let client_pk = match ipc_crypt::classify_first_message(&buf) {
        FirstMessage::ClientKey(pk) => pk,
        FirstMessage::Plain => return Ok(Reply::answer(dispatch(ctx, &buf).await.to_bytes())),
        FirstMessage::Incomplete | FirstMessage::Invalid => {
            let what = if buf.is_empty() {
                "empty request"
            } else {
                "malformed JSON"
            };
            return Ok(Reply::refusal(&format!("Bad Request: {what}")));
        }
    };
    let (session, key_msg) = match ServerSession::new(&client_pk) {
        Ok(s) => s,
        // oidc-agent's wording for a low-order key.
        Err(ipc_crypt::IpcCryptError::WeakPublicKey) => {
            return Ok(Reply::answer(failure("received suspicious public key")));
        }
        Err(e) => return Ok(Reply::answer(failure(&e.to_string()))),
    };
    stream.write_all(&key_msg).await?;
    let mut request = Zeroizing::new(Vec::with_capacity(1024));
    read_until(stream, &mut request, deadline, |b| {
        ipc_crypt::encrypted_message_status(b) != MessageStatus::Incomplete
    })
    .await?;
    let plaintext = match session.open(&request) {
        Ok(p) => p,
        // oidc-agent answers a message it cannot decrypt in plain JSON.
        Err(_) => return Ok(Reply::answer(failure("decryption failed"))),
    };
    let reply = dispatch(ctx, &plaintext).await.to_bytes();
    let mut sealed = match session.seal(&reply) {
        Ok(s) => s,
        Err(e) => return Ok(Reply::answer(failure(&e.to_string()))),
    };
    ipc_crypt::pad_for_chunked_readers(&mut sealed);
    Ok(Reply::answer(Zeroizing::new(sealed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fed byte by byte, as a dripping client sends: each byte is looked at
    /// once, braces and brackets inside strings (escaped quotes too) do not
    /// count, and the value ends at its closing bracket.
    #[test]
    fn the_end_of_a_request_is_found_in_one_pass() {
        let request = br#" {"request":"access_token","account":"a}\"]{","x":[1,{"y":"}"}]}"#;
        let mut ends = Ends::default();
        let closes: Vec<usize> = (1..=request.len())
            .filter(|&n| ends.closed(&request[..n]))
            .collect();
        assert_eq!(closes, vec![request.len()]);
        assert_eq!(ends.seen, request.len(), "a byte looked at twice");
        let mut string = Ends::default();
        assert!(string.closed(br#""a\"b""#) && string.opened);
        let mut key = Ends::default();
        assert!(
            !key.closed(b"MIIBIjAN") && !key.opened,
            "encrypted mode's key"
        );
    }
}
