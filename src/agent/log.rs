//! The agent's log: one line per event, each with an RFC 3339 UTC timestamp
//! and the pid, written to stderr (the console, or `--log-file`) and kept in
//! memory (the last [`KEPT`] lines) so that `oidc-agent --status` can show
//! them even when the daemon's stderr goes to /dev/null.
//!
//! Account lifecycle events name the account and, for refresh tokens, only a
//! [`fingerprint`]: enough to tell which token a line is about, never enough
//! to use it. Per-connection errors are rate-limited ([`connection_error`]), so
//! a client cannot grow the log without bound.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::Digest as _;

use crate::secret::SecretString;

/// How many lines `--status` can show.
pub const KEPT: usize = 300;
/// Connection errors logged per window before they are only counted.
const CONN_ERRORS_PER_WINDOW: u32 = 20;
/// The rate-limit window for connection errors.
const CONN_WINDOW: Duration = Duration::from_secs(60);

struct Log {
    lines: VecDeque<String>,
    window_start: Option<Instant>,
    in_window: u32,
    suppressed: u32,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    lines: VecDeque::new(),
    window_start: None,
    in_window: 0,
    suppressed: 0,
});

fn log_state() -> std::sync::MutexGuard<'static, Log> {
    LOG.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes one line. Never panics: a daemon whose log reader went away must
/// keep serving (`eprintln!` would panic on EPIPE).
pub fn line(msg: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let text = format!("{stamp} oidc-agent[{}]: {msg}", std::process::id());
    let _ = writeln!(std::io::stderr(), "{text}");
    let mut log = log_state();
    if log.lines.len() == KEPT {
        log.lines.pop_front();
    }
    log.lines.push_back(text);
}

/// The kept lines, oldest first.
pub fn recent() -> Vec<String> {
    log_state().lines.iter().cloned().collect()
}

/// Logs a per-connection error, at most [`CONN_ERRORS_PER_WINDOW`] a minute;
/// the rest are counted and reported once the window is over.
pub fn connection_error(err: &dyn std::fmt::Display) {
    let now = Instant::now();
    let (log_it, suppressed) = {
        let mut log = log_state();
        let expired = log
            .window_start
            .is_none_or(|t| now.duration_since(t) >= CONN_WINDOW);
        let mut suppressed = 0;
        if expired {
            suppressed = std::mem::take(&mut log.suppressed);
            log.window_start = Some(now);
            log.in_window = 0;
        }
        log.in_window += 1;
        let log_it = log.in_window <= CONN_ERRORS_PER_WINDOW;
        if !log_it {
            log.suppressed += 1;
        }
        (log_it, suppressed)
    };
    if suppressed > 0 {
        line(format_args!(
            "{suppressed} more connection errors in the last minute were not logged"
        ));
    }
    if log_it {
        line(format_args!("connection: {err}"));
    }
}

/// A short, non-reversible fingerprint of a refresh token for the log: the
/// first 8 hex digits of its SHA-256. Refresh tokens carry far more entropy
/// than 32 bits, so the fingerprint reveals nothing usable.
pub fn fingerprint(token: &SecretString) -> String {
    let digest = sha2::Sha256::digest(token.expose().as_bytes());
    hex::encode(&digest[..4])
}

/// Logs one line (see [`line`]).
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::agent::log::line(format_args!($($arg)*))
    };
}
pub(crate) use log;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_time_and_pid_and_are_kept() {
        line(format_args!("hello {}", 42));
        let last = recent().pop().expect("a line");
        assert!(last.ends_with("hello 42"), "{last}");
        assert!(
            last.contains(&format!("oidc-agent[{}]", std::process::id())),
            "{last}"
        );
        // 2026-12-01T21:50:00.123Z
        let stamp = last.split(' ').next().expect("stamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{stamp}"
        );
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let a = fingerprint(&SecretString::new("rt-one".into()));
        assert_eq!(a.len(), 8);
        assert_eq!(a, fingerprint(&SecretString::new("rt-one".into())));
        assert_ne!(a, fingerprint(&SecretString::new("rt-two".into())));
        assert!(!a.contains("rt-one"));
    }

    #[test]
    fn connection_errors_are_rate_limited() {
        let before = recent().len();
        for i in 0..(CONN_ERRORS_PER_WINDOW * 5) {
            connection_error(&format!("boom {i}"));
        }
        let logged = recent()
            .iter()
            .filter(|l| l.contains("connection: boom"))
            .count();
        assert!(
            logged <= usize::try_from(CONN_ERRORS_PER_WINDOW).unwrap_or(usize::MAX),
            "{logged} logged"
        );
        assert!(recent().len() <= before + KEPT);
    }
}
