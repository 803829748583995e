//! Tests of the encrypted IPC mode, including PyNaCl interop vectors.
use super::*;
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/ipc.json"
));

struct Fixture {
    v: Value,
    client: Channel,
    server: Channel,
}

fn fixture() -> Fixture {
    let v: Value = serde_json::from_str(VECTORS).expect("ipc.json parses");
    let sk = |field: &str| {
        let bytes: [u8; 32] = hex::decode(v[field].as_str().expect("hex field"))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        SecretKey::from(bytes)
    };
    let (client_sk, server_sk) = (sk("client_sk_hex"), sk("server_sk_hex"));
    assert_eq!(
        public_key_message(&client_sk.public_key()),
        v["client_pk_message"].as_str().expect("str").as_bytes()
    );
    assert_eq!(
        public_key_message(&server_sk.public_key()),
        v["server_pk_message"].as_str().expect("str").as_bytes()
    );
    let client_pk =
        parse_public_key_message(v["client_pk_message"].as_str().expect("str").as_bytes())
            .expect("client pk");
    let server_pk =
        parse_public_key_message(v["server_pk_message"].as_str().expect("str").as_bytes())
            .expect("server pk");
    Fixture {
        client: Channel::new(&client_sk, &server_pk).expect("client channel"),
        server: Channel::new(&server_sk, &client_pk).expect("server channel"),
        v,
    }
}

fn receiver_and_sender<'a>(f: &'a Fixture, direction: &str) -> (&'a Channel, &'a Channel) {
    match direction {
        "client_to_server" => (&f.server, &f.client),
        _ => (&f.client, &f.server),
    }
}

#[test]
fn pynacl_messages_open_and_rust_reproduces_them_byte_for_byte() {
    let f = fixture();
    let messages = f.v["messages"].as_array().expect("messages");
    assert!(messages.len() >= 6);
    for m in messages {
        let wire = m["wire"].as_str().expect("wire").as_bytes();
        let plaintext = m["plaintext"].as_str().expect("plaintext").as_bytes();
        let (receiver, sender) = receiver_and_sender(&f, m["direction"].as_str().expect("dir"));
        assert_eq!(encrypted_message_status(wire), MessageStatus::Complete);
        assert_eq!(&*receiver.open(wire).expect("opens"), plaintext);
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(m["nonce_b64"].as_str().expect("nonce"))
            .expect("b64")
            .try_into()
            .expect("24 bytes");
        let ours = sender
            .seal_with_nonce(plaintext, &nonce.into())
            .expect("seals");
        assert_eq!(ours, wire, "Rust output differs from PyNaCl");
    }
}

#[test]
fn pynacl_random_nonce_messages_open() {
    let f = fixture();
    for m in f.v["random_nonce"].as_array().expect("random_nonce") {
        let (receiver, _) = receiver_and_sender(&f, m["direction"].as_str().expect("dir"));
        let opened = receiver
            .open(m["wire"].as_str().expect("wire").as_bytes())
            .expect("opens");
        assert_eq!(&*opened, m["plaintext"].as_str().expect("pt").as_bytes());
    }
}

#[test]
fn weak_keys_match_libsodium() {
    let f = fixture();
    let weak = f.v["weak_public_keys_hex"].as_array().expect("weak keys");
    assert_eq!(weak.len(), 14);
    for h in weak {
        let bytes: [u8; 32] = hex::decode(h.as_str().expect("hex"))
            .expect("hex")
            .try_into()
            .expect("32");
        assert!(is_weak_public_key(&bytes), "{h} should be weak");
        let msg = STANDARD.encode(bytes);
        assert!(matches!(
            parse_public_key_message(msg.as_bytes()),
            Err(IpcCryptError::WeakPublicKey)
        ));
        let FirstMessage::ClientKey(pk) = classify_first_message(msg.as_bytes()) else {
            panic!("a weak key is still a key message");
        };
        assert!(matches!(
            ServerSession::new(&pk),
            Err(IpcCryptError::WeakPublicKey)
        ));
    }
    let pk = SecretKey::generate(&mut OsRng).public_key();
    assert!(!is_weak_public_key(pk.as_bytes()));
}

#[test]
fn client_server_round_trip() {
    let (handshake, client_msg) = ClientHandshake::start();
    assert_eq!(client_msg.len(), PUBLIC_KEY_MESSAGE_LEN);
    let FirstMessage::ClientKey(client_pk) = classify_first_message(&client_msg) else {
        panic!("client key not recognised");
    };
    let (server, server_msg) = ServerSession::new(&client_pk).expect("server");
    assert_eq!(server_msg.len(), PUBLIC_KEY_MESSAGE_LEN);
    let client = handshake.finish(&server_msg).expect("client");

    let request = br#"{"request":"access_token","account":"x"}"#;
    let sealed = client.seal(request).expect("seal");
    assert!(sealed.starts_with(format!("{}:", request.len()).as_bytes()));
    assert_eq!(&*server.open(&sealed).expect("open"), request);

    let reply = br#"{"status":"success"}"#;
    let sealed = server.seal(reply).expect("seal");
    assert_eq!(&*client.open(&sealed).expect("open"), reply);
    // Fresh nonce per message.
    assert_ne!(server.seal(reply).expect("seal"), sealed);
    assert!(format!("{server:?}{client:?}").contains("ServerSession"));
}

#[test]
fn empty_plaintext_round_trips() {
    let f = fixture();
    let sealed = f.client.seal(b"").expect("seal");
    assert!(sealed.starts_with(b"0:"));
    assert_eq!(&*f.server.open(&sealed).expect("open"), b"");
}

#[test]
fn tampered_messages_fail() {
    let f = fixture();
    let m = &f.v["messages"][0];
    let wire = m["wire"].as_str().expect("wire");
    let (nonce, cipher) = (&wire[3..35], &wire[36..]);
    let mut ct = STANDARD.decode(cipher).expect("b64");
    for i in [0, 15, 16, ct.len() - 1] {
        ct[i] ^= 1;
        let bad = format!("91:{nonce}:{}", STANDARD.encode(&ct));
        assert!(matches!(
            f.server.open(bad.as_bytes()),
            Err(IpcCryptError::DecryptionFailed)
        ));
        ct[i] ^= 1;
    }
    let mut n = STANDARD.decode(nonce).expect("b64");
    n[0] ^= 1;
    let bad = format!("91:{}:{cipher}", STANDARD.encode(&n));
    assert!(matches!(
        f.server.open(bad.as_bytes()),
        Err(IpcCryptError::DecryptionFailed)
    ));
    // A connection with a different client key cannot open it.
    let (other, _) = ClientHandshake::start();
    let other = Channel::new(
        &other.secret,
        &parse_public_key_message(f.v["server_pk_message"].as_str().expect("pk").as_bytes())
            .expect("pk"),
    )
    .expect("channel");
    assert!(matches!(
        other.open(wire.as_bytes()),
        Err(IpcCryptError::DecryptionFailed)
    ));
}

#[test]
fn malformed_messages_are_reported() {
    let f = fixture();
    for (bad, _why) in [
        (&b"x1:AAAA:AAAA"[..], "length"),
        (
            b"12:short:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "nonce length",
        ),
        (
            b"1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAA:AAAA",
            "extra field",
        ),
        (b"1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAA AAAA", "space"),
    ] {
        assert_eq!(encrypted_message_status(bad), MessageStatus::Invalid);
        assert!(matches!(
            f.server.open(bad),
            Err(IpcCryptError::Malformed(_))
        ));
    }
    // base64 of 8 bytes where len says 0 + 16 MAC would need 24 chars.
    let short = b"0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAAAAAAAAAA";
    assert!(matches!(
        f.server.open(short),
        Err(IpcCryptError::Incomplete)
    ));
}

#[test]
fn incomplete_encrypted_messages_are_detected_at_every_cut() {
    let f = fixture();
    for m in f.v["messages"].as_array().expect("messages") {
        let wire = m["wire"].as_str().expect("wire").as_bytes();
        for cut in 0..wire.len() {
            assert_eq!(
                encrypted_message_status(&wire[..cut]),
                MessageStatus::Incomplete,
                "cut at {cut}"
            );
        }
        let (receiver, _) = receiver_and_sender(&f, m["direction"].as_str().expect("dir"));
        assert!(matches!(
            receiver.open(&wire[..wire.len() - 1]),
            Err(IpcCryptError::Incomplete)
        ));
        let mut with_nul = wire.to_vec();
        with_nul.extend_from_slice(b"\0");
        assert_eq!(encrypted_message_status(&with_nul), MessageStatus::Complete);
        with_nul.pop();
        with_nul.push(b'\n');
        assert!(receiver.open(&with_nul).is_ok());
    }
}

#[test]
fn character_count_length_from_python_clients_is_tolerated() {
    // liboidc-agent-py sends len(str): 63 characters for this 66-byte request.
    let f = fixture();
    let m = &f.v["messages"][1];
    let wire = m["wire"].as_str().expect("wire");
    let plaintext = m["plaintext"].as_str().expect("plaintext");
    let chars = plaintext.chars().count();
    assert!(chars < plaintext.len());
    let rest = wire.split_once(':').expect("colon").1;
    let python_style = format!("{chars}:{rest}");
    assert_eq!(
        encrypted_message_status(python_style.as_bytes()),
        MessageStatus::Complete
    );
    assert_eq!(
        &*f.server.open(python_style.as_bytes()).expect("opens"),
        plaintext.as_bytes()
    );
}

#[test]
fn first_message_classification() {
    let f = fixture();
    let pk_msg = f.v["client_pk_message"].as_str().expect("pk");
    assert!(matches!(
        classify_first_message(pk_msg.as_bytes()),
        FirstMessage::ClientKey(_)
    ));
    for suffix in ["\0", "\n", "\r\n"] {
        let msg = format!("{pk_msg}{suffix}");
        assert!(matches!(
            classify_first_message(msg.as_bytes()),
            FirstMessage::ClientKey(_)
        ));
    }
    for cut in 0..pk_msg.len() {
        assert_eq!(
            classify_first_message(&pk_msg.as_bytes()[..cut]),
            FirstMessage::Incomplete
        );
    }
    let json = br#" {"request":"check","nested":{"a":[1,"}"]}}"#;
    assert_eq!(classify_first_message(json), FirstMessage::Plain);
    assert_eq!(
        classify_first_message(b"{\"request\":\"check\"}\n\0"),
        FirstMessage::Plain
    );
    for cut in 0..json.len() {
        assert_eq!(
            classify_first_message(&json[..cut]),
            FirstMessage::Incomplete,
            "cut at {cut}"
        );
    }
    // Without framing, a short run of base64 characters may still become a key.
    assert_eq!(classify_first_message(b"notjson"), FirstMessage::Incomplete);
    // Once a line end or a NUL came, it will not: refused at once, not after
    // the agent's 10 s wait for the rest (tester12 F1).
    for ended in [&b"notjson\n"[..], b"garbage\r\n", b"x\0"] {
        assert_eq!(
            classify_first_message(ended),
            FirstMessage::Invalid,
            "{ended:?}"
        );
    }
    for bad in [
        &b"not json"[..],
        b"[1,2]",
        b"{\"a\":1}x",
        b"{\"a\":}",
        b"{}{}",
        format!("{pk_msg}A").as_bytes(),
        b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", // 31 bytes
    ] {
        assert_eq!(
            classify_first_message(bad),
            FirstMessage::Invalid,
            "{bad:?}"
        );
    }
    assert!(is_json_object(
        br#"{"status":"failure","error":"decryption failed"}"#
    ));
    assert!(!is_json_object(pk_msg.as_bytes()));
}

#[test]
fn handshake_rejects_bad_server_answers() {
    let (h, _) = ClientHandshake::start();
    assert!(matches!(
        h.finish(b"{\"status\":\"failure\"}"),
        Err(IpcCryptError::MalformedPublicKey)
    ));
    let (h, _) = ClientHandshake::start();
    assert!(matches!(h.finish(b"abc"), Err(IpcCryptError::Incomplete)));
    let (h, _) = ClientHandshake::start();
    assert!(matches!(
        h.finish(STANDARD.encode([0u8; 32]).as_bytes()),
        Err(IpcCryptError::WeakPublicKey)
    ));
}

#[test]
fn padding_avoids_exact_chunk_multiples() {
    let mut reply = vec![b'x'; CLIENT_READ_CHUNK];
    pad_for_chunked_readers(&mut reply);
    assert_eq!(reply.len(), CLIENT_READ_CHUNK + 1);
    pad_for_chunked_readers(&mut reply);
    assert_eq!(reply.len(), CLIENT_READ_CHUNK + 1);
    // An encrypted reply padded that way still opens.
    let f = fixture();
    let m = &f.v["messages"][5];
    let mut wire = m["wire"].as_str().expect("wire").as_bytes().to_vec();
    wire.push(b'\n');
    assert_eq!(
        &*f.client.open(&wire).expect("opens"),
        m["plaintext"].as_str().expect("pt").as_bytes()
    );
}
