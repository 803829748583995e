//! Tests of `format`.
use super::*;

#[test]
fn rewrap_keeps_the_data_key_and_changes_the_password() {
    let (file, key) = sample();
    let new = rewrap(&file, &key, b"new-pw", KdfParams::TESTING).expect("rewrap");
    assert_eq!(open(&new, b"pw").err(), Some(CryptError::WrongPassword));
    let (plain, new_key) = open(&new, b"new-pw").expect("open");
    assert_eq!(&plain[..], br#"{"name":"a"}"#);
    assert!(new_key == key, "the data key is kept");
    // The old key still re-seals the re-wrapped file (an agent keeps saving).
    reseal(&new, &key, b"{}").expect("reseal with the kept key");
    // A wrong key cannot re-wrap.
    assert!(rewrap(&file, &SecretKey::random(), b"x", KdfParams::TESTING).is_err());
}

fn sample() -> (Vec<u8>, SecretKey) {
    seal_new(b"pw", br#"{"name":"a"}"#, KdfParams::TESTING).expect("seal")
}

#[test]
fn round_trip() {
    let (file, key) = sample();
    let (plain, key2) = open(&file, b"pw").expect("open");
    assert_eq!(&plain[..], br#"{"name":"a"}"#);
    assert!(key == key2);
}

#[test]
fn wrong_password() {
    let (file, _) = sample();
    assert_eq!(open(&file, b"nope").err(), Some(CryptError::WrongPassword));
}

#[test]
fn every_flipped_byte_is_detected() {
    let (file, _) = sample();
    for i in 0..file.len() {
        let mut bad = file.clone();
        bad[i] ^= 0x01;
        assert!(open(&bad, b"pw").is_err(), "flip at {i} went unnoticed");
    }
}

#[test]
fn truncation_is_detected() {
    let (file, _) = sample();
    for len in [0, 5, 7, 60, HEADER_LEN, BODY_OFFSET + 3, file.len() - 1] {
        assert!(open(&file[..len], b"pw").is_err(), "truncated to {len}");
    }
}

#[test]
fn reseal_keeps_header_and_password() {
    let (file, key) = sample();
    let new = reseal(&file, &key, b"rotated").expect("reseal");
    assert_eq!(&new[..HEADER_LEN], &file[..HEADER_LEN]);
    let (plain, _) = open(&new, b"pw").expect("open");
    assert_eq!(&plain[..], b"rotated");
}

#[test]
fn reseal_refuses_foreign_key() {
    let (file, _) = sample();
    assert!(reseal(&file, &SecretKey::random(), b"x").is_err());
}

#[test]
fn unknown_version_is_reported() {
    let (mut file, _) = sample();
    file[6] = 9;
    assert_eq!(
        open(&file, b"pw").err(),
        Some(CryptError::UnsupportedVersion(9))
    );
}

#[test]
fn implausible_parameters_are_refused_before_deriving() {
    let (file, _) = sample();
    // One flipped high bit in each parameter, and the values just past
    // the bounds: refused (before Argon2 runs), naming the parameter.
    let cases: [(usize, u32, &str); 7] = [
        (8, 64 | 1 << 25, "memory cost"),
        (8, KdfParams::MAX.m_kib + 1, "memory cost"),
        (8, 7, "memory cost"),
        (12, 1 | 1 << 6, "time cost"),
        (12, 0, "time cost"),
        (16, KdfParams::MAX.p + 1, "parallelism"),
        (16, 0, "parallelism"),
    ];
    for (at, value, name) in cases {
        let mut bad = file.clone();
        bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
        match open(&bad, b"pw") {
            Err(CryptError::KdfParams(msg)) => {
                assert!(
                    msg.contains(name) && msg.contains(&value.to_string()),
                    "{msg}"
                );
            }
            other => panic!("{value} at {at}: {other:?}"),
        }
    }
    // The bounds admit what we write and oidc-agent's libsodium sets.
    for ok in [
        KdfParams::DEFAULT,
        KdfParams::TESTING,
        KdfParams {
            m_kib: 64 * 1024,
            t: 2,
            p: 1,
        },
        KdfParams {
            m_kib: 32 * 1024,
            t: 4,
            p: 1,
        },
    ] {
        assert_eq!(ok.check(), Ok(ok));
    }
}

/// The key's text form is part of the `add` request between client and
/// agent (and the lock vault): a changed encoding would break either.
#[test]
fn key_text_form_is_standard_base64_and_round_trips() {
    let bytes: Vec<u8> = (0u8..32).collect();
    let key = SecretKey::from_slice(&bytes).expect("32 bytes");
    let text = encode_key(&key);
    assert_eq!(
        text.expose(),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    );
    assert!(decode_key(&text).expect("decode") == key);
    // Not 32 bytes, or not base64: no key.
    assert!(decode_key(&SecretString::from("AAECAw==")).is_none());
    assert!(decode_key(&SecretString::from("not base64!")).is_none());
    let (file, _) = sample();
    assert_eq!(decode_file(&encode_file(&file)), Some(file));
    assert_eq!(decode_file("not base64!"), None);
}
