//! Compatibility with indigo-dc/oidc-agent beyond the shared JSON protocol:
//! its encrypted IPC mode (sans-IO; the agent's `conn` drives it, so handlers
//! only ever see plaintext JSON) and its account file formats.

pub mod ipc_crypt;
pub mod legacy_file;

use std::path::Path;

use crate::error::Error;
use crate::secret::SecretString;

/// Decrypts an account file in one of oidc-agent's formats to its JSON.
pub fn decrypt_legacy(
    path: &Path,
    bytes: &[u8],
    password: &SecretString,
) -> crate::Result<Vec<u8>> {
    use legacy_file::LegacyError;
    match legacy_file::decrypt(bytes, password.expose().as_bytes()) {
        Ok(text) => Ok(text.as_bytes().to_vec()),
        Err(LegacyError::WrongPassword) => Err(Error::WrongPassword {
            path: path.to_owned(),
        }),
        Err(LegacyError::Corrupt(reason) | LegacyError::Unsupported(reason)) => {
            Err(Error::CorruptFile {
                path: path.to_owned(),
                reason,
            })
        }
        Err(LegacyError::KeyDerivation(e)) => Err(Error::Failure(format!(
            "cannot derive the key for {} ({e}); free some memory and try again",
            path.display()
        ))),
    }
}
