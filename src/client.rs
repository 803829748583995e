//! The synchronous agent client used by `oidc-token`, `oidc-add` and `oidc-gen`.
//!
//! One connect, one write, read until the agent closes: no async runtime and
//! no HTTP client, because `oidc-token` is on every script's hot path.

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{MAX_MESSAGE, Request, Response};

/// How long to wait for a reply: longer than the agent's provider deadline,
/// so the agent's own error arrives first.
const REPLY_TIMEOUT: Duration = Duration::from_secs(45);

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
        let mut stream = UnixStream::connect(&self.path).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(unreachable)?;
        stream.write_all(&request.to_bytes()).map_err(unreachable)?;
        // The reply carries the access token: read it into zeroizing memory.
        let reply =
            crate::secret::read_to_end_zeroizing(&mut stream, MAX_MESSAGE).map_err(unreachable)?;
        if reply.is_empty() {
            return Err(Error::Protocol(
                "the agent closed the connection without a reply".into(),
            ));
        }
        serde_json::from_slice(&reply).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Sends one request; a `failure` reply becomes an [`Error::Agent`].
    pub fn call(&self, request: &Request) -> Result<Response> {
        let reply = self.call_raw(request)?;
        if reply.is_success() {
            return Ok(reply);
        }
        Err(failure_to_error(reply))
    }
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
