//! The library's error type and the exit-code table every binary shares.
//!
//! Each variant says what failed, on which account, file or endpoint, and
//! what to do about it. The [`ErrorKind`] of an error decides the process
//! exit code and travels over the agent protocol as the reply's `kind`.

use std::io;
use std::path::PathBuf;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub mod kind;
pub use kind::ErrorKind;

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
