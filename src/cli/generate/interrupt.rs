//! Ctrl-C (and SIGTERM, SIGHUP) in oidc-gen: a clean, explained exit while
//! the user is being waited for, the ordinary exit at any other moment, and
//! none while a refresh token the provider has issued is not saved yet.
//!
//! The signals keep their default disposition until the first wait (a
//! device-flow poll, the loopback listener waiting for the browser) or the
//! first step that must not be cut short (an imported token's check refresh,
//! the save). Then one task on the session's runtime takes them over with
//! `tokio::signal`. tokio cannot give a signal back once it has registered
//! a handler, so that task stays for the rest of the session and exits with
//! 128 + the signal's number itself, as the default handler would have;
//! during a wait it first prints one line saying what was abandoned. During
//! a [`Interrupt::critical`] step it only notes the signal: a provider
//! that rotates refresh tokens has already invalidated the one that was
//! pasted, so stopping before the save would lose the account's only live
//! token (SIGKILL still can; README "What remains"). The task runs on the
//! runtime's driver thread (`runtime.rs`), so it runs while the main thread
//! blocks outside the runtime (the loopback listener, a password prompt): on
//! a runtime driven only by the main thread a Ctrl-C there would be
//! swallowed. A wait ends before anything is written, so an interrupted wait
//! saves nothing.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::Handle;
use tokio::signal::unix::{SignalKind, signal};

/// What undoes a wait's side effect at the provider (revokes a login not
/// saved yet); it says what it did, for the line printed before the exit.
pub(super) type Undo = std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>;

/// How long an undo may take after Ctrl-C: the person is waiting.
const UNDO_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// What the task reads when a signal comes.
#[derive(Default)]
struct State {
    /// What is being waited for, if anything.
    waiting: Option<&'static str>,
    /// What to undo when that wait is interrupted.
    undo: Option<Undo>,
    /// The step under way that a signal must not cut short, if any.
    critical: Option<&'static str>,
    /// The exit code of a signal that came during such a step.
    pending: Option<i32>,
}

type Shared = Arc<Mutex<State>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The signal task's shared state; created by [`Interrupt::install`].
pub(super) struct Interrupt {
    shared: Shared,
}

impl Interrupt {
    /// Registers the handlers and spawns the task that owns them on `rt`.
    /// They are in place when this returns, so a Ctrl-C right after the
    /// caller shows its prompt is already handled.
    pub(super) fn install(rt: &Handle) -> std::io::Result<Self> {
        let shared = Shared::default();
        let _entered = rt.enter();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let task = Arc::clone(&shared);
        rt.spawn(async move {
            loop {
                let code = tokio::select! {
                    _ = int.recv() => 128 + libc::SIGINT,
                    _ = term.recv() => 128 + libc::SIGTERM,
                    _ = hup.recv() => 128 + libc::SIGHUP,
                };
                let undo = {
                    let mut state = lock(&task);
                    if let Some(step) = state.critical {
                        // Past the "^C" the terminal echoed, on a line of its own.
                        eprintln!("\noidc-gen: interrupted; finishing {step} first");
                        state.pending.get_or_insert(code);
                        continue;
                    }
                    // A password prompt may have turned echo off.
                    crate::cli::tty::restore();
                    match state.waiting {
                        Some(what) => {
                            eprintln!("\noidc-gen: interrupted while {what}; nothing was saved");
                        }
                        None => eprintln!(),
                    }
                    state.undo.take()
                };
                if let Some(undo) = undo {
                    let said = tokio::time::timeout(UNDO_DEADLINE, undo)
                        .await
                        .unwrap_or_else(|_| {
                            "the provider did not answer in time; the login stays valid there \
                             until it expires"
                                .to_owned()
                        });
                    eprintln!("oidc-gen: {said}");
                    // The prompt's read, cut short meanwhile, may have set
                    // its quiet mode again on the way out.
                    crate::cli::tty::restore();
                }
                std::process::exit(code);
            }
        });
        Ok(Self { shared })
    }

    /// Runs `wait` with `what` ("waiting for the browser login") as the
    /// message a Ctrl-C during it prints.
    pub(super) fn during<T>(&self, what: &'static str, wait: impl FnOnce() -> T) -> T {
        lock(&self.shared).waiting = Some(what);
        let out = wait();
        lock(&self.shared).waiting = None;
        out
    }

    /// [`Self::during`], with `undo` run (for up to [`UNDO_DEADLINE`])
    /// when a signal ends the wait: a login the provider has granted but
    /// oidc-gen has not saved is revoked, not left behind.
    pub(super) fn during_undoable<T>(
        &self,
        what: &'static str,
        undo: Undo,
        wait: impl FnOnce() -> T,
    ) -> T {
        lock(&self.shared).undo = Some(undo);
        let out = self.during(what, wait);
        lock(&self.shared).undo = None;
        out
    }

    /// Runs `step` (named by `what`: "saving the account") to its end
    /// whatever signal comes; one that came then ends oidc-gen after it, with
    /// the step's error, if any, said first.
    pub(super) fn critical<T>(
        &self,
        what: &'static str,
        step: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        lock(&self.shared).critical = Some(what);
        let out = step();
        let pending = {
            let mut state = lock(&self.shared);
            state.critical = None;
            state.pending.take()
        };
        if let Some(code) = pending {
            if let Err(e) = &out {
                eprintln!("oidc-gen: {e:#}");
            }
            crate::cli::tty::restore();
            std::process::exit(code);
        }
        out
    }
}
