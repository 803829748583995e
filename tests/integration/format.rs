//! Test vectors for our encrypted account format, version 1.
//!
//! `tests/fixtures/format-v1.bin` was written by `crypt::seal_new_with` with
//! the inputs below; the test checks both directions, so any change to the
//! layout, the KDF or the AEAD fails here. `OIDC_BLESS=1` rewrites it.

use oidc_agent::crypt::{self, KdfParams};
use oidc_agent::secret::SecretKey;

const PLAINTEXT: &[u8] =
    br#"{"name":"vector","issuer_url":"https://op.example/","client_id":"cid","refresh_token":"rt-vector"}"#;

fn vector() -> Vec<u8> {
    let key = SecretKey::from_slice(&[7u8; 32]).expect("key");
    crypt::seal_new_with(
        b"vector password",
        PLAINTEXT,
        KdfParams {
            m_kib: 256,
            t: 2,
            p: 2,
        },
        &[1u8; 16],
        &[2u8; 24],
        &key,
        &[3u8; 24],
    )
    .expect("seal")
}

#[test]
fn format_v1_vector() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format-v1.bin");
    if std::env::var_os("OIDC_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, vector()).expect("bless");
    }
    let committed =
        std::fs::read(&path).expect("tests/fixtures/format-v1.bin (OIDC_BLESS=1 creates it)");
    assert_eq!(
        committed,
        vector(),
        "the writer no longer produces the committed vector"
    );
    let (plain, key) = crypt::open(&committed, b"vector password").expect("open vector");
    assert_eq!(&plain[..], PLAINTEXT);
    assert!(key == SecretKey::from_slice(&[7u8; 32]).expect("key"));
    assert_eq!(&committed[..8], b"OIDCRS\x01\x01");
    assert_eq!(
        crypt::open(&committed, b"wrong").err(),
        Some(crypt::CryptError::WrongPassword)
    );
}
