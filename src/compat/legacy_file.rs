//! Readers for account files written by indigo-dc/oidc-agent: the 2.1.0+
//! base64 format and the pre-2.1.0 hex line. It never writes them (we write
//! only our own format) and never runs gpg: GPG-armoured files are only
//! recognised. `issuer.config` lives in `crate::issuers`.

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

fn decrypt_sodium(lines: &[&[u8]], password: &[u8]) -> Result<Zeroizing<String>, LegacyError> {
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
    let mut cipher = Zeroizing::new(decode_b64(cipher_b64, "line 5 (ciphertext)")?);
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
mod tests {
    use super::*;
    use serde_json::Value;

    const VECTOR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");

    struct Vector {
        file: String,
        format: LegacyFormat,
        password: String,
        plaintext: String,
        bytes: Vec<u8>,
    }

    fn vectors() -> Vec<Vector> {
        let index = std::fs::read_to_string(format!("{VECTOR_DIR}/legacy.json")).expect("index");
        let index: Value = serde_json::from_str(&index).expect("json");
        let vectors: Vec<Vector> = index["vectors"]
            .as_array()
            .expect("vectors")
            .iter()
            .map(|v| {
                let file = v["file"].as_str().expect("file").to_owned();
                Vector {
                    bytes: std::fs::read(format!("{VECTOR_DIR}/{file}")).expect("vector file"),
                    file,
                    format: match v["format"].as_str() {
                        Some("sodium") => LegacyFormat::Sodium,
                        Some("hex") => LegacyFormat::Hex,
                        other => panic!("unknown format {other:?}"),
                    },
                    password: v["password"].as_str().expect("password").to_owned(),
                    plaintext: v["plaintext"].as_str().expect("plaintext").to_owned(),
                }
            })
            .collect();
        assert!(vectors.iter().any(|v| v.file.contains("real-4.2.6")));
        vectors
    }

    fn vector(name: &str) -> Vector {
        vectors()
            .into_iter()
            .find(|v| v.file.ends_with(name))
            .expect("vector present")
    }

    #[test]
    fn every_vector_decrypts() {
        for v in vectors() {
            assert_eq!(detect(&v.bytes), v.format, "{}", v.file);
            let text = decrypt(&v.bytes, v.password.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}", v.file));
            assert_eq!(*text, v.plaintext, "{}", v.file);
        }
    }

    #[test]
    fn wrong_password_is_reported_as_such() {
        for name in ["real-4.2.6.acct", "pynacl-hex-libsodium23.acct"] {
            let v = vector(name);
            assert!(matches!(
                decrypt(&v.bytes, b"not the password"),
                Err(LegacyError::WrongPassword)
            ));
        }
    }

    /// Replaces line `n` (0-based) of a vector.
    fn with_line(bytes: &[u8], n: usize, f: impl FnOnce(&str) -> String) -> Vec<u8> {
        let text = std::str::from_utf8(bytes).expect("utf8");
        let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
        lines[n] = f(&lines[n]);
        lines.join("\n").into_bytes()
    }

    fn flip_b64_byte(line: &str, i: usize) -> String {
        let mut raw = STANDARD.decode(line).expect("b64");
        raw[i] ^= 0x01;
        STANDARD.encode(raw)
    }

    #[test]
    fn flipped_ciphertext_byte_is_corrupt_not_wrong_password() {
        let v = vector("real-4.2.6.acct");
        let bad = with_line(&v.bytes, 4, |l| flip_b64_byte(l, 40));
        let err = decrypt(&bad, v.password.as_bytes()).expect_err("tampered");
        assert!(matches!(err, LegacyError::Corrupt(_)), "{err}");
        assert!(err.to_string().contains("modified or damaged"), "{err}");
        // A flipped MAC byte as well.
        let bad = with_line(&v.bytes, 4, |l| flip_b64_byte(l, 0));
        assert!(matches!(
            decrypt(&bad, v.password.as_bytes()),
            Err(LegacyError::Corrupt(_))
        ));
    }

    #[test]
    fn damaged_check_value_still_opens_with_the_right_password() {
        // oidc-agent would say "wrong password"; the MAC proves the key.
        let v = vector("pynacl-4.2.6.acct");
        let bad = with_line(&v.bytes, 5, |l| flip_b64_byte(l, 3));
        assert_eq!(
            *decrypt(&bad, v.password.as_bytes()).expect("opens"),
            v.plaintext
        );
    }

    #[test]
    fn flipped_hex_byte_fails() {
        let v = vector("pynacl-hex-libsodium18.acct");
        let mut bad = v.bytes.clone();
        let last = bad.iter().rposition(u8::is_ascii_hexdigit).expect("hex");
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        // The hex format has no check value: a damaged file looks like a wrong password.
        assert!(matches!(
            decrypt(&bad, v.password.as_bytes()),
            Err(LegacyError::WrongPassword)
        ));
    }

    #[test]
    fn truncated_files_are_corrupt_at_every_cut() {
        for name in ["real-4.2.6.acct", "pynacl-hex-libsodium18.acct"] {
            let v = vector(name);
            // Up to the end of the data; cutting into the version line leaves
            // a complete file (covered by `version_line_is_optional`).
            let data_end = v
                .bytes
                .windows(VERSION_PREFIX.len())
                .position(|w| w == VERSION_PREFIX)
                .map_or(v.bytes.len(), |p| p - 1);
            for cut in 0..data_end {
                // None of these cuts gets as far as the (slow) key derivation.
                match decrypt(&v.bytes[..cut], v.password.as_bytes()) {
                    Err(LegacyError::Corrupt(_)) => {}
                    other => panic!("{name} cut at {cut}: {other:?}"),
                }
            }
        }
        let err = decrypt(b"", b"pw").expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn version_line_is_optional_and_line_endings_are_tolerated() {
        let v = vector("pynacl-utf8-password.acct");
        assert_eq!(generated_by(&v.bytes).as_deref(), Some("5.3.3"));
        let text = std::str::from_utf8(&v.bytes).expect("utf8");
        let without_version = text.rsplit_once('\n').expect("lines").0;
        assert_eq!(generated_by(without_version.as_bytes()), None);
        let crlf = format!("{}\r\n", text.replace('\n', "\r\n"));
        for variant in [without_version.to_owned(), crlf] {
            assert_eq!(detect(variant.as_bytes()), LegacyFormat::Sodium);
            assert_eq!(
                *decrypt(variant.as_bytes(), v.password.as_bytes()).expect("opens"),
                v.plaintext
            );
        }
    }

    #[test]
    fn gpg_files_are_unsupported_with_a_hint() {
        let file = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA5iB7Yrm1WbgAQf/abc\n=AbCd\n-----END PGP MESSAGE-----\nGenerated using version: 5.3.3";
        assert_eq!(detect(file), LegacyFormat::Gpg);
        let err = decrypt(file, b"pw").expect_err("gpg");
        assert!(matches!(err, LegacyError::Unsupported(_)));
        assert!(err.to_string().contains("gpg --decrypt"), "{err}");
    }

    #[test]
    fn unknown_parameters_are_unsupported_before_any_key_derivation() {
        let v = vector("pynacl-4.2.6.acct");
        for params in [
            "24:16:16:32:1:2:67108864:3",
            "24:16:16:32:1:3:1073741824:2",
            "24:16:16:32:3:2:67108864:2",
            "24:16:16:64:1:2:67108864:2",
        ] {
            let bad = with_line(&v.bytes, 3, |_| params.to_owned());
            assert_eq!(detect(&bad), LegacyFormat::Sodium, "{params}");
            assert!(
                matches!(decrypt(&bad, b"x"), Err(LegacyError::Unsupported(_))),
                "{params}"
            );
        }
        let bad = with_line(&v.bytes, 3, |_| "24:16:16:32:1:2:67108864".to_owned());
        assert_eq!(detect(&bad), LegacyFormat::Unknown);
        let err = decrypt(&bad, b"x").expect_err("malformed");
        assert!(err.to_string().contains("line 4"), "{err}");
    }

    #[test]
    fn not_an_account_file() {
        for file in [&b"hello\nworld"[..], b"12:zz:yy:xx"] {
            assert_eq!(detect(file), LegacyFormat::Unknown);
            assert!(matches!(decrypt(file, b"x"), Err(LegacyError::Corrupt(_))));
        }
        let plain = br#"{"name":"plain","refresh_token":"rt"}"#;
        assert_eq!(detect(plain), LegacyFormat::Unknown);
        let err = decrypt(plain, b"x").expect_err("plain");
        assert!(matches!(err, LegacyError::Unsupported(_)), "{err}");
    }
}
