//! Password prompts on the controlling terminal, and the terminal's mode
//! put back however a prompt ends: on return, on an error, and when
//! SIGINT, SIGTERM, SIGHUP or SIGQUIT ends the process during it (as
//! readpassphrase(3) does; without that, ^C at a prompt left the shell's
//! terminal without echo).

use std::io::{self, Write as _};
use std::os::fd::{AsRawFd as _, BorrowedFd};
use std::sync::{Mutex, PoisonError};

use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};

use crate::secret::SecretString;

/// The exit code of a program a person interrupted (128 + SIGINT, what a
/// shell reports for a process SIGINT ended).
pub const EXIT_INTERRUPTED: i32 = 130;

/// The terminal a prompt has changed, and its mode before: what [`restore`]
/// puts back.
static CHANGED: Mutex<Option<(i32, Termios)>> = Mutex::new(None);

/// The signals whose default action ends the process.
const ENDING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Puts back the mode of the terminal a prompt has changed, if one is
/// open: for the signal handler below, and for oidc-gen's Ctrl-C task,
/// which ends the process from another thread.
pub fn restore() {
    // try_lock (an atomic exchange) only: this runs in a signal handler.
    if let Ok(changed) = CHANGED.try_lock()
        && let Some((fd, mode)) = changed.as_ref()
    {
        #[allow(unsafe_code)]
        // SAFETY: the descriptor stays open while `CHANGED` names it (the
        // prompt clears it before closing the terminal).
        let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
        let _ = tcsetattr(fd, OptionalActions::Now, mode);
    }
}

/// Ends the process by `signal`, as the signal's default action does: the
/// parent (a shell) sees the signal, not an exit code. Async-signal-safe.
pub fn end_by(signal: libc::c_int) {
    #[allow(unsafe_code)]
    // SAFETY: signal() and raise() are async-signal-safe.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    restore();
    end_by(signal);
}

/// The handlers installed for one prompt, taken down with it. Only signals
/// left at their default action get one: where the program handles a
/// signal itself (oidc-gen's Ctrl-C), it calls [`restore`] itself.
struct Handlers(Vec<(libc::c_int, libc::sigaction)>);

impl Handlers {
    fn install() -> Self {
        let mut installed = Vec::new();
        for signal in ENDING {
            #[allow(unsafe_code)]
            // SAFETY: plain sigaction(2) calls with initialised structs; the
            // handler only makes async-signal-safe calls.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(signal, std::ptr::null(), &raw mut old) != 0
                    || old.sa_sigaction != libc::SIG_DFL
                {
                    continue;
                }
                let mut new: libc::sigaction = std::mem::zeroed();
                new.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                libc::sigemptyset(&raw mut new.sa_mask);
                if libc::sigaction(signal, &raw const new, std::ptr::null_mut()) == 0 {
                    installed.push((signal, old));
                }
            }
        }
        Self(installed)
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        for (signal, old) in &self.0 {
            #[allow(unsafe_code)]
            // SAFETY: puts back the action read in `install`.
            unsafe {
                libc::sigaction(*signal, old, std::ptr::null_mut());
            }
        }
    }
}

/// While alive: the terminal is quiet (no echo) and `CHANGED` names it.
struct Quiet<'a> {
    tty: &'a std::fs::File,
    original: Termios,
    _handlers: Handlers,
}

impl Drop for Quiet<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.tty, OptionalActions::Now, &self.original);
        *CHANGED.lock().unwrap_or_else(PoisonError::into_inner) = None;
        // `_handlers` drops after this: a signal until then still restores.
    }
}

/// Writes `text` to the controlling terminal, if there is one: for a note
/// from a program whose stderr another program reads.
pub(super) fn say(text: &str) {
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = tty.write_all(text.as_bytes());
    }
}

/// One password from the controlling terminal, read as readpassphrase(3)
/// reads it: echo goes off before the prompt is written, so whatever is
/// typed once it shows is never echoed, and the terminal's signal keys stay
/// on, so ^C interrupts the whole foreground job (a script's loop, git,
/// kubectl), not this process alone. (rpassword turned them off and raised
/// SIGINT in the prompting process only: git then went on to ask for a
/// user name, a loop to its next round.)
pub(super) fn ask(prompt: &str) -> io::Result<SecretString> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let original = tcgetattr(&tty)?;
    *CHANGED.lock().unwrap_or_else(PoisonError::into_inner) =
        Some((tty.as_raw_fd(), original.clone()));
    let mut quiet = original.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    // The Enter that ends the line still shows, as a new line.
    quiet.local_modes.insert(LocalModes::ECHONL);
    let _quiet = Quiet {
        tty: &tty,
        original,
        _handlers: Handlers::install(),
    };
    tcsetattr(&tty, OptionalActions::Now, &quiet)?;
    (&tty).write_all(prompt.as_bytes())?;
    match read_line(&tty) {
        Ok(password) => Ok(password),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            // A signal the program handles itself (oidc-gen's Ctrl-C, whose
            // task ends the process with 130) cut the read short: the
            // terminal put back, that task ends the process, instead of an
            // error of our own racing it. This thread waits for that exit:
            // the task may first undo what the login left at the provider
            // (up to 5 s, `interrupt::UNDO_DEADLINE`), which exiting here
            // would cut short. The sleep is that wait's bound, never its
            // end when a task handles the signal; the exit after it is for
            // a signal no task handles.
            drop(_quiet);
            std::thread::sleep(std::time::Duration::from_secs(10));
            std::process::exit(EXIT_INTERRUPTED);
        }
        Err(e) => Err(e),
    }
}

/// One line typed at `tty` (in its line mode), without its line end; what
/// was read is wiped. Ctrl-D on an empty line is `UnexpectedEof`.
fn read_line(tty: &std::fs::File) -> io::Result<SecretString> {
    match crate::secret::read_first_line(tty) {
        Ok(Some(line)) => Ok(line),
        Ok(None) => Err(io::ErrorKind::UnexpectedEof.into()),
        Err(crate::secret::LineError::Read(e)) => Err(e),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    }
}
