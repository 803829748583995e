//! The agent's clock: the one source of "now" for account lifetimes
//! (`oidc-add -t`, `--lifetime`), access-token expiry and the token cache,
//! refresh ahead and its back-off.
//!
//! A release build reads the system clock. A debug build (the test suites)
//! adds an offset when the test-only variable `OIDC_AGENT_RS_TEST_CLOCK`
//! names a file: the file holds a number of seconds, reread at every reading
//! of the clock, so a test moves the agent's time forward by rewriting it
//! (atomically: write a temporary file, rename it over) instead of waiting
//! real seconds for a lifetime or a token to run out. A missing or
//! unreadable file is an offset of 0. Like `OIDC_AGENT_RS_TEST_KDF`, no
//! environment variable changes a release build.

use std::path::PathBuf;

/// The test-only variable naming the offset file (debug builds only).
pub const TEST_CLOCK_VAR: &str = "OIDC_AGENT_RS_TEST_CLOCK";

/// Seconds since the Unix epoch, as the agent sees them; the default is
/// the system clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Where a test keeps the offset; `None`: the system clock as it is.
    offset_file: Option<PathBuf>,
}

impl Clock {
    /// The system clock, plus the test offset in a debug build when
    /// [`TEST_CLOCK_VAR`] is set.
    pub fn from_env() -> Self {
        choose(cfg!(debug_assertions), std::env::var_os(TEST_CLOCK_VAR))
    }

    /// Now, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        crate::oidc::token::unix_now().saturating_add(self.offset())
    }

    fn offset(&self) -> i64 {
        self.offset_file
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }
}

fn choose(debug_build: bool, var: Option<std::ffi::OsString>) -> Clock {
    Clock {
        offset_file: var
            .filter(|v| debug_build && !v.is_empty())
            .map(PathBuf::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_offset_moves_the_clock_in_debug_builds_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("clock");
        let var = Some(file.clone().into_os_string());
        let clock = choose(true, var.clone());
        let before = crate::oidc::token::unix_now();
        // No file yet: the system clock.
        assert!((before..before + 5).contains(&clock.now()));
        std::fs::write(&file, "3600\n").expect("write");
        assert!((before + 3600..before + 3605).contains(&clock.now()));
        // A release build ignores the variable.
        assert!(choose(false, var).offset_file.is_none());
        assert!(choose(true, Some("".into())).offset_file.is_none());
        assert!((before..before + 5).contains(&Clock::default().now()));
    }
}
