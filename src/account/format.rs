//! Our versioned on-disk format for encrypted account files.
//!
//! A random 256-bit data key seals the account JSON (XChaCha20-Poly1305); the
//! data key itself is wrapped under a key derived from the password with
//! Argon2id, whose parameters and salt sit in the header. The agent keeps only
//! the data key, so it can re-seal the file when the provider rotates the
//! refresh token without the password and without re-running Argon2.
//!
//! Layout (all integers little-endian):
//! ```text
//!   0  magic "OIDCRS"            6
//!   6  format version (1)        1
//!   7  KDF id (1 = Argon2id 1.3) 1
//!   8  m_cost KiB, t_cost, p     3 × u32
//!  20  salt                      16
//!  36  wrap nonce                24
//!  60  wrapped data key + tag    48   AEAD, AAD = bytes 0..60
//! 108  body nonce                24
//! 132  body ciphertext + tag     n+16 AEAD, AAD = bytes 0..108
//! ```
//! Binding the header as associated data means a changed parameter, salt or
//! wrapped key fails authentication instead of decrypting to garbage.
//!
//! The data key leaves a file only in one text form, [`encode_key`] and
//! [`decode_key`] (the `add` request, the lock vault); a file sealed under
//! it travels as [`encode_file`].

use argon2::{Algorithm, Argon2, Params, Version};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use chacha20poly1305::aead::generic_array::typenum::Unsigned as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::secret::{SecretKey, SecretString};

/// The first bytes of every file in our format.
pub const MAGIC: &[u8; 6] = b"OIDCRS";
/// The only format version written.
pub const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = <XChaCha20Poly1305 as AeadCore>::NonceSize::USIZE;
const TAG_LEN: usize = <XChaCha20Poly1305 as AeadCore>::TagSize::USIZE;
const WRAP_AAD_LEN: usize = 60;
/// Length of the header, which is the body's associated data.
pub const HEADER_LEN: usize = WRAP_AAD_LEN + 32 + TAG_LEN;
const BODY_OFFSET: usize = HEADER_LEN + NONCE_LEN;

/// Argon2id cost parameters, stored in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106 §4, second recommended option: 64 MiB, 3 passes, 4 lanes
    /// (about 0.27 s on a 2-core machine; paid once per `oidc-add`).
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };

    /// Cheap parameters for tests only.
    pub const TESTING: Self = Self {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    /// The most a file may ask for: 4× what we write (and above oidc-agent's
    /// libsodium sets, 64 MiB × 2 and 32 MiB × 4, one lane). The header is
    /// read before anything is authenticated, so one flipped bit must not
    /// make `oidc-add` allocate gigabytes or run for seconds before it can
    /// say "wrong password".
    pub const MAX: Self = Self {
        m_kib: 4 * Self::DEFAULT.m_kib,
        t: 4 * Self::DEFAULT.t,
        p: 4 * Self::DEFAULT.p,
    };

    /// Refuses parameters outside `1..=MAX` (memory also at least the 8 KiB
    /// per lane Argon2 needs), naming the first bad one.
    fn check(self) -> Result<Self, CryptError> {
        let bad = [
            ("parallelism (lanes)", self.p, 1, Self::MAX.p),
            ("time cost (passes)", self.t, 1, Self::MAX.t),
            // Argon2 needs at least 8 KiB per lane.
            ("memory cost (KiB)", self.m_kib, 8 * self.p, Self::MAX.m_kib),
        ]
        .into_iter()
        .find(|(_, v, lo, hi)| v < lo || v > hi);
        match bad {
            Some((name, value, lo, hi)) => Err(CryptError::KdfParams(format!(
                "the header's Argon2 {name} is {value}, outside the accepted {lo}..={hi} \
                 (this version writes {} KiB, {} passes, {} lanes); the header is damaged",
                Self::DEFAULT.m_kib,
                Self::DEFAULT.t,
                Self::DEFAULT.p
            ))),
            None => Ok(self),
        }
    }
}

/// Why a file could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptError {
    /// Authentication of the wrapped key failed: wrong password (or a
    /// tampered header, which cannot be told apart).
    #[error("wrong password")]
    WrongPassword,
    /// The data key opened but the body did not, or the layout is broken.
    #[error("{0}")]
    Corrupt(String),
    /// Key-derivation parameters out of bounds (a damaged header).
    #[error("{0}")]
    KdfParams(String),
    /// A newer format version than this build reads.
    #[error("format version {0} is newer than this oidc-agent-rs understands; upgrade")]
    UnsupportedVersion(u8),
}

/// True when `bytes` starts with our magic.
pub fn is_ours(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn derive(password: &[u8], salt: &[u8], params: KdfParams) -> Result<SecretKey, CryptError> {
    let argon = Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| CryptError::Corrupt(format!("bad Argon2 parameters: {e}")))?;
    let mut key = SecretKey::zero();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon)
        .hash_password_into(password, salt, key.expose_mut())
        .map_err(|e| CryptError::Corrupt(format!("key derivation failed: {e}")))?;
    Ok(key)
}

fn aead(key: &SecretKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(Key::from_slice(key.expose()))
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// Encrypts `plaintext` under a fresh data key wrapped by `password`.
/// Returns the file bytes and the data key (which the agent keeps).
pub fn seal_new(
    password: &[u8],
    plaintext: &[u8],
    params: KdfParams,
) -> Result<(Vec<u8>, SecretKey), CryptError> {
    let data_key = SecretKey::random();
    let file = seal_new_with(
        password,
        plaintext,
        params,
        &random(),
        &random(),
        &data_key,
        &random(),
    )?;
    Ok((file, data_key))
}

/// [`seal_new`] with every random input given: for test vectors.
pub fn seal_new_with(
    password: &[u8],
    plaintext: &[u8],
    params: KdfParams,
    salt: &[u8; SALT_LEN],
    wrap_nonce: &[u8; NONCE_LEN],
    data_key: &SecretKey,
    body_nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptError> {
    let params = params.check()?;
    let wrap_key = derive(password, salt, params)?;
    let mut out = Vec::with_capacity(BODY_OFFSET + plaintext.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(KDF_ARGON2ID);
    for v in [params.m_kib, params.t, params.p] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(salt);
    out.extend_from_slice(wrap_nonce);
    let wrapped = aead(&wrap_key)
        .encrypt(
            XNonce::from_slice(wrap_nonce),
            Payload {
                msg: data_key.expose(),
                aad: &out[..WRAP_AAD_LEN],
            },
        )
        .map_err(|_| CryptError::Corrupt("encryption failed".into()))?;
    out.extend_from_slice(&wrapped);
    debug_assert_eq!(out.len(), HEADER_LEN);
    append_body(out, data_key, plaintext, body_nonce)
}

fn append_body(
    mut out: Vec<u8>,
    key: &SecretKey,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptError> {
    let sealed = aead(key)
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: &out[..HEADER_LEN],
            },
        )
        .map_err(|_| CryptError::Corrupt("encryption failed".into()))?;
    out.extend_from_slice(nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

struct Parsed<'a> {
    params: KdfParams,
    salt: &'a [u8],
    header: &'a [u8],
}

fn parse(file: &[u8]) -> Result<Parsed<'_>, CryptError> {
    if !is_ours(file) {
        return Err(CryptError::Corrupt(
            "not an oidc-agent-rs account file".into(),
        ));
    }
    if file.len() < 7 {
        return Err(CryptError::Corrupt("file is truncated".into()));
    }
    if file[6] != VERSION {
        return Err(CryptError::UnsupportedVersion(file[6]));
    }
    if file.len() < BODY_OFFSET + TAG_LEN {
        return Err(CryptError::Corrupt(format!(
            "file is truncated ({} bytes)",
            file.len()
        )));
    }
    if file[7] != KDF_ARGON2ID {
        return Err(CryptError::Corrupt(format!(
            "unknown key derivation id {}",
            file[7]
        )));
    }
    let u32_at = |i: usize| u32::from_le_bytes([file[i], file[i + 1], file[i + 2], file[i + 3]]);
    let params = KdfParams {
        m_kib: u32_at(8),
        t: u32_at(12),
        p: u32_at(16),
    }
    .check()?;
    Ok(Parsed {
        params,
        salt: &file[20..36],
        header: &file[..HEADER_LEN],
    })
}

/// Checks what can be checked without the password (magic, version,
/// length, KDF parameters): a file that fails here fails with any.
pub fn check(file: &[u8]) -> Result<(), CryptError> {
    parse(file).map(drop)
}

/// Decrypts a file with the password; returns the plaintext and the data key.
pub fn open(file: &[u8], password: &[u8]) -> Result<(Zeroizing<Vec<u8>>, SecretKey), CryptError> {
    let parsed = parse(file)?;
    let wrap_key = derive(password, parsed.salt, parsed.params)?;
    let wrapped = Zeroizing::new(
        aead(&wrap_key)
            .decrypt(
                XNonce::from_slice(&file[36..60]),
                Payload {
                    msg: &file[60..HEADER_LEN],
                    aad: &file[..WRAP_AAD_LEN],
                },
            )
            .map_err(|_| CryptError::WrongPassword)?,
    );
    let data_key = SecretKey::from_slice(&wrapped)
        .ok_or_else(|| CryptError::Corrupt("bad data key length".into()))?;
    let plain = open_with_key(file, &data_key)?;
    Ok((plain, data_key))
}

/// Decrypts a file's body with the data key alone.
pub fn open_with_key(file: &[u8], key: &SecretKey) -> Result<Zeroizing<Vec<u8>>, CryptError> {
    let parsed = parse(file)?;
    aead(key)
        .decrypt(
            XNonce::from_slice(&file[HEADER_LEN..BODY_OFFSET]),
            Payload {
                msg: &file[BODY_OFFSET..],
                aad: parsed.header,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            CryptError::Corrupt(
                "the account data fails authentication (tampered or damaged)".into(),
            )
        })
}

/// Re-seals `plaintext` into an existing file's header under the same data
/// key, with a fresh body nonce. Fails if `key` does not open `file`, so a
/// file re-keyed since (new password) is never overwritten with a stale key.
pub fn reseal(file: &[u8], key: &SecretKey, plaintext: &[u8]) -> Result<Vec<u8>, CryptError> {
    open_with_key(file, key)?;
    append_body(file[..HEADER_LEN].to_vec(), key, plaintext, &random())
}

/// Re-wraps the data key of `file` under a new password (and parameters),
/// keeping the data key and the plaintext: what `oidc-gen -u` does to one of
/// our files. An agent holding the data key can go on saving rotated refresh
/// tokens into the file, so a password change never strands a loaded account.
pub fn rewrap(
    file: &[u8],
    key: &SecretKey,
    new_password: &[u8],
    params: KdfParams,
) -> Result<Vec<u8>, CryptError> {
    let plain = open_with_key(file, key)?;
    seal_new_with(
        new_password,
        &plain,
        params,
        &random(),
        &random(),
        key,
        &random(),
    )
}

/// The data key's one text form, wherever it leaves a file: the `add`
/// request's `data_key` and the lock vault. Standard base64 (with padding)
/// of its 32 bytes, the encoding clients of every version send.
pub fn encode_key(key: &SecretKey) -> SecretString {
    SecretString::new(STANDARD.encode(key.expose()))
}

/// The inverse of [`encode_key`]; `None` unless `text` is base64 of exactly
/// 32 bytes. The decoded bytes are wiped.
pub fn decode_key(text: &SecretString) -> Option<SecretKey> {
    let bytes = Zeroizing::new(STANDARD.decode(text.expose()).ok()?);
    SecretKey::from_slice(&bytes)
}

/// A sealed file's text form, in the same encoding as the key: the `add`
/// request's `convert_to` and the lock vault carry a file sealed under the
/// data key this way, and `oidc-add -p` prints our binary files so.
pub fn encode_file(file: &[u8]) -> String {
    STANDARD.encode(file)
}

/// The inverse of [`encode_file`]; `None` when `text` is not base64.
pub fn decode_file(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests;
