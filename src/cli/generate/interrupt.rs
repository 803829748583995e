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
//! saves nothing. What the run has made at the provider by then, and nothing
//! would use, is armed as an undo ([`Interrupt::arm`]): from the dynamic
//! registration of a client on, its deletion (RFC 7592 §2.3); from the moment
//! the tokens arrive until the save, the revocation of the login (RFC 7009).
//! A signal runs it before the exit, and so does a login that fails
//! (`Session`'s drop, `generate.rs`).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::Handle;
use tokio::signal::unix::{SignalKind, signal};

/// What undoes this run's side effects at the provider (deletes the client
/// it registered, revokes a login not saved yet); it says what it did, for
/// the line printed before the exit.
pub(super) type Undo = std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>;

/// How long an undo may take after Ctrl-C: the person is waiting.
const UNDO_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// What the task reads when a signal comes.
#[derive(Default)]
struct State {
    /// What is being waited for, if anything.
    waiting: Option<&'static str>,
    /// What to undo when a signal ends oidc-gen ([`Interrupt::arm`]).
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

/// Runs `undo` for up to [`UNDO_DEADLINE`]; what it did, or that the
/// provider was too slow.
pub(super) async fn within_deadline(undo: Undo) -> String {
    tokio::time::timeout(UNDO_DEADLINE, undo)
        .await
        .unwrap_or_else(|_| {
            "the provider did not answer in time, so the new login (or the client registered \
             for it) stays there"
                .to_owned()
        })
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
                    eprintln!("oidc-gen: {}", within_deadline(undo).await);
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

    /// From now on a signal (outside a [`Self::critical`] step) runs
    /// `undo`, for up to [`UNDO_DEADLINE`], before oidc-gen exits: what this
    /// run left at the provider and nothing will use (a client registered
    /// for the login, a login granted but not saved) is removed, not left
    /// behind. Replaces what was armed before; `None` arms nothing.
    pub(super) fn arm(&self, undo: Option<Undo>) {
        lock(&self.shared).undo = undo;
    }

    /// Takes back what [`Self::arm`] set: the login is saved, or handed on
    /// (to a later `--codeExchange`), and nothing is to be undone.
    pub(super) fn disarm(&self) -> Option<Undo> {
        lock(&self.shared).undo.take()
    }

    /// Runs `step` (named by `what`: "saving the account") to its end
    /// whatever signal comes; one that came then ends oidc-gen after it, with
    /// the step's error, if any, said first.
    pub(super) fn critical<T>(
        &self,
        what: &'static str,
        step: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let outer = lock(&self.shared).critical.replace(what);
        let out = step();
        // Inside another such step (an import's save), that step ends it.
        let pending = {
            let mut state = lock(&self.shared);
            state.critical = outer;
            if outer.is_none() {
                state.pending.take()
            } else {
                None
            }
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
