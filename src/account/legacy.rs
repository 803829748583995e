//! Readers for account files written by indigo-dc/oidc-agent: the 2.1.0+
//! base64 format and the pre-2.1.0 hex line. It never writes them (we write
//! only our own format) and never runs gpg: GPG-armoured files are only
//! recognised. `issuer.config` lives in `crate::account::issuers`.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use crypto_secretbox::{
    KeyInit, XSalsa20Poly1305,
    aead::{AeadInPlace, generic_array::GenericArray},
};
use zeroize::Zeroizing;

const VERSION_PREFIX: &[u8] = b"Generated using version:";
const PGP_HEADER: &[u8] = b"-----BEGIN PGP MESSAGE-----";
const NONCE_LEN: usize = 24;
const SALT_LEN: usize = 16;
const MAC_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// `sodium_base64_VARIANT_ORIGINAL`: standard alphabet with padding.
const BASE64_VARIANT_ORIGINAL: u64 = 1;

/// libsodium's `crypto_pwhash` parameter sets oidc-agent ever wrote with.
/// `crypto_pwhash` runs Argon2 v1.3 with one lane and `memlimit / 1024` KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kdf {
    /// `crypto_pwhash_ALG_*`: 1 = Argon2i13, 2 = Argon2id13.
    alg: u64,
    ops: u32,
    mem_bytes: u32,
}

/// libsodium >= 1.0.15 INTERACTIVE + ALG_DEFAULT (every current build).
const SODIUM23: Kdf = Kdf {
    alg: 2,
    ops: 2,
    mem_bytes: 64 << 20,
};
/// libsodium18 (Debian stretch, Ubuntu xenial) INTERACTIVE + ALG_DEFAULT.
const SODIUM18: Kdf = Kdf {
    alg: 1,
    ops: 4,
    mem_bytes: 32 << 20,
};

/// Which oidc-agent account-file format a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyFormat {
    /// 2.1.0+ (src/utils/crypt/crypt.c): six lines (length, nonce, salt,
    /// parameters, ciphertext, password check value) and a
    /// `Generated using version:` line; Argon2 + XSalsa20-Poly1305.
    Sodium,
    /// Before 2.1.0 (src/utils/crypt/hexCrypt.c): one line
    /// `<cipher_len>:<hex salt>:<hex nonce>:<hex ciphertext>`.
    Hex,
    /// `oidc-gen --gpg`: an ASCII-armoured OpenPGP message.
    Gpg,
    /// None of the above.
    Unknown,
}

/// Failure to decrypt an oidc-agent account file.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// The password does not open the file.
    #[error("wrong password for this oidc-agent account file: check the password and try again")]
    WrongPassword,
    /// The file is damaged or truncated; the message names what is wrong.
    #[error(
        "the oidc-agent account file is corrupt: {0}; restore it from a backup or create the account again with oidc-gen"
    )]
    Corrupt(String),
    /// A format or parameter set we deliberately do not read.
    #[error("unsupported oidc-agent account file: {0}")]
    Unsupported(String),
    /// Argon2 could not run (for instance out of memory: it needs 64 MiB).
    #[error(
        "could not derive the decryption key from the password ({0}); free some memory and try again"
    )]
    KeyDerivation(String),
}

/// Tells the format of an account file from its structure. oidc-agent decides
/// by the version line alone; we also read files whose version line is gone.
pub fn detect(bytes: &[u8]) -> LegacyFormat {
    if bytes.starts_with(PGP_HEADER) {
        return LegacyFormat::Gpg;
    }
    let lines = body_lines(bytes);
    match lines.as_slice() {
        [line] if parse_hex_line(line).is_ok() => LegacyFormat::Hex,
        // Shape only: unsupported parameter values are reported by `decrypt`.
        [len, _, _, params, _, _]
            if is_decimal(len) && !matches!(parse_params(params), Err(ParamsError::Malformed)) =>
        {
            LegacyFormat::Sodium
        }
        _ => LegacyFormat::Unknown,
    }
}

/// Decrypts an oidc-agent account file and returns the account JSON text.
///
/// `password` is used byte for byte (oidc-agent passes `strlen(password)`
/// bytes, so it never contains NUL). A wrong password gives
/// [`LegacyError::WrongPassword`]; a damaged file [`LegacyError::Corrupt`].
pub fn decrypt(bytes: &[u8], password: &[u8]) -> Result<Zeroizing<String>, LegacyError> {
    match detect(bytes) {
        LegacyFormat::Sodium => decrypt_sodium(&body_lines(bytes), password),
        LegacyFormat::Hex => {
            let lines = body_lines(bytes);
            decrypt_hex(lines.first().copied().unwrap_or_default(), password)
        }
        LegacyFormat::Gpg => Err(LegacyError::Unsupported(
            "it is encrypted with GPG (it starts with -----BEGIN PGP MESSAGE-----); decrypt it with \
             `gpg --decrypt <file>` and store the account JSON again with oidc-gen"
                .into(),
        )),
        LegacyFormat::Unknown if bytes.trim_ascii_start().starts_with(b"{") => {
            Err(LegacyError::Unsupported(
                "it is not encrypted: it holds plain JSON, not an oidc-agent encrypted account file"
                    .into(),
            ))
        }
        LegacyFormat::Unknown => Err(LegacyError::Corrupt(unknown_reason(bytes))),
    }
}

/// The `X.Y.Z` from a file's `Generated using version: X.Y.Z` line, if any.
pub fn generated_by(bytes: &[u8]) -> Option<String> {
    let last = lines(bytes).pop()?;
    let version = last.strip_prefix(VERSION_PREFIX)?;
    Some(String::from_utf8_lossy(version).trim().to_owned())
}

/// Checks what can be checked without the password: the structure, the
/// lengths, the parameters. A file that fails here fails with any
/// password, so it is reported before anyone is asked for one.
pub fn check(bytes: &[u8]) -> Result<(), LegacyError> {
    match detect(bytes) {
        LegacyFormat::Sodium => parse_sodium(&body_lines(bytes)).map(drop),
        LegacyFormat::Hex => {
            let lines = body_lines(bytes);
            parse_hex_line(lines.first().copied().unwrap_or_default())
                .map(drop)
                .map_err(corrupt)
        }
        // Refused by their shape alone, before any key derivation.
        LegacyFormat::Gpg | LegacyFormat::Unknown => decrypt(bytes, b"").map(drop),
    }
}

/// The parts of a 2.1.0+ file (crypt.c crypt_encrypt), checked.
struct SodiumFile {
    kdf: Kdf,
    nonce: [u8; NONCE_LEN],
    salt: Vec<u8>,
    cipher: Zeroizing<Vec<u8>>,
    hash_key: Vec<u8>,
}

fn decrypt_sodium(lines: &[&[u8]], password: &[u8]) -> Result<Zeroizing<String>, LegacyError> {
    let SodiumFile {
        kdf,
        nonce,
        salt,
        mut cipher,
        hash_key,
    } = parse_sodium(lines)?;
    let mut keys = Zeroizing::new([0u8; 2 * KEY_LEN]);
    derive(kdf, password, &salt, &mut keys[..])?;
    let (enc_key, check) = keys.split_at(KEY_LEN);
    // Constant time: the check value is derived from the password.
    let check_ok = bool::from(subtle::ConstantTimeEq::ct_eq(&hash_key[..], check));
    match open_secretbox(enc_key, &nonce, &mut cipher) {
        // The MAC proves the key, so a damaged check value does not stop us.
        Ok(()) => into_text(cipher),
        // oidc-agent checks the value first and stops with "wrong password";
        // checking both lets us tell a wrong password from a damaged file.
        Err(()) if check_ok => Err(corrupt(
            "the ciphertext fails authentication although the password is right: the file was modified or damaged",
        )),
        Err(()) => Err(LegacyError::WrongPassword),
    }
}

fn parse_sodium(lines: &[&[u8]]) -> Result<SodiumFile, LegacyError> {
    // Every writer since 2.1.0 emits all six lines (crypt.c crypt_encrypt).
    let [
        len_line,
        nonce_b64,
        salt_b64,
        params_line,
        cipher_b64,
        hash_b64,
    ] = lines
    else {
        return Err(corrupt(&format!(
            "it has {} lines besides the version line; the 2.1.0+ format has 6",
            lines.len()
        )));
    };
    let cipher_len = parse_decimal(len_line)
        .ok_or_else(|| corrupt("line 1 (ciphertext length) is not a number"))?;
    let kdf = parse_params(params_line).map_err(|e| match e {
        ParamsError::Malformed => corrupt(
            "line 4 is not `nonce_len:salt_len:mac_len:key_len:base64_variant:opslimit:memlimit:alg`",
        ),
        ParamsError::Unsupported(what) => LegacyError::Unsupported(what),
    })?;
    let nonce: [u8; NONCE_LEN] = decode_b64(nonce_b64, "line 2 (nonce)")?
        .try_into()
        .map_err(|_| corrupt("line 2 (nonce) does not hold 24 bytes"))?;
    let salt = decode_b64(salt_b64, "line 3 (salt)")?;
    if salt.len() != SALT_LEN {
        return Err(corrupt("line 3 (salt) does not hold 16 bytes"));
    }
    let cipher = Zeroizing::new(decode_b64(cipher_b64, "line 5 (ciphertext)")?);
    if cipher.len() < MAC_LEN {
        return Err(corrupt(
            "line 5 (ciphertext) is shorter than its 16-byte MAC",
        ));
    }
    if cipher.len() as u64 != cipher_len {
        return Err(corrupt(&format!(
            "line 5 holds {} ciphertext bytes but line 1 says {cipher_len}: the file is truncated or spliced",
            cipher.len()
        )));
    }
    let hash_key = decode_b64(hash_b64, "line 6 (password check value)")?;
    if hash_key.len() != KEY_LEN {
        return Err(corrupt(
            "line 6 (password check value) does not hold 32 bytes",
        ));
    }

    Ok(SodiumFile {
        kdf,
        nonce,
        salt,
        cipher,
        hash_key,
    })
}

fn decrypt_hex(line: &[u8], password: &[u8]) -> Result<Zeroizing<String>, LegacyError> {
    let HexLine {
        salt,
        nonce,
        cipher,
    } = parse_hex_line(line).map_err(corrupt)?;
    // The file does not say which libsodium wrote it; oidc-agent tries the
    // libsodium18 parameters first, then libsodium23's.
    for kdf in [SODIUM18, SODIUM23] {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        derive(kdf, password, &salt, &mut key[..])?;
        let mut attempt = Zeroizing::new(cipher.to_vec());
        if open_secretbox(&key[..], &nonce, &mut attempt).is_ok() {
            return into_text(attempt);
        }
    }
    Err(LegacyError::WrongPassword)
}

struct HexLine {
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    cipher: Zeroizing<Vec<u8>>,
}

/// `<cipher_len>:<salt>:<nonce>:<cipher>`, hex as `sodium_bin2hex` writes it.
fn parse_hex_line(line: &[u8]) -> Result<HexLine, &'static str> {
    let fields: Vec<&[u8]> = line.split(|&b| b == b':').collect();
    let [len, salt, nonce, cipher] = fields.as_slice() else {
        return Err("the hex line does not have 4 `:`-separated fields");
    };
    let cipher_len = parse_decimal(len).ok_or("the hex line's length field is not a number")?;
    let salt = hex_array::<SALT_LEN>(salt).ok_or("the hex salt is not 16 bytes of hex")?;
    let nonce = hex_array::<NONCE_LEN>(nonce).ok_or("the hex nonce is not 24 bytes of hex")?;
    let cipher = Zeroizing::new(hex::decode(cipher).map_err(|_| "the hex ciphertext is not hex")?);
    if cipher.len() < MAC_LEN {
        return Err("the hex ciphertext is shorter than its 16-byte MAC");
    }
    if cipher.len() as u64 != cipher_len {
        return Err(
            "the hex ciphertext length differs from the length field: the file is truncated",
        );
    }
    Ok(HexLine {
        salt,
        nonce,
        cipher,
    })
}

enum ParamsError {
    Malformed,
    Unsupported(String),
}

/// Line 4. oidc-agent's reader takes the four lengths from it but always
/// derives with its own build's INTERACTIVE constants; we use the stored
/// Argon2 parameters when they are one of the two sets libsodium ever had,
/// which also opens files a libsodium18 build wrote (oidc-agent cannot).
fn parse_params(line: &[u8]) -> Result<Kdf, ParamsError> {
    let fields = line
        .split(|&b| b == b':')
        .map(parse_decimal)
        .collect::<Option<Vec<u64>>>()
        .ok_or(ParamsError::Malformed)?;
    let [nonce, salt, mac, key, variant, ops, mem, alg] = fields.as_slice() else {
        return Err(ParamsError::Malformed);
    };
    let lengths = [*nonce, *salt, *mac, *key];
    if lengths != [NONCE_LEN, SALT_LEN, MAC_LEN, KEY_LEN].map(|n| n as u64) {
        return Err(ParamsError::Unsupported(format!(
            "line 4 declares nonce/salt/MAC/key lengths {lengths:?}; only libsodium's 24/16/16/32 exist"
        )));
    }
    if *variant != BASE64_VARIANT_ORIGINAL {
        return Err(ParamsError::Unsupported(format!(
            "line 4 declares base64 variant {variant}; oidc-agent only writes 1 (original)"
        )));
    }
    [SODIUM23, SODIUM18]
        .into_iter()
        .find(|k| (k.alg, u64::from(k.ops), u64::from(k.mem_bytes)) == (*alg, *ops, *mem))
        .ok_or_else(|| {
            ParamsError::Unsupported(format!(
                "line 4 declares key derivation alg {alg}, opslimit {ops}, memlimit {mem}; only \
                 libsodium's interactive sets 2/2/67108864 and 1/4/33554432 are read"
            ))
        })
}

fn derive(kdf: Kdf, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), LegacyError> {
    let algorithm = if kdf.alg == 1 {
        Algorithm::Argon2i
    } else {
        Algorithm::Argon2id
    };
    let params = Params::new(kdf.mem_bytes / 1024, kdf.ops, 1, Some(out.len()))
        .map_err(|e| LegacyError::KeyDerivation(e.to_string()))?;
    Argon2::new(algorithm, Version::V0x13, params)
        .hash_password_into(password, salt, out)
        .map_err(|e| LegacyError::KeyDerivation(e.to_string()))
}

/// `crypto_secretbox_open_easy`: MAC first, then ciphertext; decrypts in place.
fn open_secretbox(key: &[u8], nonce: &[u8; NONCE_LEN], buf: &mut Vec<u8>) -> Result<(), ()> {
    XSalsa20Poly1305::new(GenericArray::from_slice(key))
        .decrypt_in_place(GenericArray::from_slice(nonce), b"", buf)
        .map_err(|_| ())
}

fn into_text(mut plain: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, LegacyError> {
    // Move the buffer out without copying; the emptied Zeroizing drops harmlessly.
    let bytes = std::mem::take(&mut *plain);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(corrupt("the decrypted account is not UTF-8 text"))
        }
    }
}

fn decode_b64(field: &[u8], what: &str) -> Result<Vec<u8>, LegacyError> {
    STANDARD
        .decode(field)
        .map_err(|_| corrupt(&format!("{what} is not valid base64")))
}

fn hex_array<const N: usize>(field: &[u8]) -> Option<[u8; N]> {
    hex::decode(field).ok()?.try_into().ok()
}

fn corrupt(what: &str) -> LegacyError {
    LegacyError::Corrupt(what.to_owned())
}

fn unknown_reason(bytes: &[u8]) -> String {
    let lines = body_lines(bytes);
    match lines.as_slice() {
        [] => "the file is empty".into(),
        [line] => match parse_hex_line(line) {
            Err(what) => format!("it is one line but not the pre-2.1.0 hex format ({what})"),
            Ok(_) => "it is not in a known format".into(),
        },
        [_, _, _, params, ..] if matches!(parse_params(params), Err(ParamsError::Malformed)) => {
            "line 4 is not `nonce_len:salt_len:mac_len:key_len:base64_variant:opslimit:memlimit:alg`"
                .into()
        }
        ls if ls.len() != 6 => format!(
            "it has {} lines besides a version line; the 2.1.0+ format has 6",
            ls.len()
        ),
        _ => "it is not an oidc-agent account file in a known format".into(),
    }
}

/// Lines without trailing whitespace (`\r`, NUL); oidc-agent writes no
/// final newline but editors add one.
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let end = bytes
        .iter()
        .rposition(|&b| b != 0 && !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    if end == 0 {
        return Vec::new();
    }
    bytes[..end]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect()
}

/// The lines that carry data: everything but a final version line.
fn body_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut ls = lines(bytes);
    if ls.last().is_some_and(|l| l.starts_with(VERSION_PREFIX)) {
        ls.pop();
    }
    ls
}

fn is_decimal(field: &[u8]) -> bool {
    parse_decimal(field).is_some()
}

fn parse_decimal(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 19 || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
