//! The refresh tokens an account has rotated away from, by hash: how the
//! agent tells an older copy of an account file from a new login.

use serde::{Deserialize, Serialize};

use crate::secret::SecretString;

/// SHA-256 hashes of the refresh tokens an account has rotated away from,
/// newest last, at most [`Rotated::KEPT`]. A file that holds one of them is
/// an older copy (a backup put back, a sync tool), not a new login: the
/// provider has seen that token replaced, and using it again is a replay
/// that may revoke the whole grant (RFC 6819 §5.2.2.3). So a save
/// overwrites such a file, and `oidc-add` of it keeps the newer token the
/// agent holds. (A hash of a random token reveals nothing of it.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotated(Vec<[u8; 32]>);

impl Rotated {
    const KEPT: usize = 64;

    fn hash(rt: &SecretString) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(rt.expose().as_bytes()).into()
    }

    /// Replaces the account's `token` by `new`, remembering the old one:
    /// the one way an account's refresh token changes.
    pub fn rotate(&mut self, token: &mut SecretString, new: SecretString) {
        let old = std::mem::replace(token, new);
        self.push(&old);
    }

    /// Remembers `old`, which the account no longer holds.
    fn push(&mut self, old: &SecretString) {
        if self.0.len() == Self::KEPT {
            self.0.remove(0);
        }
        self.0.push(Self::hash(old));
    }

    /// Whether the account has rotated away from no token yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the account has rotated away from `rt`.
    pub fn contains(&self, rt: &SecretString) -> bool {
        self.0.contains(&Self::hash(rt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_kept_tokens_only() {
        let mut r = Rotated::default();
        for i in 0..=Rotated::KEPT {
            r.push(&SecretString::new(format!("rt{i}")));
        }
        assert!(!r.contains(&"rt0".into()), "the oldest is forgotten");
        assert!(r.contains(&"rt1".into()));
        assert!(r.contains(&SecretString::new(format!("rt{}", Rotated::KEPT))));
        assert!(!r.contains(&"never".into()));
    }
}
