//! Account files, end to end: what one holds, how it is sealed, where it
//! lives, and the operations on a whole file (open in any format we read,
//! save, change the password, rename).
//!
//! - `config`: the account itself, oidc-agent's account JSON field for field.
//! - `format`: our versioned encrypted format (an Argon2id-wrapped data key
//!   sealing the JSON with XChaCha20-Poly1305), and the data key's text form.
//! - `legacy`: oidc-agent's formats, read only; they are never rewritten
//!   unless the user asks (`oidc-gen -u`).
//! - `store`: the account directory: names, listing, the directory lock,
//!   atomic 0600 writes. It only moves bytes.
//! - `issuers`: `issuer.config`, the default account of each issuer.
//! - `held`: which agent holds an account's newest refresh token while its
//!   file cannot (a note in the runtime directory).
//! - `refreshing`: one refresh of an account at a time across agents.
//! - `pubclients`: oidc-agent's preregistered public clients.
//!
//! This module turns a file of any format into an [`AccountConfig`] and
//! writes only ours; the submodules never use it back.

pub mod config;
pub mod format;
pub mod held;
pub mod issuers;
pub mod legacy;
pub mod pubclients;
pub mod refreshing;
pub mod store;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::secret::{SecretKey, SecretString};
use config::AccountConfig;
use format::{CryptError, KdfParams};
use legacy::LegacyError;
use store::Store;

/// Which format a file was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Ours (`format`, version 1).
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

fn legacy_error(path: &Path, e: LegacyError) -> Error {
    match e {
        LegacyError::WrongPassword => Error::WrongPassword {
            path: path.to_owned(),
        },
        LegacyError::Corrupt(reason) | LegacyError::Unsupported(reason) => Error::CorruptFile {
            path: path.to_owned(),
            reason,
        },
        LegacyError::KeyDerivation(e) => Error::Failure(format!(
            "cannot derive the key for {} ({e}); free some memory and try again",
            path.display()
        )),
    }
}

/// Reads and decrypts account `name`.
pub fn open(store: &Store, name: &str, password: &SecretString) -> Result<Opened> {
    let path = store.path(name)?;
    let bytes = store.read(name)?;
    open_bytes(&path, &bytes, password)
}

/// Fails as [`open_bytes`] would with any password, without one (no key
/// derivation): for a damaged or unreadable file, before a person is asked
/// for the password.
pub fn check_shape(path: &Path, bytes: &[u8]) -> Result<()> {
    if format::is_ours(bytes) {
        format::check(bytes).map_err(|e| crypt_error(path, e))
    } else if let Some(reason) = not_ours_binary(bytes) {
        Err(Error::CorruptFile {
            path: path.to_owned(),
            reason,
        })
    } else if is_plain_json(bytes) {
        Err(Error::PlainFile {
            path: path.to_owned(),
        })
    } else {
        legacy::check(bytes).map_err(|e| legacy_error(path, e))
    }
}

/// Decrypts the bytes of an account file found at `path`.
pub fn open_bytes(path: &Path, bytes: &[u8], password: &SecretString) -> Result<Opened> {
    let (plain, key, format) = if format::is_ours(bytes) {
        let (plain, key) =
            format::open(bytes, password.expose().as_bytes()).map_err(|e| crypt_error(path, e))?;
        (plain.to_vec(), Some(key), Format::Ours)
    } else if let Some(reason) = not_ours_binary(bytes) {
        return Err(Error::CorruptFile {
            path: path.to_owned(),
            reason,
        });
    } else if is_plain_json(bytes) {
        return Err(Error::PlainFile {
            path: path.to_owned(),
        });
    } else {
        let text = legacy::decrypt(bytes, password.expose().as_bytes())
            .map_err(|e| legacy_error(path, e))?;
        (text.as_bytes().to_vec(), None, Format::OidcAgent)
    };
    let mut config = parse_config(path, &zeroize::Zeroizing::new(plain))?;
    // The account is the one its file name says, the name the person typed
    // (a file renamed, by hand or by an agent that wrote it under the name
    // it had loaded it as): an edit is saved there, not under the name
    // inside.
    if let Some(name) = path.file_name().and_then(|n| n.to_str())
        && store::check_name(name).is_ok()
    {
        config.name = name.to_owned();
    }
    Ok(Opened {
        config,
        key,
        path: path.to_owned(),
        format,
    })
}

fn parse_config(path: &Path, plain: &[u8]) -> Result<AccountConfig> {
    let text = std::str::from_utf8(plain).map_err(|_| Error::CorruptFile {
        path: path.to_owned(),
        reason: "decrypted data is not UTF-8".into(),
    })?;
    serde_json::from_str(text).map_err(|e| Error::CorruptFile {
        path: path.to_owned(),
        reason: format!("decrypted data is not an account: {e}"),
    })
}

/// Whether `bytes` is a plain JSON object, not encrypted: an account written
/// by hand or a client configuration, which `oidc-gen -u` encrypts (as
/// oidc-agent's does). None of the encrypted formats starts with `{`.
pub fn is_plain_json(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'{')
}

/// The account in plain JSON `bytes` read from `path` (see
/// [`is_plain_json`]), complete enough to load.
pub fn parse_plain(path: &Path, bytes: &[u8]) -> Result<AccountConfig> {
    let not_an_account = |reason: String| Error::PlainNotAccount {
        path: path.to_owned(),
        reason,
    };
    let mut json: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| not_an_account(e.to_string()))?;
    // The account is the one its file name says, as for a load.
    if let (Some(fields), Some(name)) = (
        json.as_object_mut(),
        path.file_name().and_then(|n| n.to_str()),
    ) {
        fields.insert("name".into(), name.into());
    }
    let config: AccountConfig =
        serde_json::from_value(json).map_err(|e| not_an_account(e.to_string()))?;
    config.validate().map_err(not_an_account)?;
    Ok(config)
}

/// The account in `bytes`, one of our files read from `path`, opened with
/// its data key (no password): what the agent and `--rename` use to see
/// what a file holds now.
pub fn open_with_key(path: &Path, bytes: &[u8], key: &SecretKey) -> Result<AccountConfig> {
    let plain = format::open_with_key(bytes, key).map_err(|e| crypt_error(path, e))?;
    parse_config(path, &plain)
}

/// What lets a program write `opened` back without the password: the data
/// key of our format; for oidc-agent's format, which cannot be re-sealed
/// without the password, a key and the same account sealed in ours with
/// `password` (what the conversion at the first rotation writes).
pub fn writable(opened: &Opened, password: &SecretString) -> Result<(SecretKey, Option<Vec<u8>>)> {
    if let Some(key) = &opened.key {
        return Ok((key.clone(), None));
    }
    let json = opened.config.to_json();
    let (bytes, key) = format::seal_new(
        password.expose().as_bytes(),
        json.expose().as_bytes(),
        kdf_params(),
    )
    .map_err(|e| {
        Error::Failure(format!(
            "cannot prepare the conversion of {} to the oidc-agent-rs format: {e}",
            opened.path.display()
        ))
    })?;
    Ok((key, Some(bytes)))
}

/// What [`save`] does with a file of the account's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it (a new login of the account, a conversion).
    Replace,
    /// Leave it and fail: a new account whose name was taken meanwhile (a
    /// second `oidc-gen NAME` whose login finished first).
    Refuse,
}

/// An account sealed in our format (not yet written) and its data key.
#[derive(Debug)]
pub struct Sealed {
    /// The file's bytes (encrypted).
    pub bytes: Vec<u8>,
    /// The data key they are sealed under.
    pub key: SecretKey,
}

/// Encrypts `config` with `password` in our format. An empty password is
/// accepted, as oidc-agent accepts it (automation relies on it); the CLI
/// warns.
///
/// With `over_file` (a new login of an account that exists), under the
/// data key its file has now when `password` opens it: an agent holding the
/// account (reached or not) then reads the new login there and takes it,
/// rather than find a file it cannot open. Else (a new account, oidc-agent's
/// format, a password changed meanwhile) under a fresh data key.
pub fn seal(
    store: &Store,
    config: &AccountConfig,
    password: &SecretString,
    params: KdfParams,
    over_file: bool,
) -> Result<Sealed> {
    let path = store.path(&config.name)?;
    let json = config.to_json();
    let kept = store::read_account_file(&path)
        .ok()
        .filter(|file| over_file && format::is_ours(file))
        .and_then(|file| {
            let (_, key) = format::open(&file, password.expose().as_bytes()).ok()?;
            let bytes = format::reseal(&file, &key, json.expose().as_bytes()).ok()?;
            Some(Sealed { bytes, key })
        });
    if let Some(sealed) = kept {
        return Ok(sealed);
    }
    let (bytes, key) = format::seal_new(
        password.expose().as_bytes(),
        json.expose().as_bytes(),
        params,
    )
    .map_err(|e| crypt_error(&path, e))?;
    Ok(Sealed { bytes, key })
}

/// Writes sealed account `name` atomically, under the directory lock;
/// with [`Existing::Refuse`], not over a file that exists by then.
pub fn write_sealed(
    store: &Store,
    name: &str,
    sealed: &Sealed,
    existing: Existing,
) -> Result<PathBuf> {
    let path = store.path(name)?;
    let _lock = store.lock()?;
    if existing == Existing::Refuse && path.exists() {
        return Err(Error::Failure(format!(
            "{} was created meanwhile (by another oidc-gen {name}?) and is not overwritten",
            path.display(),
        )));
    }
    store.write(name, &sealed.bytes)
}

/// [`seal`], then [`write_sealed`]. Returns the path and the data key.
pub fn save(
    store: &Store,
    config: &AccountConfig,
    password: &SecretString,
    params: KdfParams,
    existing: Existing,
) -> Result<(PathBuf, SecretKey)> {
    let sealed = seal(store, config, password, params, false)?;
    let path = write_sealed(store, &config.name, &sealed, existing)?;
    Ok((path, sealed.key))
}

/// Changes the password of one of our files (`oidc-gen -u`): re-wraps its
/// data key, which stays the same, so an agent that holds the account keeps
/// saving rotated refresh tokens into it. Reads the file under the
/// directory lock, so a rotation the agent saved after `opened` was read is
/// kept.
pub fn change_password(
    store: &Store,
    opened: &Opened,
    new_password: &SecretString,
    params: KdfParams,
) -> Result<PathBuf> {
    let key = opened.key.as_ref().ok_or_else(|| {
        Error::Failure(format!(
            "{} is not in the oidc-agent-rs format",
            opened.path.display()
        ))
    })?;
    let _lock = store.lock()?;
    let bytes =
        store::read_account_file(&opened.path).map_err(|e| Error::io("read", &opened.path, e))?;
    let new = format::rewrap(&bytes, key, new_password.expose().as_bytes(), params)
        .map_err(|e| crypt_error(&opened.path, e))?;
    store::write_atomic(&opened.path, &new)?;
    Ok(opened.path.clone())
}

/// Renames account `config.name` to `new` on disk, keeping the data key:
/// reads the file under the directory lock (taking what it holds now), writes
/// it under the new name and removes the old file.
pub fn rename(store: &Store, opened: &Opened, new: &str) -> Result<PathBuf> {
    let key = opened.key.as_ref().ok_or_else(|| {
        Error::Failure(format!(
            "{} is not in the oidc-agent-rs format",
            opened.path.display()
        ))
    })?;
    let new_path = store.path(new)?;
    let _lock = store.lock()?;
    if new_path.exists() {
        return Err(Error::Failure(format!("account '{new}' already exists")));
    }
    let bytes =
        store::read_account_file(&opened.path).map_err(|e| Error::io("read", &opened.path, e))?;
    let mut config = open_with_key(&opened.path, &bytes, key)?;
    config.name = new.to_owned();
    let json = config.to_json();
    let sealed = format::reseal(&bytes, key, json.expose().as_bytes())
        .map_err(|e| crypt_error(&new_path, e))?;
    store::write_atomic(&new_path, &sealed)?;
    std::fs::remove_file(&opened.path).map_err(|e| Error::io("delete", &opened.path, e))?;
    held::moved(&opened.path, &new_path);
    Ok(new_path)
}

/// Argon2 parameters for new files: the default, or, in debug builds only,
/// cheap ones when the test-only variable `OIDC_AGENT_RS_TEST_KDF=1` is set
/// (the test suites create hundreds of files; the format stores the
/// parameters, so such files stay readable). No environment variable weakens
/// the KDF of a release build.
pub fn kdf_params() -> KdfParams {
    choose_kdf(
        cfg!(debug_assertions),
        std::env::var_os("OIDC_AGENT_RS_TEST_KDF").as_deref(),
    )
}

fn choose_kdf(debug_build: bool, test_kdf: Option<&std::ffi::OsStr>) -> KdfParams {
    if debug_build && test_kdf.is_some_and(|v| v == "1") {
        KdfParams::TESTING
    } else {
        KdfParams::DEFAULT
    }
}

/// Why bytes that do not start with our magic are no account file we read,
/// when they are binary (a damaged magic; oidc-agent's formats are text).
fn not_ours_binary(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok();
    let binary = text.is_none_or(|t| {
        t.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\0'))
    });
    binary.then(|| {
        let head = &bytes[..bytes.len().min(format::MAGIC.len())];
        format!(
            "not an account file this version can read: expected the oidc-agent-rs format \
             (starting with \"{}\") or one of oidc-agent's text formats, found binary data \
             starting with {}",
            String::from_utf8_lossy(format::MAGIC),
            head.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A release build ignores `OIDC_AGENT_RS_TEST_KDF`; only a debug build
    /// (the test suites) takes the shortcut.
    #[test]
    fn test_kdf_shortcut_is_debug_only() {
        let one = Some(std::ffi::OsStr::new("1"));
        assert_eq!(choose_kdf(false, one), KdfParams::DEFAULT);
        assert_eq!(choose_kdf(true, one), KdfParams::TESTING);
        assert_eq!(choose_kdf(true, Some("0".as_ref())), KdfParams::DEFAULT);
        assert_eq!(choose_kdf(true, None), KdfParams::DEFAULT);
        assert_eq!(
            kdf_params() == KdfParams::TESTING,
            cfg!(debug_assertions)
                && std::env::var_os("OIDC_AGENT_RS_TEST_KDF").is_some_and(|v| v == "1")
        );
    }

    /// A file that no password opens is reported as such without one.
    #[test]
    fn check_shape_refuses_what_open_would_without_a_password() {
        let path = Path::new("/x/acct");
        let (file, _) = format::seal_new(b"pw", b"{}", KdfParams::TESTING).expect("seal");
        check_shape(path, &file).expect("intact");
        let err = check_shape(path, &file[..file.len() / 2]).expect_err("truncated");
        assert!(err.to_string().contains("truncated"), "{err}");
        assert!(matches!(
            check_shape(path, br#"{"name":"x"}"#),
            Err(Error::PlainFile { .. })
        ));
        assert!(matches!(
            check_shape(path, b"\x00\x01binary"),
            Err(Error::CorruptFile { .. })
        ));
    }

    #[test]
    fn damaged_magic_says_what_was_expected() {
        let (mut file, _) = format::seal_new(b"pw", b"{}", KdfParams::TESTING).expect("seal");
        file[0] ^= 0x20;
        let err = open_bytes(Path::new("/x/acct"), &file, &SecretString::from("pw"))
            .expect_err("damaged");
        let msg = err.to_string();
        assert_eq!(err.kind(), crate::error::ErrorKind::BadFile);
        assert!(
            msg.contains("not an account file this version can read"),
            "{msg}"
        );
        assert!(
            msg.contains("\"OIDCRS\"") && msg.contains("/x/acct"),
            "{msg}"
        );
        // oidc-agent's text formats still get their own diagnosis.
        assert!(not_ours_binary(b"0f:00:11:22").is_none());
        assert!(not_ours_binary(b"44\nAAAA\n").is_none());
    }
}
