//! What every connection shares: the state behind its mutex, the account
//! directory, the agent's settings and clock, and the small helpers handlers use to
//! build failure replies.

use std::sync::{Mutex, MutexGuard};

use super::clock::Clock;
use super::state::State;
use crate::account::format::KdfParams;
use crate::account::store::Store;
use crate::error::ErrorKind;
use crate::oidc::OidcError;
use crate::protocol::{Response, strings};

/// Shared by every connection.
#[derive(Debug)]
pub struct Ctx {
    state: Mutex<State>,
    /// The account directory (for "configured but not loaded" and issuer.config).
    pub store: Store,
    /// Lifetime for accounts added without one (seconds; `None`: forever).
    pub default_lifetime: Option<u64>,
    /// The agent's command line, for `status_json`.
    pub command_line: Vec<String>,
    /// Argon2 parameters for the lock vault.
    pub lock_kdf: KdfParams,
    /// Whether a token request may load a configured account from the
    /// keyring (`--no-autoload` turns it off).
    pub autoload: bool,
    /// The socket the agent serves (for the `oidc-add` it starts to
    /// autoload an account).
    pub socket: std::sync::OnceLock<std::path::PathBuf>,
    /// One autoload at a time; holds when each account's last one failed.
    pub autoloading: tokio::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// One Argon2id run (64 MiB) at a time: unlock attempts, a wrong one
    /// with its second's delay, so that parallel guesses neither go faster
    /// nor take the machine's memory; and the files opened for oidc-agent's
    /// `oidc-add` (`foreign`).
    pub kdf_turn: tokio::sync::Mutex<()>,
    /// "Now" for lifetimes and token expiry (tests move it forward).
    pub clock: Clock,
    /// How long a client waits for a refresh (`--request-timeout`); the
    /// refresh itself waits longer for the provider's answer.
    pub reply_deadline: std::time::Duration,
    /// Set on SIGTERM (and SIGINT, SIGHUP): refreshes under way finish,
    /// none starts (a request that waited for its account's lane meanwhile
    /// would spend a token the next agent may already be loading).
    pub stopping: std::sync::atomic::AtomicBool,
}

impl Ctx {
    /// A fresh agent context.
    pub fn new(store: Store, default_lifetime: Option<u64>, command_line: Vec<String>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            store,
            default_lifetime,
            command_line,
            lock_kdf: KdfParams::DEFAULT,
            autoload: true,
            socket: std::sync::OnceLock::new(),
            autoloading: tokio::sync::Mutex::default(),
            kdf_turn: tokio::sync::Mutex::new(()),
            clock: Clock::from_env(),
            reply_deadline: crate::oidc::http::REQUEST_TIMEOUT,
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The state, recovering from a poisoned lock (a panicked handler must
    /// not take the whole agent down with it). Never held across an `.await`.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A failure reply.
pub fn fail(kind: ErrorKind, msg: impl Into<String>) -> Response {
    Response::failure(kind, msg)
}

/// The reply to a request the lock refuses.
pub fn locked() -> Response {
    fail(ErrorKind::Locked, strings::LOCKED).with_info("unlock it with `oidc-add -X`")
}

/// A provider error as a shareable failure.
pub fn oidc_failure(e: &OidcError) -> (ErrorKind, String) {
    (e.kind(), e.to_string())
}
