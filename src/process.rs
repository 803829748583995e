//! Waiting for a process to exit, with a deadline. A pidfd becomes readable
//! when its process exits (pidfd_open(2)), whether or not it is our child
//! (the agent `oidc-agent-service stop` ends is not), and waiting on it
//! does not reap a child: its pid stays its own until `wait`, so a kill by
//! pid after a timeout reaches the right process.

use std::io;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, PidfdFlags, pidfd_open};

/// Waits at most `within` for `pid` to exit: `Ok(false)` if it still runs.
/// A pid that no longer exists has exited.
pub fn wait_exit(pid: Pid, within: Duration) -> io::Result<bool> {
    let fd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// [`wait_exit`] for a child of ours (which stays unreaped: `wait` it).
pub fn wait_child(child: &std::process::Child, within: Duration) -> io::Result<bool> {
    match i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        Some(pid) => wait_exit(pid, within),
        None => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_a_running_process_from_an_ended_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
        assert!(!wait_exit(pid, Duration::from_millis(50)).expect("wait"));
        child.kill().expect("kill");
        // Exited but not reaped: the pidfd says so already.
        assert!(wait_exit(pid, Duration::from_secs(20)).expect("wait"));
        child.wait().expect("reap");
    }
}
