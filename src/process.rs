//! Other processes: waiting for one to exit, with a deadline, and the
//! socket one listens on. A pidfd becomes readable
//! when its process exits (pidfd_open(2)), whether or not it is our child
//! (the agent `oidc-agent-service stop` ends is not), and waiting on it
//! does not reap a child: its pid stays its own until `wait`, so a kill by
//! pid after a timeout reaches the right process.

use std::io;
use std::path::PathBuf;
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

/// The path of the Unix socket process `pid` listens on (an agent's own
/// socket, whatever `OIDC_SOCK` says), as Linux's `/proc/PID/fd` and
/// `/proc/net/unix` tell; `None` when it listens on none or is not ours.
pub fn listening_socket(pid: i32) -> Option<PathBuf> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.ok()?.path()).ok()?;
            let inode = target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    // Num RefCount Protocol Flags Type St Inode Path; the flag
    // __SO_ACCEPTCON (0x10000) marks a listening socket.
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    table.lines().skip(1).find_map(|line| {
        let mut fields = [""; 7];
        let mut rest = line;
        for field in &mut fields {
            let (f, r) = rest.trim_start().split_once(char::is_whitespace)?;
            (*field, rest) = (f, r);
        }
        let path = rest.trim_start();
        let listening = u32::from_str_radix(fields[3], 16).is_ok_and(|f| f & 0x10000 != 0);
        (listening && inodes.contains(fields[6]) && path.starts_with('/'))
            .then(|| PathBuf::from(path))
    })
}

/// Whether process `pid` is stopped (a suspended job, SIGSTOP, a
/// debugger): it answers nothing and handles no signal but SIGKILL until
/// SIGCONT, so waiting for it to stop would wait for ever.
pub fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // pid (comm) state …: the name may hold spaces and parentheses.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| matches!(state, 'T' | 't'))
    })
}

/// Refuses to wait for stopped process `pid` to exit (see [`is_stopped`]),
/// saying how to resume it and what to run `again`.
pub fn refuse_if_stopped(pid: i32, again: &str) -> io::Result<()> {
    if is_stopped(pid) {
        return Err(io::Error::other(format!(
            "the agent (pid {pid}) is stopped (a suspended job, or SIGSTOP), so it can neither \
             answer nor exit: resume it with `kill -CONT {pid}`, then run {again} again"
        )));
    }
    Ok(())
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

    /// The socket this process listens on is found by its pid.
    #[test]
    fn the_socket_a_process_listens_on_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("listening.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let pid = i32::try_from(std::process::id()).expect("pid");
        assert_eq!(super::listening_socket(pid), Some(path));
    }
}
