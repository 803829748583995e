//! The library's error type and the exit-code table every binary shares.
//!
//! Each variant says what failed, on which account, file or endpoint, and
//! what to do about it. The [`ErrorKind`] of an error decides the process
//! exit code and travels over the agent protocol as the reply's `kind`.

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Coarse classes of failure, one exit code each (documented in the man pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Anything not covered below. Exit code 1.
    Failure,
    /// Bad command-line usage. Exit code 2.
    Usage,
    /// No agent could be reached. Exit code 3.
    NoAgent,
    /// The account is not loaded or not configured. Exit code 4.
    NotLoaded,
    /// The agent is locked. Exit code 5.
    Locked,
    /// The provider could not be reached (network, TLS, timeout). Exit code 6.
    ProviderUnreachable,
    /// The provider rejected the refresh token (`invalid_grant`). Exit code 7.
    RefreshTokenRejected,
    /// The provider answered with another error. Exit code 8.
    ProviderError,
    /// Wrong password for an account file or the agent lock. Exit code 9.
    WrongPassword,
    /// An account file is missing, unreadable or corrupt. Exit code 10.
    BadFile,
}

impl ErrorKind {
    /// The process exit code for this kind.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Failure => 1,
            Self::Usage => 2,
            Self::NoAgent => 3,
            Self::NotLoaded => 4,
            Self::Locked => 5,
            Self::ProviderUnreachable => 6,
            Self::RefreshTokenRejected => 7,
            Self::ProviderError => 8,
            Self::WrongPassword => 9,
            Self::BadFile => 10,
        }
    }

    /// All kinds with their exit code and a one-line meaning, for man pages.
    pub const TABLE: &'static [(ErrorKind, &'static str)] = &[
        (Self::Failure, "any other failure"),
        (Self::Usage, "usage error (bad flags or arguments)"),
        (
            Self::NoAgent,
            "no agent reachable (start one with eval \"$(oidc-agent)\")",
        ),
        (
            Self::NotLoaded,
            "account not loaded (run oidc-add NAME) or no such account (oidc-add -l lists them)",
        ),
        (Self::Locked, "agent locked (run oidc-add -X)"),
        (
            Self::ProviderUnreachable,
            "provider unreachable (network, TLS or timeout)",
        ),
        (
            Self::RefreshTokenRejected,
            "refresh token expired or revoked (run oidc-gen --reauthenticate NAME)",
        ),
        (Self::ProviderError, "the provider answered with an error"),
        (Self::WrongPassword, "wrong password"),
        (Self::BadFile, "account file unreadable or corrupt"),
    ];
}

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No socket path known.
    #[error(
        "no agent found: OIDC_SOCK is not set and no per-user agent runs; start one with \
         `eval \"$(oidc-agent-service use)\"` (or `eval \"$(oidc-agent)\"` for this shell only)"
    )]
    NoAgent,

    /// The socket exists in the environment but nothing answers there.
    // The I/O error is part of the message, not a `source`: `{:#}` would
    // print it twice.
    #[error("cannot reach the agent at {path}: {cause}; start one with `eval \"$(oidc-agent)\"`")]
    AgentUnreachable {
        /// The socket path tried.
        path: PathBuf,
        /// The connect or I/O error.
        cause: io::Error,
    },

    /// The agent answered with a failure.
    #[error("{message}")]
    Agent {
        /// What kind of failure (decides the exit code).
        kind: ErrorKind,
        /// The agent's `error` text, plus its `info` when present.
        message: String,
    },

    /// The agent's reply could not be understood.
    #[error("bad reply from the agent: {0}")]
    Protocol(String),

    /// An account file failed to decrypt because the password is wrong.
    #[error("wrong password for {path}")]
    WrongPassword {
        /// The account file.
        path: PathBuf,
    },

    /// An account file is corrupt, truncated or of an unknown format.
    #[error(
        "account file {path} is unreadable: {reason}; restore it from a backup or run `oidc-gen` again"
    )]
    CorruptFile {
        /// The account file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// No account file with that name.
    #[error(
        "no account named '{name}' in {dir}; list them with `oidc-add -l`, create one with `oidc-gen {name}`"
    )]
    NoSuchAccount {
        /// The short name asked for.
        name: String,
        /// The account directory searched.
        dir: PathBuf,
    },

    /// A file-system operation failed.
    #[error("cannot {action} {path}: {cause}")]
    Io {
        /// What was being done ("write", "read", "create directory", …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        cause: io::Error,
    },

    /// An error talking to the OpenID provider.
    #[error(transparent)]
    Oidc(#[from] crate::oidc::OidcError),

    /// Bad input from the user that is not a clap usage error.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The kind, which decides the exit code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoAgent | Self::AgentUnreachable { .. } => ErrorKind::NoAgent,
            Self::Agent { kind, .. } => *kind,
            Self::WrongPassword { .. } => ErrorKind::WrongPassword,
            // A misspelt name is "not configured", as the agent says for it.
            Self::NoSuchAccount { .. } => ErrorKind::NotLoaded,
            Self::CorruptFile { .. } => ErrorKind::BadFile,
            Self::Oidc(e) => e.kind(),
            Self::Invalid(_) => ErrorKind::Usage,
            Self::Protocol(_) | Self::Io { .. } => ErrorKind::Failure,
        }
    }

    /// Shorthand for an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let mut codes: Vec<u8> = ErrorKind::TABLE
            .iter()
            .map(|(k, _)| k.exit_code())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::TABLE.len());
        assert!(!codes.contains(&0));
    }
}
