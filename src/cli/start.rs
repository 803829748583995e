//! The start of `oidc-agent` and `oidc-token` without std's runtime
//! start-up (their binaries are `#![no_main]` and call [`c_main`] from the C
//! `main`; issue 15, README "Performance").
//!
//! Before `main`, std's start-up installs a stack-overflow handler, and to
//! place the main thread's guard it asks glibc for the main thread's stack
//! (`pthread_getattr_np`), which opens `/proc/self/maps` and parses it line
//! by line with `sscanf`: a good part of a cached `oidc-token`'s CPU time,
//! and, in the agent, libc's scanf code made resident for the process's
//! life by one call (README "Performance" has the figures). Of what that
//! start-up does, these binaries need two things, done here: SIGPIPE
//! ignored (the agent's log on a stderr whose reader has gone, `oidc-token
//! NAME | head -c0`: a failed write, not the end of the process and of the
//! accounts the agent holds; std's sockets never raise it) and the three
//! standard descriptors open (a daemon started with them closed must not
//! have its sockets numbered 0-2, where a stray log line or `print!` would
//! land). What they do without: a stack overflow ends the process by
//! SIGSEGV without std's one-line message, and the main thread has no name
//! in a panic message. The arguments and the environment are std's as
//! always (glibc hands them to std before `main`). The other binaries,
//! whose start-up nobody waits on, keep std's start.

use std::ffi::c_int;
use std::io::Write as _;
use std::os::fd::IntoRawFd as _;

use rustix::fs::{Mode, OFlags};

/// Runs `body` as std's start-up would run `main`: SIGPIPE ignored, the
/// standard descriptors open, a panic turned into exit code 101 (the hook
/// has printed it), stdout flushed at the end. Returns the exit code.
pub fn c_main(body: fn() -> u8) -> c_int {
    ignore_sigpipe();
    if let Err(e) = open_standard_descriptors() {
        eprintln!("cannot open /dev/null for a closed standard descriptor: {e}");
        return 1;
    }
    // A panic must not unwind out of the C `main` (that aborts).
    let code = std::panic::catch_unwind(body).unwrap_or(101);
    let _ = std::io::stdout().flush();
    c_int::from(code)
}

fn ignore_sigpipe() {
    #[allow(unsafe_code)]
    // SAFETY: sets a signal's disposition to "ignore"; no handler runs. A
    // child started with std's `Command` gets the default action back
    // (std resets SIGPIPE in every child it starts).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Opens `/dev/null` on each of 0, 1 and 2 that is closed, as std's
/// start-up does: open(2) returns the lowest free number, which is the
/// closed one, as they are tried in order.
fn open_standard_descriptors() -> std::io::Result<()> {
    for fd in 0..3 {
        #[allow(unsafe_code)]
        // SAFETY: F_GETFD only reads the descriptor's flags.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        if closed {
            // Not close-on-exec (std's `File::open` would set it): a
            // program we start inherits the descriptor, as it would
            // inherit a standard descriptor.
            let null = rustix::fs::open("/dev/null", OFlags::RDWR, Mode::empty())?;
            // Kept open for the process's life as that descriptor.
            let _ = null.into_raw_fd();
        }
    }
    Ok(())
}
