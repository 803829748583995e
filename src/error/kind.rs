//! The failure classes and their exit codes: a leaf every layer uses
//! (errors, the protocol's `kind`, the man pages), importing nothing of
//! the crate.

use serde::{Deserialize, Serialize};

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

    /// The kind whose exit code is `code`, if any.
    pub fn from_exit_code(code: u8) -> Option<Self> {
        Self::TABLE
            .iter()
            .map(|(k, _)| *k)
            .find(|k| k.exit_code() == code)
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

#[cfg(test)]
mod tests {
    use super::ErrorKind;

    #[test]
    fn exit_codes_map_back_to_their_kinds() {
        for (kind, _) in ErrorKind::TABLE {
            assert_eq!(ErrorKind::from_exit_code(kind.exit_code()), Some(*kind));
        }
        assert_eq!(ErrorKind::from_exit_code(0), None);
        assert_eq!(ErrorKind::from_exit_code(130), None);
    }
}
