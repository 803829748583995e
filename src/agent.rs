//! The agent daemon: the socket, the accept loop and connection handling.
//!
//! A task per connection on a current-thread tokio runtime; connections from
//! another uid are refused (SO_PEERCRED). One request, one reply in a single
//! write, then close (oidc-agent's framing: there is none). A malformed,
//! oversized or slow request gets a `failure` reply or is dropped; it never
//! blocks another client.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{UnixListener, UnixStream};

use crate::error::ErrorKind;
use crate::protocol::{MAX_MESSAGE, Request, Response};
pub use handlers::Ctx;

/// Logs one line to the agent's stderr. Never panics: a daemon whose log
/// reader went away must keep serving (`eprintln!` would panic on EPIPE).
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "oidc-agent: {}", format_args!($($arg)*));
    }};
}
pub(crate) use log;

pub mod daemon;
pub mod handlers;
mod lock;
mod refresh;
pub mod state;

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What the first bytes of a connection turned out to be.
#[derive(Debug)]
pub enum Message {
    /// A complete JSON value (plain mode).
    Plain(Vec<u8>),
    /// Not JSON: the start of oidc-agent's encrypted mode, or garbage.
    Other(Vec<u8>),
}

/// Reads one message: until it parses as JSON, or the client stops sending
/// (EOF, or a pause after something that cannot become JSON).
pub async fn read_message(stream: &mut UnixStream) -> io::Result<Message> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + READ_TIMEOUT;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request not received in time",
                ));
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too large",
            ));
        }
        if n == 0 {
            return Ok(classify(buf));
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(&buf) {
            Ok(_) => return Ok(Message::Plain(buf)),
            Err(e) if e.is_eof() => {}
            // Not JSON and cannot become JSON: the client sent all it will
            // send in one write (oidc-agent clients do), so answer now.
            Err(_) => return Ok(Message::Other(buf)),
        }
    }
}

fn classify(buf: Vec<u8>) -> Message {
    if serde_json::from_slice::<serde::de::IgnoredAny>(&buf).is_ok() {
        Message::Plain(buf)
    } else {
        Message::Other(buf)
    }
}

/// Parses and handles one plain request.
pub async fn dispatch(ctx: &Arc<Ctx>, bytes: &[u8]) -> Response {
    match Request::parse(bytes) {
        Ok(req) => handlers::handle(ctx, req).await,
        Err(e) => Response::failure(e.kind(), e.message()),
    }
}

async fn serve_connection(ctx: Arc<Ctx>, mut stream: UnixStream) -> io::Result<()> {
    // The socket is 0600 in a 0700 directory already; the uid check also
    // covers a socket path someone made reachable (bind mounts, forwarding).
    let cred = stream.peer_cred()?;
    if cred.uid() != rustix::process::getuid().as_raw() {
        return Ok(());
    }
    let reply = match read_message(&mut stream).await {
        Ok(Message::Plain(bytes)) => dispatch(&ctx, &bytes).await.to_bytes(),
        Ok(Message::Other(bytes)) => {
            crate::compat::serve_non_json(&ctx, &mut stream, bytes).await?
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Response::failure(ErrorKind::Usage, format!("Bad Request: {e}")).to_bytes()
        }
        Err(e) => return Err(e),
    };
    if !reply.is_empty() {
        stream.write_all(&reply).await?;
    }
    stream.shutdown().await
}

/// Serves until SIGTERM/SIGINT/SIGHUP; then removes the socket.
pub async fn serve(listener: UnixListener, ctx: Arc<Ctx>, socket: PathBuf) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let sweeper = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                for name in ctx.state().expire(handlers::now()) {
                    log!("lifetime of '{name}' is over; unloaded");
                }
            }
        })
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_connection(ctx, stream).await {
                            log!("connection: {e}");
                        }
                    });
                }
                Err(e) => {
                    log!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => break,
        }
    }
    sweeper.abort();
    let _ = std::fs::remove_file(&socket);
    Ok(())
}
