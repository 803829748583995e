//! Tests of `legacy`.
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
        let text =
            decrypt(&v.bytes, v.password.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", v.file));
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

/// `check` passes every real file and fails, without a password, for what
/// `decrypt` would refuse with any: truncated, spliced, unknown.
#[test]
fn check_needs_no_password_and_agrees_with_decrypt() {
    for v in vectors() {
        check(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.file));
        let cut = &v.bytes[..v.bytes.len() / 2];
        let err = check(cut).expect_err("truncated");
        assert!(matches!(err, LegacyError::Corrupt(_)), "{}: {err}", v.file);
        assert!(decrypt(cut, v.password.as_bytes()).is_err());
    }
    assert!(matches!(check(b"garbage"), Err(LegacyError::Corrupt(_))));
}
