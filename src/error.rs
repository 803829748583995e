//! The library's error type and the exit-code table every binary shares.
//!
//! Each variant says what failed, on which account, file or endpoint, and
//! what to do about it. The [`ErrorKind`] of an error decides the process
//! exit code and travels over the agent protocol as the reply's `kind`.
//!
//! A layer with failures of its own (the provider in `oidc`, the device flow,
//! the loopback listener) keeps its typed enum and converts into [`Error`]
//! through a transparent `#[from]` variant, so [`Error::kind`] is the one
//! mapping to an exit code and the CLI looks for [`Error`] alone. Those
//! layers import only the leaf [`kind`], never this module nor one that
//! does (of the account layer `oidc` uses only `account::config`, a leaf;
//! files are read through the leaf `files`), so the conversions make no
//! import cycle.

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
    #[error("cannot reach the agent at {path}: {cause}; {}", start_again(path))]
    AgentUnreachable {
        /// The socket path tried.
        path: PathBuf,
        /// The connect or I/O error.
        cause: io::Error,
    },

    /// The agent took the request but gave no reply: it ended the
    /// connection at once (it serves only its own user) or said nothing
    /// within the client's patience (hung).
    #[error("the agent at {path} {what}")]
    AgentNoReply {
        /// The socket path.
        path: PathBuf,
        /// What happened, with the remedy.
        what: String,
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
    /// The AEAD cannot tell a wrong password from a damaged header (salt,
    /// nonce, wrapped key), so the remedy names both.
    #[error(
        "wrong password for {path}: check it and try again (if it is right, the file's header \
         is damaged: restore the file from a backup)"
    )]
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

    /// Something in an account file's place that cannot be read as one (a
    /// directory, a FIFO, a file of another user); `what` ends with the
    /// remedy.
    #[error("account file {path} cannot be read: {what}")]
    UnusableFile {
        /// The account file.
        path: PathBuf,
        /// What is there instead, and what to do.
        what: String,
    },

    /// An account file holds plain JSON: written by hand or by another
    /// tool, never encrypted.
    #[error(
        "account file {path} is not encrypted (plain JSON); encrypt it with `oidc-gen -u {}`",
        path.display()
    )]
    PlainFile {
        /// The account file.
        path: PathBuf,
    },

    /// A plain JSON file that is no account (a client configuration, say).
    #[error(
        "{path} is plain JSON but not an account ({reason}); a client configuration is used \
         with `oidc-gen NAME -f FILE`"
    )]
    PlainNotAccount {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
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
    #[error("cannot {action} {path}: {cause}{}", io_remedy(cause))]
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

    /// The device flow ended without tokens (RFC 8628).
    #[error(transparent)]
    Device(#[from] crate::oidc::device::DeviceError),

    /// The loopback listener delivered no authorization code.
    #[error(transparent)]
    Loopback(#[from] crate::loopback::LoopbackError),

    /// Bad input from the user (flags, arguments, the variables and files
    /// they name) that clap cannot see: exit code 2.
    #[error("{0}")]
    Usage(String),

    /// A failure at run time with no class of its own (the agent did not
    /// start, key derivation ran out of memory, …): exit code 1.
    #[error("{0}")]
    Failure(String),
}

impl Error {
    /// The kind, which decides the exit code: the one mapping from an error
    /// to an [`ErrorKind`] (the layers' own `kind` methods are its helpers).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoAgent | Self::AgentUnreachable { .. } | Self::AgentNoReply { .. } => {
                ErrorKind::NoAgent
            }
            Self::Agent { kind, .. } => *kind,
            Self::WrongPassword { .. } => ErrorKind::WrongPassword,
            // A misspelt name is "not configured", as the agent says for it.
            Self::NoSuchAccount { .. } => ErrorKind::NotLoaded,
            Self::CorruptFile { .. }
            | Self::UnusableFile { .. }
            | Self::PlainFile { .. }
            | Self::PlainNotAccount { .. } => ErrorKind::BadFile,
            Self::Oidc(e) => e.kind(),
            Self::Device(e) => e.kind(),
            Self::Loopback(e) => e.kind(),
            Self::Usage(_) => ErrorKind::Usage,
            Self::Protocol(_) | Self::Io { .. } | Self::Failure(_) => ErrorKind::Failure,
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

/// What to do about a file-system error, where its kind says.
fn io_remedy(cause: &io::Error) -> &'static str {
    match cause.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => "; free space and try again",
        io::ErrorKind::ReadOnlyFilesystem => {
            "; the file system is read-only: remount it writable, or set OIDC_CONFIG_DIR to a \
             writable directory"
        }
        io::ErrorKind::PermissionDenied => {
            "; check the owner and the mode of the file and its directory"
        }
        _ => "",
    }
}

/// How to get an agent at `path` again: the service's socket is the
/// service's to restart (a shell's `eval "$(oidc-agent)"` would start a
/// second agent elsewhere and leave the well-known socket dead).
fn start_again(path: &std::path::Path) -> &'static str {
    if crate::paths::well_known_sockets().iter().any(|s| s == path) {
        "start it again with `oidc-agent-service use`"
    } else {
        "start one with `eval \"$(oidc-agent)\"`"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk says to free space.
    #[test]
    fn a_full_disk_names_the_remedy() {
        let err = Error::io("write", "/x/.acct.tmp", io::Error::from_raw_os_error(28));
        assert!(
            err.to_string().ends_with("; free space and try again"),
            "{err}"
        );
    }

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
