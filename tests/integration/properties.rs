//! Seeded property tests of the parsers that take untrusted input: the
//! encrypted-IPC handshake, `issuer.config` and oidc-agent's account formats.
//! (The loopback listener's request parser is private; its properties are in
//! `src/loopback/http.rs`.) Each asserts a property (a round trip, a typed
//! error of the expected class, no false success), not only "no panic".
//! Seeds are fixed, so a failure reproduces; the case index is in the message.

use oidc_agent::account::issuers::{IssuerConfig, IssuerConfigError, IssuerConfigFormat};
use oidc_agent::account::legacy::{self, LegacyError, LegacyFormat};
use oidc_agent::compat::ipc_crypt::{
    self, ClientHandshake, FirstMessage, IpcCryptError, MessageStatus, ServerSession,
};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Random bytes of a random length up to `max`.
fn bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..=max);
    (0..n).map(|_| rng.r#gen()).collect()
}

/// One to four random edits: flip a bit, insert, delete, truncate.
fn mutate(rng: &mut StdRng, buf: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..=4) {
        match rng.gen_range(0..4) {
            0 if !buf.is_empty() => {
                let at = rng.gen_range(0..buf.len());
                buf[at] ^= 1 << rng.gen_range(0..8);
            }
            1 => buf.insert(rng.gen_range(0..=buf.len()), rng.r#gen()),
            2 if !buf.is_empty() => {
                buf.remove(rng.gen_range(0..buf.len()));
            }
            _ => buf.truncate(rng.gen_range(0..=buf.len())),
        }
    }
}

/// The handshake and both directions round-trip any plaintext; every prefix
/// of a sealed message is `Incomplete`, never a decryption; a modified
/// message never opens to anything but the original plaintext.
#[test]
fn ipc_handshake_round_trips_and_rejects_tampering() {
    let mut rng = StdRng::seed_from_u64(0x1bc_0001);
    for case in 0..200 {
        let (hs, client_key) = ClientHandshake::start();
        let FirstMessage::ClientKey(pk) = ipc_crypt::classify_first_message(&client_key) else {
            panic!("case {case}: the client's key message is not classified as a key");
        };
        let (server, server_key) = ServerSession::new(&pk).expect("server session");
        let client = hs.finish(&server_key).expect("client session");
        let plain = bytes(&mut rng, if case % 10 == 0 { 9000 } else { 300 });

        let sealed = client.seal(&plain).expect("seal");
        assert_eq!(
            ipc_crypt::encrypted_message_status(&sealed),
            MessageStatus::Complete,
            "case {case}"
        );
        assert_eq!(*server.open(&sealed).expect("open"), plain, "case {case}");
        let reply = server.seal(&plain).expect("seal reply");
        assert_eq!(
            *client.open(&reply).expect("open reply"),
            plain,
            "case {case}"
        );

        // Prefixes: never complete before the end, never opened.
        let cut = rng.gen_range(0..sealed.len());
        assert_ne!(
            ipc_crypt::encrypted_message_status(&sealed[..cut]),
            MessageStatus::Complete,
            "case {case}: a {cut}-byte prefix looks complete"
        );
        assert!(
            server.open(&sealed[..cut]).is_err(),
            "case {case}: prefix {cut} opened"
        );

        // Tampering: a typed error, or (a no-op edit) the same plaintext.
        let mut bad = sealed.clone();
        mutate(&mut rng, &mut bad);
        match server.open(&bad) {
            Ok(p) => assert_eq!(
                *p, plain,
                "case {case}: tampered message opened to other data"
            ),
            Err(
                IpcCryptError::Incomplete
                | IpcCryptError::Malformed(_)
                | IpcCryptError::DecryptionFailed,
            ) => {}
            Err(e) => panic!("case {case}: unexpected error class {e:?}"),
        }

        // A tampered key message: refused, or a different key whose session
        // cannot open what the server seals.
        let (hs2, _) = ClientHandshake::start();
        let mut bad_key = server_key.clone();
        mutate(&mut rng, &mut bad_key);
        match hs2.finish(&bad_key) {
            Ok(other) => assert!(other.open(&reply).is_err(), "case {case}"),
            Err(
                IpcCryptError::Incomplete
                | IpcCryptError::MalformedPublicKey
                | IpcCryptError::WeakPublicKey,
            ) => {}
            Err(e) => panic!("case {case}: unexpected error class {e:?}"),
        }

        // Random first messages: classified without panicking, and only
        // 44-character base64 is ever taken for a key.
        let junk = bytes(&mut rng, 120);
        if let FirstMessage::ClientKey(_) = ipc_crypt::classify_first_message(&junk) {
            assert_eq!(junk.trim_ascii_end().len(), 44, "case {case}: {junk:?}");
        }
    }
}

/// A random line-format `issuer.config`.
fn random_lines(rng: &mut StdRng) -> String {
    let mut text = String::new();
    for i in 0..rng.gen_range(0..8) {
        match rng.gen_range(0..4) {
            0 => text.push_str("# a comment\n"),
            1 => text.push('\n'),
            2 => text.push_str(&format!("https://op{i}.example/\n")),
            _ => text.push_str(&format!("https://op{i}.example/ acct{i}\n")),
        }
    }
    if rng.gen_bool(0.5) {
        text.pop();
    }
    text
}

/// Either format parses and writes back byte for byte; recording a default
/// account is read back; arbitrary text parses or fails with `InvalidJson`,
/// and whatever parses is stable through a write and a re-read.
#[test]
fn issuer_config_round_trips() {
    let mut rng = StdRng::seed_from_u64(0x1bc_0002);
    for case in 0..500 {
        let text = random_lines(&mut rng);
        let cfg = IssuerConfig::parse(&text).expect("lines parse");
        assert_eq!(cfg.format(), IssuerConfigFormat::Lines, "case {case}");
        assert_eq!(
            cfg.to_text(),
            text,
            "case {case}: not written back verbatim"
        );

        let json = serde_json::Value::Array(
            (0..rng.gen_range(0..4))
                .map(|i| serde_json::json!({"issuer_url": format!("https://j{i}/"), "x": i}))
                .collect(),
        );
        let json_text = serde_json::to_string_pretty(&json).expect("json");
        let jcfg = IssuerConfig::parse(&json_text).expect("json parses");
        assert_eq!(jcfg.format(), IssuerConfigFormat::Json);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&jcfg.to_text()).expect("written JSON"),
            json,
            "case {case}"
        );

        for mut c in [cfg, jcfg] {
            let issuer = format!("https://new{}.example/", rng.gen_range(0..3));
            c.set_default_account(&issuer, "chosen").expect("set");
            let back = IssuerConfig::parse(&c.to_text()).expect("re-read");
            assert_eq!(
                back.default_account_for(&issuer),
                Some("chosen"),
                "case {case}"
            );
            assert!(matches!(
                c.set_default_account("has space", "x"),
                Err(IssuerConfigError::InvalidValue { .. })
            ));
        }

        let mut junk = if rng.gen_bool(0.5) {
            json_text.into_bytes()
        } else {
            text.into_bytes()
        };
        mutate(&mut rng, &mut junk);
        let junk = String::from_utf8_lossy(&junk);
        match IssuerConfig::parse(&junk) {
            Ok(c) => {
                let again = IssuerConfig::parse(&c.to_text()).expect("written form re-reads");
                assert_eq!(again.to_text(), c.to_text(), "case {case}: not stable");
            }
            Err(IssuerConfigError::InvalidJson(_)) => {}
            Err(e) => panic!("case {case}: unexpected error class {e:?}"),
        }
    }
}

/// The committed vectors of oidc-agent's formats, damaged at random: the
/// format is still told by structure, and decryption gives the original
/// plaintext or a typed error, never other data. (Decryption runs Argon2
/// with 32–64 MiB, so only some of the cases decrypt.)
#[test]
fn legacy_account_files_survive_damage() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let index: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/legacy.json")).expect("index"),
    )
    .expect("json");
    let vectors: Vec<(Vec<u8>, String, String)> = index["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .map(|v| {
            let file = v["file"].as_str().expect("file");
            (
                std::fs::read(format!("{dir}/{file}")).expect("vector"),
                v["password"].as_str().expect("password").to_owned(),
                v["plaintext"].as_str().expect("plaintext").to_owned(),
            )
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(0x1bc_0003);
    let mut decrypted = 0;
    for case in 0..3000 {
        let (orig, password, plaintext) = &vectors[case % vectors.len()];
        let format = legacy::detect(orig);
        // A trailing newline (an editor's) changes nothing.
        let mut edited = orig.clone();
        edited.push(b'\n');
        assert_eq!(legacy::detect(&edited), format, "case {case}");

        let mut bad = orig.clone();
        mutate(&mut rng, &mut bad);
        let shape = legacy::detect(&bad);
        let runs_argon2 = matches!(shape, LegacyFormat::Sodium | LegacyFormat::Hex);
        if runs_argon2 && decrypted >= 16 {
            continue;
        }
        decrypted += usize::from(runs_argon2);
        match legacy::decrypt(&bad, password.as_bytes()) {
            Ok(text) => assert_eq!(
                *text, *plaintext,
                "case {case}: damage decrypted to other data"
            ),
            Err(
                LegacyError::WrongPassword | LegacyError::Corrupt(_) | LegacyError::Unsupported(_),
            ) => {}
            Err(e) => panic!("case {case}: unexpected error class {e}"),
        }
    }
    assert!(decrypted > 0, "no damaged file kept its structure");
}
