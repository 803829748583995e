//! Socket activation: the listening socket systemd passes to the agent
//! (sd_listen_fds(3): `LISTEN_PID` is our pid, `LISTEN_FDS` counts the
//! passed descriptors, the first is fd 3).
//!
//! With systemd's `oidc-agent.socket` unit, systemd owns the socket file
//! (`%t/oidc-agent/agent.sock`, 0600) and starts the agent on the first
//! connection; the agent serves that socket and never removes it.

use std::os::fd::{AsFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::net::UnixListener;

use crate::error::{Error, Result};

/// The first descriptor passed by socket activation (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

/// The listening socket passed to this process, if any. (The variables stay
/// set: `LISTEN_PID` names this process, so no child could take them for
/// its own, and the activated agent runs no children.)
pub fn listener() -> Result<Option<UnixListener>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    let Some((pid, fds)) = pid.zip(fds) else {
        return Ok(None);
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let count: i32 = fds.trim().parse().unwrap_or(0);
    if count != 1 {
        return Err(Error::Failure(format!(
            "socket activation passed {count} descriptors; the agent serves exactly one \
             (one ListenStream= in oidc-agent.socket)"
        )));
    }
    // SAFETY: under the sd_listen_fds protocol, checked above through
    // LISTEN_PID, fd 3 is open, belongs to this process and nothing else in
    // it uses that descriptor; the agent calls this once, at start-up. What
    // it is gets checked right below.
    #[allow(unsafe_code)]
    let fd = unsafe { OwnedFd::from_raw_fd(LISTEN_FDS_START) };
    check(&fd)?;
    rustix::io::fcntl_setfd(fd.as_fd(), rustix::io::FdFlags::CLOEXEC)
        .map_err(|e| Error::Failure(format!("socket activation: fd 3: {e}")))?;
    Ok(Some(UnixListener::from(fd)))
}

/// The passed descriptor must be a listening Unix stream socket.
fn check(fd: &OwnedFd) -> Result<()> {
    use rustix::net::{AddressFamily, SocketType, sockopt};
    let bad = |what: &str| {
        Err(Error::Failure(format!(
            "socket activation: fd 3 is not {what}; use ListenStream=<path> in oidc-agent.socket"
        )))
    };
    match sockopt::socket_type(fd) {
        Ok(SocketType::STREAM) => {}
        _ => return bad("a stream socket"),
    }
    if !sockopt::socket_acceptconn(fd).unwrap_or(false) {
        return bad("listening");
    }
    match rustix::net::getsockname(fd) {
        Ok(addr) if addr.address_family() == AddressFamily::UNIX => Ok(()),
        _ => bad("a Unix socket"),
    }
}
