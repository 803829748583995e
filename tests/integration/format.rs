//! Test vectors for our encrypted account format, version 1.
//!
//! `tests/fixtures/format-v1.bin` was written by `format::seal_new_with` with
//! the inputs below; the test checks both directions, so any change to the
//! layout, the KDF or the AEAD fails here. `OIDC_BLESS=1` rewrites it.

use oidc_agent::account::format::{self, KdfParams};
use oidc_agent::secret::SecretKey;

const PLAINTEXT: &[u8] =
    br#"{"name":"vector","issuer_url":"https://op.example/","client_id":"cid","refresh_token":"rt-vector"}"#;

fn vector() -> Vec<u8> {
    let key = SecretKey::from_slice(&[7u8; 32]).expect("key");
    format::seal_new_with(
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
    let (plain, key) = format::open(&committed, b"vector password").expect("open vector");
    assert_eq!(&plain[..], PLAINTEXT);
    assert!(key == SecretKey::from_slice(&[7u8; 32]).expect("key"));
    assert_eq!(&committed[..8], b"OIDCRS\x01\x01");
    assert_eq!(
        format::open(&committed, b"wrong").err(),
        Some(format::CryptError::WrongPassword)
    );
}

/// A damaged account file is exit 10 with a message naming the file and
/// what is wrong: a flipped bit in the header's Argon2 cost is refused
/// before Argon2 runs, a directory in the file's place is "missing or
/// corrupt", a damaged magic says what was expected, a FIFO or a link to a
/// device is not a regular file. A truncated file is
/// reported before anyone is asked for its password (here: no password
/// source and no terminal, which used to be the error), by oidc-add and by
/// oidc-token's autoload alike.
#[test]
fn damaged_account_files_exit_10() {
    use crate::support::*;
    let (_op, env) = agent_with_account();
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let path = env.config_dir().join("acct");
    let good = std::fs::read(&path).expect("read");
    let damage = |at: usize, bit: u8| {
        let mut bad = good.clone();
        bad[at] ^= bit;
        std::fs::write(&path, bad).expect("write");
    };
    // Memory cost + 2^25 KiB (32 GiB), passes + 64, lanes + 128.
    for (at, bit, name) in [
        (11, 0x02, "memory cost"),
        (12, 0x40, "time cost"),
        (16, 0x80, "parallelism"),
    ] {
        damage(at, bit);
        let err = fails(&env.run("oidc-add", &["--pw-env", "acct"]), 10);
        assert!(
            err.contains(name) && err.contains(&path.display().to_string()),
            "{err}"
        );
    }
    damage(0, 0x01);
    let err = fails(&env.run("oidc-add", &["--pw-env", "acct"]), 10);
    assert!(
        err.contains("not an account file this version can read") && err.contains("OIDCRS"),
        "{err}"
    );
    std::fs::write(&path, &good[..good.len() / 2]).expect("truncate");
    let err = fails(&env.run("oidc-add", &["acct"]), 10);
    assert!(
        err.contains("truncated") && !err.contains("terminal"),
        "{err}"
    );
    let err = fails(&env.run("oidc-token", &["acct"]), 10);
    assert!(err.contains("truncated"), "{err}");
    // Not a file at all: said at once (reading them never ended, or
    // filled memory), bounded here by the spawn's wait.
    std::fs::remove_file(&path).expect("rm");
    mkfifo(&path);
    let err = fails(&env.spawn("oidc-add", &["--pw-env", "acct"]).finish(), 10);
    assert!(err.contains("not a regular file"), "{err}");
    std::fs::remove_file(&path).expect("rm");
    std::os::unix::fs::symlink("/dev/zero", &path).expect("symlink");
    let err = fails(
        &env.spawn("oidc-gen", &["-p", "--pw-env", "acct"]).finish(),
        10,
    );
    assert!(err.contains("not a regular file"), "{err}");
    std::fs::remove_file(&path).expect("rm");
    std::fs::create_dir(&path).expect("mkdir");
    let err = fails(&env.run("oidc-add", &["--pw-env", "acct"]), 10);
    assert!(err.contains("account file missing or corrupt"), "{err}");
    // oidc-token's autoload says the same (it said "create it with
    // oidc-gen", which cannot work with a directory there).
    let err = fails(&env.run("oidc-token", &["acct"]), 10);
    assert!(err.contains("a directory is in its place"), "{err}");
}
