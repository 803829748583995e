//! The account password in the OS keyring (optional, cargo feature
//! `keyring`): Secret Service over D-Bus on Linux, the Keychain on macOS.
//!
//! A convenience only: the encrypted file stays the source of truth, and
//! every caller falls back to the other password sources when no keyring is
//! reachable (headless machines, CI, containers). Entries are keyed by the
//! account file's path, so two account directories never share one.

use std::path::Path;

use crate::secret::SecretString;

/// The keyring service name of our entries.
pub const SERVICE: &str = "oidc-agent-rs";

/// The keyring could not be used.
#[derive(Debug, thiserror::Error)]
#[error("no keyring service reachable ({0})")]
pub struct Unavailable(pub String);

#[cfg(feature = "keyring")]
fn entry(account: &Path) -> Result<keyring::Entry, Unavailable> {
    keyring::Entry::new(SERVICE, &account.display().to_string())
        .map_err(|e| Unavailable(one_line(&e)))
}

#[cfg(feature = "keyring")]
fn one_line(e: &keyring::Error) -> String {
    e.to_string().replace('\n', " ")
}

/// The stored password of the account file at `account`, if any.
pub fn get(account: &Path) -> Result<Option<SecretString>, Unavailable> {
    #[cfg(feature = "keyring")]
    {
        match entry(account)?.get_password() {
            Ok(pw) => Ok(Some(SecretString::new(pw))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(Unavailable(one_line(&e))),
        }
    }
    #[cfg(not(feature = "keyring"))]
    {
        let _ = account;
        Err(Unavailable("built without the `keyring` feature".into()))
    }
}

/// Stores the password of the account file at `account`.
pub fn set(account: &Path, password: &SecretString) -> Result<(), Unavailable> {
    #[cfg(feature = "keyring")]
    {
        entry(account)?
            .set_password(password.expose())
            .map_err(|e| Unavailable(one_line(&e)))
    }
    #[cfg(not(feature = "keyring"))]
    {
        let _ = (account, password);
        Err(Unavailable("built without the `keyring` feature".into()))
    }
}

/// Forgets the password of the account file at `account` (none stored: ok).
pub fn delete(account: &Path) -> Result<(), Unavailable> {
    #[cfg(feature = "keyring")]
    {
        match entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(Unavailable(one_line(&e))),
        }
    }
    #[cfg(not(feature = "keyring"))]
    {
        let _ = account;
        Ok(())
    }
}
