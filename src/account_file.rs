//! Account files of every format we read, turned into an [`AccountConfig`].
//!
//! Our own format (`crypt`) is the one we write. oidc-agent's formats are
//! read through `compat` and never rewritten unless the user asks
//! (`oidc-gen -u`).

use std::path::{Path, PathBuf};

use crate::account::AccountConfig;
use crate::crypt::{self, CryptError, KdfParams};
use crate::error::{Error, Result};
use crate::secret::{SecretKey, SecretString};
use crate::store::Store;

/// Which format a file was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ours (`crypt`, version 1).
    Ours,
    /// oidc-agent's libsodium format (any version).
    OidcAgent,
}

/// A decrypted account file.
#[derive(Debug)]
pub struct Opened {
    /// The account.
    pub config: AccountConfig,
    /// The file's data key (our format only).
    pub key: Option<SecretKey>,
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
}

fn crypt_error(path: &Path, e: CryptError) -> Error {
    match e {
        CryptError::WrongPassword => Error::WrongPassword {
            path: path.to_owned(),
        },
        other => Error::CorruptFile {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    }
}

/// Reads and decrypts account `name`.
pub fn open(store: &Store, name: &str, password: &SecretString) -> Result<Opened> {
    let path = store.path(name)?;
    let bytes = store.read(name)?;
    open_bytes(&path, &bytes, password)
}

/// Decrypts the bytes of an account file found at `path`.
pub fn open_bytes(path: &Path, bytes: &[u8], password: &SecretString) -> Result<Opened> {
    let (plain, key, format) = if crypt::is_ours(bytes) {
        let (plain, key) =
            crypt::open(bytes, password.expose().as_bytes()).map_err(|e| crypt_error(path, e))?;
        (plain.to_vec(), Some(key), Format::Ours)
    } else {
        let plain = crate::compat::decrypt_legacy(path, bytes, password)?;
        (plain, None, Format::OidcAgent)
    };
    let plain = zeroize::Zeroizing::new(plain);
    let text = std::str::from_utf8(&plain).map_err(|_| Error::CorruptFile {
        path: path.to_owned(),
        reason: "decrypted data is not UTF-8".into(),
    })?;
    let config: AccountConfig = serde_json::from_str(text).map_err(|e| Error::CorruptFile {
        path: path.to_owned(),
        reason: format!("decrypted data is not an account: {e}"),
    })?;
    Ok(Opened {
        config,
        key,
        path: path.to_owned(),
        format,
    })
}

/// Encrypts `config` with `password` in our format and writes it atomically.
/// Returns the path and the data key. An empty password is accepted, as
/// oidc-agent accepts it (automation relies on it); the CLI warns.
pub fn save(
    store: &Store,
    config: &AccountConfig,
    password: &SecretString,
    params: KdfParams,
) -> Result<(PathBuf, SecretKey)> {
    let path = store.path(&config.name)?;
    let json = config.to_json();
    let (bytes, key) = crypt::seal_new(
        password.expose().as_bytes(),
        json.expose().as_bytes(),
        params,
    )
    .map_err(|e| crypt_error(&path, e))?;
    store.write(&config.name, &bytes)?;
    Ok((path, key))
}

/// Argon2 parameters for new files: the default, or cheap ones when the
/// test-only variable `OIDC_AGENT_RS_TEST_KDF=1` is set (the test suites
/// create hundreds of files; the format stores the parameters, so such
/// files stay readable).
pub fn kdf_params() -> KdfParams {
    if std::env::var_os("OIDC_AGENT_RS_TEST_KDF").is_some_and(|v| v == "1") {
        KdfParams::TESTING
    } else {
        KdfParams::DEFAULT
    }
}
