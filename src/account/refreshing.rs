//! One refresh of an account at a time across this user's agents.
//!
//! Two agents holding the same account (the service's beside a shell's, or
//! two shells' `eval "$(oidc-agent)"`) refresh ahead of expiry at nearly the
//! same moment. While the first waits for a slow provider, the second would
//! send the same refresh token: a replay, which a rotating provider answers
//! by revoking the whole login (RFC 6819 §5.2.2.3). So an agent refreshes an
//! account holding an exclusive `flock` on a file of that account in the
//! per-user runtime directory (beside `held`'s notes, outside an account
//! directory that may be full or read-only), from reading the account file
//! to saving the rotated token; the other waits, then reads what was saved.
//! A lock is released when its holder ends, however it ends.

use std::fs::File;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::store;

/// A held refresh lock; released on drop.
#[derive(Debug)]
pub struct RefreshLock {
    _file: File,
}

/// The lock file of `account_file` below `runtime`: one per account file
/// path.
fn lock_path(runtime: &Path, account_file: &Path) -> PathBuf {
    let digest = sha2::Sha256::digest(account_file.as_os_str().as_encoded_bytes());
    runtime
        .join("refreshing")
        .join(format!("{}.lock", hex::encode(&digest[..12])))
}

/// Takes the refresh lock of `account_file` if no one holds it:
/// `Ok(None)` while another process does. An error when there is no
/// private runtime directory to lock in (the refresh then goes ahead as
/// before: one agent per account is the common case).
pub fn try_lock(account_file: &Path) -> crate::Result<Option<RefreshLock>> {
    try_lock_in(&crate::paths::service_dir(), account_file)
}

fn try_lock_in(runtime: &Path, account_file: &Path) -> crate::Result<Option<RefreshLock>> {
    let path = lock_path(runtime, account_file);
    if let Some(dir) = path.parent() {
        store::ensure_private_dir(dir)?;
        if !super::held::private(dir) {
            return Err(crate::Error::Failure(format!(
                "{} (or the directory it is in) is not private to this user",
                dir.display()
            )));
        }
    }
    let held = crate::files::try_lock(&path).map_err(|e| crate::Error::io("lock", &path, e))?;
    Ok(held.map(|file| RefreshLock { _file: file }))
}

#[cfg(test)]
mod tests {
    /// A second holder waits (here: is told someone holds it) until the
    /// first lets go.
    #[test]
    fn one_holder_at_a_time() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let lock = |name: &str| super::try_lock_in(dir.path(), &dir.path().join(name));
        let first = lock("acct").expect("lock").expect("free");
        assert!(lock("acct").expect("lock").is_none());
        assert!(
            lock("other").expect("lock").is_some(),
            "another account's lock is its own"
        );
        drop(first);
        assert!(lock("acct").expect("lock").is_some());
    }
}
