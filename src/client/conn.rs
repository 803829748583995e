//! [`AgentClient`]: one connect, one write, read until the agent closes;
//! the socket's checks (a socket, owned by us) and a failure reply turned
//! into the typed error.

use std::io::{self, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{AgentStatus, MAX_MESSAGE, Request, Response};

/// How long to wait for a reply: longer than the agent's provider deadline
/// (`oidc-agent --request-timeout`, at most [`MAX_REQUEST_TIMEOUT`]), so the
/// agent's own error arrives first.
const REPLY_TIMEOUT: Duration = Duration::from_secs(45);

/// The longest `oidc-agent --request-timeout` (seconds): below a client's
/// own wait for any reply, so that a slow provider is said as such, not as
/// a hung agent.
pub const MAX_REQUEST_TIMEOUT: u64 = REPLY_TIMEOUT.as_secs() - 5;

/// A connection target: the agent's socket.
#[derive(Debug, Clone)]
pub struct AgentClient {
    path: PathBuf,
}

impl AgentClient {
    /// The agent at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The agent named by `OIDC_SOCK` (or the service socket).
    pub fn from_env() -> Result<Self> {
        crate::paths::client_socket()
            .map(Self::new)
            .ok_or(Error::NoAgent)
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and returns the raw reply, success or failure.
    pub fn call_raw(&self, request: &Request) -> Result<Response> {
        let unreachable = |cause| Error::AgentUnreachable {
            path: self.path.clone(),
            cause,
        };
        let no_reply = |cause| no_reply(&self.path, cause);
        let mut stream = connect(&self.path, CONNECT_PATIENCE)
            .map_err(|e| not_a_socket(&self.path).unwrap_or(e))
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock => Error::AgentNoReply {
                    path: self.path.clone(),
                    what: format!(
                        "takes no connections (its queue has been full for {} s); it may be \
                         hung: stop it (`oidc-agent -k`) and start another \
                         (`eval \"$(oidc-agent)\"`)",
                        CONNECT_PATIENCE.as_secs()
                    ),
                },
                _ => unreachable(e),
            })?;
        check_peer(&stream, &self.path)?;
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(unreachable)?;
        stream.write_all(&request.to_bytes()).map_err(no_reply)?;
        // The reply carries the access token: read it into zeroizing memory.
        let reply =
            crate::secret::read_to_end_zeroizing(&mut stream, MAX_MESSAGE).map_err(no_reply)?;
        if reply.is_empty() {
            return Err(no_reply(io::ErrorKind::BrokenPipe.into()));
        }
        serde_json::from_slice(&reply)
            .or_else(|e| serde_json::from_slice(&escape_controls(&reply)).map_err(|_| e))
            .map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Sends one request; a `failure` reply becomes an [`Error::Agent`].
    pub fn call(&self, request: &Request) -> Result<Response> {
        let reply = self.call_raw(request)?;
        if reply.is_success() {
            return Ok(reply);
        }
        Err(failure_to_error(reply))
    }

    /// The agent's `status_json`; an agent whose reply is no status
    /// (oidc-agent 4.x has none) gives [`Error::Protocol`].
    pub fn status(&self) -> Result<AgentStatus> {
        let reply = self.call(&Request::StatusJson)?;
        AgentStatus::from_info(reply.info)
            .ok_or_else(|| Error::Protocol("the agent's status_json reply is no status".into()))
    }

    /// Whether the agent is ours (its status says so); oidc-agent's 4.x
    /// has no status, 5.x names no implementation.
    pub fn is_ours(&self) -> bool {
        self.status()
            .is_ok_and(|s| s.implementation.as_deref() == Some(crate::protocol::IMPLEMENTATION))
    }

    /// The short names of the accounts the agent has loaded.
    pub fn loaded_accounts(&self) -> Result<Vec<String>> {
        let reply = self.call(&Request::LoadedAccounts)?;
        Ok(match reply.info {
            Some(serde_json::Value::Array(names)) => names
                .into_iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        })
    }
}

/// Why a path that is no socket cannot be connected to, in words that say
/// so ("Connection refused" for a regular file misleads): `None` for a
/// socket or a path that does not exist, whose own error says enough.
fn not_a_socket(path: &Path) -> Option<io::Error> {
    use std::os::unix::fs::FileTypeExt as _;
    let meta = std::fs::metadata(path).ok()?;
    let what = if meta.file_type().is_socket() {
        return None;
    } else if meta.is_dir() {
        "a directory, not a socket"
    } else if meta.is_file() {
        "a regular file, not a socket"
    } else {
        "not a socket"
    };
    Some(io::Error::other(format!(
        "it is {what} (does OIDC_SOCK name the wrong path?)"
    )))
}

/// How long a client waits for an agent whose queue of connections is
/// full (it stopped accepting: stuck, stopped, out of descriptors).
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);

/// Connects to the Unix socket at `path`, waiting at most `patience` for
/// room in its listener's queue. A blocking `connect` on a full queue
/// waits without end (Linux); a non-blocking one says `EAGAIN` at once,
/// and is tried again until `patience` is over (zero: once). Then the
/// error is `WouldBlock`: someone listens there, and takes nothing.
pub fn connect(path: &Path, patience: Duration) -> io::Result<UnixStream> {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    let addr = SocketAddrUnix::new(path)?;
    let deadline = std::time::Instant::now() + patience;
    loop {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => {
                let stream = UnixStream::from(fd);
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(rustix::io::Errno::AGAIN) if std::time::Instant::now() < deadline => {
                // A retry interval: the queue frees as the agent accepts.
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Refuses an agent that runs as another user (root excepted, who could
/// read everything anyway), before a request is sent: `oidc-add` sends the
/// refresh token, the client secret and the file's data key. Another user
/// may have made the socket at a path `OIDC_SOCK` still names once its
/// agent has ended (its directory in `/tmp` is gone, and the path was in
/// the agent's command line), or moved ours aside in a directory they can
/// write (SO_PEERCRED: the peer's uid at connect, as the agent checks ours).
fn check_peer(stream: &UnixStream, path: &Path) -> Result<()> {
    let ours = rustix::process::getuid();
    let peer =
        rustix::net::sockopt::socket_peercred(stream).map_err(|e| Error::AgentUnreachable {
            path: path.to_owned(),
            cause: e.into(),
        })?;
    if peer.uid == ours || peer.uid.is_root() {
        return Ok(());
    }
    Err(Error::AgentNoReply {
        path: path.to_owned(),
        what: format!(
            "is run by another user (uid {}, pid {}); nothing was sent to it. OIDC_SOCK names a \
             socket that is not your agent's (yours has ended, or the socket was replaced): \
             start your agent again with `eval \"$(oidc-agent)\"`",
            peer.uid.as_raw(),
            peer.pid.as_raw_nonzero()
        ),
    })
}

/// An I/O error after the connection was made: cut off (another user's
/// agent refuses that way) or left waiting (a hung agent) is not "no agent
/// here", and each says what to do.
fn no_reply(path: &Path, cause: io::Error) -> Error {
    let what = match cause.kind() {
        // The peer is this user's (or root's): `check_peer` came first.
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
            "closed the connection without a reply: it ended while answering (killed, or \
             crashed), or it is root's and refuses you; if `oidc-agent --status` finds none, \
             start another (`eval \"$(oidc-agent)\"`, or `oidc-agent-service start`) and load \
             your accounts again"
                .to_owned()
        }
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
            "did not answer within {} s; it may be hung, or stopped (`kill -CONT PID` resumes \
             it): stop it (`oidc-agent -k`; the per-user service: `oidc-agent-service restart`) \
             and start another (`eval \"$(oidc-agent)\"`)",
            REPLY_TIMEOUT.as_secs()
        ),
        _ => {
            return Error::AgentUnreachable {
                path: path.to_owned(),
                cause,
            };
        }
    };
    Error::AgentNoReply {
        path: path.to_owned(),
        what,
    }
}

/// oidc-agent 4.x puts raw newlines and tabs inside JSON strings (its
/// `status` text); escapes control characters inside strings so that such a
/// reply still parses. Outside strings they are JSON white space and kept.
fn escape_controls(reply: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.len() + 64);
    let (mut in_string, mut escaped) = (false, false);
    for &b in reply {
        if in_string && !escaped && b < 0x20 {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
            continue;
        }
        out.push(b);
        if escaped {
            escaped = false;
        } else if in_string && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_string = !in_string;
        }
    }
    out
}

/// Turns a failure reply into an error carrying its kind and text.
pub fn failure_to_error(reply: Response) -> Error {
    let mut message = reply
        .error
        .unwrap_or_else(|| format!("agent answered '{}'", reply.status));
    if let Some(serde_json::Value::String(info)) = &reply.info {
        let info = info.trim();
        if !info.is_empty() {
            message.push_str(" (");
            message.push_str(info);
            message.push(')');
        }
    }
    let kind = reply.kind.unwrap_or_else(|| guess_kind(&message));
    Error::Agent { kind, message }
}

// oidc-agent's own agent sends no `kind`: classify by its well-known strings.
fn guess_kind(message: &str) -> ErrorKind {
    use crate::protocol::strings;
    if message.starts_with(strings::NO_ACCOUNT) || message.starts_with(strings::NOT_LOADED) {
        ErrorKind::NotLoaded
    } else if message.starts_with(strings::LOCKED) {
        ErrorKind::Locked
    } else if message.starts_with(strings::WRONG_PASSWORD) {
        ErrorKind::WrongPassword
    } else {
        ErrorKind::Failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cut off or left waiting after connecting, the error says so and
    /// what to do, and still exits 3 (no agent to serve).
    #[test]
    fn an_agent_that_does_not_reply_is_named_as_such() {
        let path = Path::new("/run/x.sock");
        for (kind, says) in [
            (io::ErrorKind::BrokenPipe, "it ended while answering"),
            (io::ErrorKind::ConnectionReset, "it ended while answering"),
            (io::ErrorKind::WouldBlock, "it may be hung"),
        ] {
            let e = no_reply(path, kind.into());
            assert!(e.to_string().contains(says), "{kind:?}: {e}");
            assert_eq!(e.kind(), ErrorKind::NoAgent);
        }
        let e = no_reply(path, io::ErrorKind::NotFound.into());
        assert!(e.to_string().contains("cannot reach the agent"), "{e}");
    }

    /// OIDC_SOCK naming a file or a directory: said so, not "Connection
    /// refused"; exit 3 all the same.
    #[test]
    fn a_path_that_is_no_socket_is_named_as_such() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("notes");
        std::fs::write(&file, "x").expect("write");
        for (path, says) in [
            (file.as_path(), "it is a regular file, not a socket"),
            (dir.path(), "it is a directory, not a socket"),
        ] {
            let e = AgentClient::new(path)
                .call_raw(&Request::Status)
                .expect_err("no agent");
            assert!(e.to_string().contains(says), "{e}");
            assert_eq!(e.kind(), ErrorKind::NoAgent);
        }
        let e = AgentClient::new(dir.path().join("gone"))
            .call_raw(&Request::Status)
            .expect_err("no agent");
        assert!(e.to_string().contains("No such file"), "{e}");
    }

    #[test]
    fn a_4x_status_reply_with_raw_newlines_parses() {
        let raw = b"{\"status\":\"success\",\"info\":\"Version: 4.2.6\n\tLoaded: \\\"a\\\"\n\"}";
        assert!(serde_json::from_slice::<Response>(raw).is_err());
        let reply: Response = serde_json::from_slice(&escape_controls(raw)).expect("parses");
        assert_eq!(
            reply
                .info
                .and_then(|i| i.as_str().map(str::to_owned))
                .as_deref(),
            Some("Version: 4.2.6\n\tLoaded: \"a\"\n")
        );
    }
}
