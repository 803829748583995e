//! Ctrl-C in oidc-gen: a clean, explained exit while the user is being
//! waited for, and the ordinary exit 130 at any other moment.
//!
//! SIGINT keeps its default disposition until the first wait (a device-flow
//! poll, the loopback listener waiting for the browser). Then one task on the
//! session's runtime takes it over with `tokio::signal`. tokio cannot give
//! SIGINT back once it has registered a handler, so that task stays for the
//! rest of the session and exits with 130 itself, as the default handler
//! would have; during a wait it first prints one line saying what was
//! abandoned. The task runs on the runtime's driver thread (`runtime.rs`), so
//! it runs while the main thread blocks outside the runtime (the loopback
//! listener, a password prompt): on a runtime driven only by the main
//! thread a Ctrl-C there would be swallowed. A wait ends before anything is written, so an interrupted
//! wait saves nothing.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::Handle;
use tokio::signal::unix::{SignalKind, signal};

/// What is being waited for, if anything; read by the SIGINT task.
type Waiting = Arc<Mutex<Option<&'static str>>>;

/// The SIGINT task's shared state; created by [`Interrupt::install`].
pub(super) struct Interrupt {
    waiting: Waiting,
}

impl Interrupt {
    /// Registers the SIGINT handler and spawns the task that owns it on `rt`.
    /// The handler is in place when this returns, so a Ctrl-C right after the
    /// caller shows its prompt is already handled.
    pub(super) fn install(rt: &Handle) -> std::io::Result<Self> {
        let waiting = Waiting::default();
        let _entered = rt.enter();
        let mut sigint = signal(SignalKind::interrupt())?;
        let shared = Arc::clone(&waiting);
        rt.spawn(async move {
            if sigint.recv().await.is_some() {
                let what = *shared.lock().unwrap_or_else(PoisonError::into_inner);
                // Past the "^C" the terminal echoed, on a line of its own.
                match what {
                    Some(what) => {
                        eprintln!("\noidc-gen: interrupted while {what}; nothing was saved");
                    }
                    None => eprintln!(),
                }
                // A password prompt may have turned echo off.
                crate::cli::tty::restore();
                std::process::exit(crate::cli::tty::EXIT_INTERRUPTED);
            }
        });
        Ok(Self { waiting })
    }

    /// Runs `wait` with `what` ("waiting for the browser login") as the
    /// message a Ctrl-C during it prints.
    pub(super) fn during<T>(&self, what: &'static str, wait: impl FnOnce() -> T) -> T {
        self.set(Some(what));
        let out = wait();
        self.set(None);
        out
    }

    fn set(&self, what: Option<&'static str>) {
        *self.waiting.lock().unwrap_or_else(PoisonError::into_inner) = what;
    }
}
