//! Drop-in compatibility: oidc-agent's encrypted IPC mode against our agent,
//! and account files in oidc-agent's format (read, served, converted on
//! rotation, converted by `oidc-gen -u`).

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use base64::Engine as _;
use oidc_agent::compat::ipc_crypt::{ClientHandshake, is_json_object};

use crate::support::*;

/// One encrypted exchange, the way liboidc-agent does it: key, key, sealed
/// request, sealed reply, each a single write with no framing.
fn encrypted_call(sock: &std::path::Path, request: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let (handshake, pk_msg) = ClientHandshake::start();
    s.write_all(&pk_msg).expect("send key");
    let mut server_pk = [0u8; 44];
    s.read_exact(&mut server_pk).expect("server key");
    let session = handshake.finish(&server_pk).expect("key exchange");
    s.write_all(&session.seal(request.as_bytes()).expect("seal"))
        .expect("send");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("reply");
    assert!(
        !is_json_object(&reply),
        "the reply must be encrypted: {}",
        String::from_utf8_lossy(&reply)
    );
    let plain = session.open(&reply).expect("open reply");
    serde_json::from_slice(&plain).expect("reply JSON")
}

#[test]
fn encrypted_ipc_mode() {
    let (op, env) = agent_with_account();
    let sock = env.socket();
    let at = acct_token_via(encrypted_call, &sock);
    let by_issuer = encrypted_call(
        &sock,
        &format!(
            r#"{{"request":"access_token","issuer":"{}","min_valid_period":0}}"#,
            op.issuer
        ),
    );
    assert_eq!(by_issuer["access_token"], at["access_token"]);
    let missing = encrypted_call(
        &sock,
        r#"{"request":"access_token","account":"nobody","min_valid_period":0}"#,
    );
    assert_eq!(
        missing["error"],
        "No account configured with that short name"
    );
    assert_eq!(
        encrypted_call(&sock, r#"{"request":"loaded_accounts"}"#)["info"],
        serde_json::json!(["acct"])
    );
    // A message sealed under another key: oidc-agent's plain-JSON answer.
    let mut s = UnixStream::connect(&sock).expect("connect");
    let (handshake, pk_msg) = ClientHandshake::start();
    s.write_all(&pk_msg).expect("send key");
    let mut server_pk = [0u8; 44];
    s.read_exact(&mut server_pk).expect("server key");
    drop(handshake.finish(&server_pk).expect("kx"));
    let (other, _) = ClientHandshake::start();
    let foreign = other
        .finish(&server_pk)
        .expect("kx")
        .seal(b"{\"request\":\"check\"}")
        .expect("seal");
    s.write_all(&foreign).expect("send");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("reply");
    let v: serde_json::Value = serde_json::from_slice(&reply).expect("plain JSON failure");
    assert_eq!(v["error"], "decryption failed");
    // A low-order public key is refused in oidc-agent's words.
    let zero_key = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    let v: serde_json::Value =
        serde_json::from_slice(&raw(&sock, zero_key.as_bytes())).expect("JSON");
    assert_eq!(v["error"], "received suspicious public key");
    // Larger than the agent reads: refused in plain JSON, as in the plain
    // mode (the connection was reset, and libraries saw no reply).
    let mut s = UnixStream::connect(&sock).expect("connect");
    let (handshake, pk_msg) = ClientHandshake::start();
    s.write_all(&pk_msg).expect("send key");
    let mut server_pk = [0u8; 44];
    s.read_exact(&mut server_pk).expect("server key");
    let session = handshake.finish(&server_pk).expect("kx");
    let huge = format!(r#"{{"request":"check","x":"{}"}}"#, "A".repeat(900_000));
    let _ = s.write_all(&session.seal(huge.as_bytes()).expect("seal"));
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("reply");
    let v: serde_json::Value = serde_json::from_slice(&reply).expect("plain JSON failure");
    assert_eq!(v["error"], "Bad Request: request too large", "{v}");
}

/// Writes an account in oidc-agent 4.2.6's password format (crypt.c):
/// Argon2id (t=2, 64 MiB, 1 lane) → 64 bytes: secretbox key | hash_key.
fn write_legacy(path: &std::path::Path, json: &str, password: &str) {
    use crypto_secretbox::aead::{Aead as _, KeyInit as _};
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (salt, nonce) = ([5u8; 16], [6u8; 24]);
    let mut out = [0u8; 64];
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(65536, 2, 1, Some(64)).expect("params"),
    )
    .hash_password_into(password.as_bytes(), &salt, &mut out)
    .expect("argon2");
    let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(&out[..32]).expect("key");
    let sealed = cipher
        .encrypt(&nonce.into(), json.as_bytes())
        .expect("seal");
    let text = format!(
        "{}\n{}\n{}\n24:16:16:32:1:2:67108864:2\n{}\n{}\nGenerated using version: 4.2.6",
        json.len() + 16,
        b64(&nonce),
        b64(&salt),
        b64(&sealed),
        b64(&out[32..])
    );
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    std::fs::write(path, text).expect("write legacy");
}

fn legacy_json(issuer: &str) -> String {
    serde_json::json!({"name": "old", "client_name": "oidc-agent:old-vm", "issuer_url": issuer,
        "daeSetByUser": 0, "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-initial",
        "cert_path": "", "scope": "openid offline_access", "audience": "", "redirect_uris": ["http://localhost:4242"],
        "username": "", "password": ""})
    .to_string()
}

/// Writes account `old` of `issuer` in 4.2.6's format, with [`PASSWORD`];
/// returns its path and its bytes.
fn legacy_account(env: &Env, issuer: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = env.config_dir().join("old");
    write_legacy(&path, &legacy_json(issuer), PASSWORD);
    let bytes = std::fs::read(&path).expect("read");
    (path, bytes)
}

#[test]
fn legacy_file_loads_and_stays_untouched_without_rotation() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    let (path, before) = legacy_account(&env, &op.issuer);
    let out = env.run("oidc-add", &["--pw-env", "old"]);
    ok_saying(&out, "oidc-agent's format");
    assert!(ok(&env.run("oidc-token", &["-f", "old"])).starts_with("at-"));
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "a legacy file is not rewritten unasked"
    );
    // Wrong password and a damaged file.
    let wrong = env.add_with_password("old", "nope");
    assert!(fails(&wrong, 9).contains("wrong password"));
    let mut bad = before.clone();
    bad.truncate(bad.len() / 2);
    std::fs::write(&path, &bad).expect("write");
    fails(&env.run("oidc-add", &["-f", "--pw-env", "old"]), 10);
}

#[test]
fn legacy_file_is_converted_on_rotation() {
    let (op, mut env) = agent_where(|c| c.rotate = true);
    let (path, before) = legacy_account(&env, &op.issuer);
    ok(&env.run("oidc-add", &["--pw-env", "old"]));
    ok(&env.run("oidc-token", &["-f", "old"]));
    let after = std::fs::read(&path).expect("read");
    assert!(
        after.starts_with(b"OIDCRS"),
        "converted to our format on rotation"
    );
    assert_eq!(
        std::fs::read(env.config_dir().join("old.bak")).expect("backup"),
        before
    );
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let opened =
        oidc_agent::account::open(&store, "old", &PASSWORD.into()).expect("open converted");
    assert_eq!(
        vec![opened.config.refresh_token.expose().to_owned()],
        op.valid_rts().into_iter().collect::<Vec<_>>()
    );
    assert_eq!(
        opened.config.extra["client_name"], "oidc-agent:old-vm",
        "unknown fields survive"
    );
    // A fresh agent loads the converted file with the same password.
    env.restart_agent_and_refresh("old");
}

/// Loaded by oidc-agent's own oidc-add without a password, an account has
/// no file the agent can write: after a rotation only the agent holds the
/// live token, and the file's is spent. `oidc-gen -u` says to load it with
/// our oidc-add (unloading it first, as for other legacy files, would lose
/// the login); our `oidc-add NAME` does so without -f, and the agent keeps
/// its newer token and writes it to the file, spending no refresh: a check
/// with the file's token would be a replay (tester9 F3).
#[test]
fn a_rotation_held_without_a_file_is_written_when_our_oidc_add_brings_it() {
    let (op, mut env) = agent_where(|c| c.rotate = true);
    let (path, _) = legacy_account(&env, &op.issuer);
    // As oidc-agent 4.2.6's oidc-add sends it without --pw-env/--pw-file.
    let req = serde_json::json!({"request": "add", "config": legacy_json(&op.issuer),
        "lifetime": "0", "pw_entry": {"type": 0}});
    let reply = raw_json(&env.socket(), &req.to_string());
    assert!(
        reply["info"]
            .as_str()
            .is_some_and(|i| i.contains("oidc-agent-rs's `oidc-add old`")),
        "{reply}"
    );
    ok(&env.run("oidc-token", &["-f", "old"]));
    let refreshes = op.refreshes();
    let err = fails(&env.run("oidc-gen", &["-u", "--pw-env", "old"]), 1);
    assert!(
        err.contains("run `oidc-add old` first") && !err.contains("oidc-add -r"),
        "{err}"
    );
    // Unloading would drop the only live token: refused, with the remedy.
    let err = fails(&env.run("oidc-add", &["-r", "old"]), 1);
    assert!(
        err.contains("not unloaded") && err.contains("`oidc-add old`"),
        "{err}"
    );
    let out = env.run("oidc-add", &["--pw-env", "old"]);
    assert_eq!(ok(&out).trim(), "Account 'old' loaded.");
    assert_eq!(op.refreshes(), refreshes, "the file's spent token was sent");
    assert!(std::fs::read(&path).expect("read").starts_with(b"OIDCRS"));
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let opened = oidc_agent::account::open(&store, "old", &PASSWORD.into()).expect("open");
    assert_eq!(
        vec![opened.config.refresh_token.expose().to_owned()],
        op.valid_rts().into_iter().collect::<Vec<_>>()
    );
    // Its file written, it unloads.
    ok(&env.run("oidc-add", &["-r", "old"]));
    env.restart_agent_and_refresh("old");
}

#[test]
fn gen_update_converts_with_backup() {
    let env = Env::new();
    let (path, before) = legacy_account(&env, "https://op.example/");
    // An earlier backup stays (it was overwritten, and briefly readable
    // with the source file's mode; tester10 F8): this one goes beside it.
    let earlier = env.config_dir().join("old.bak");
    std::fs::write(&earlier, "an earlier backup").expect("earlier backup");
    let out = env.run("oidc-gen", &["-u", "--pw-env", "old"]);
    ok(&out);
    assert_eq!(
        std::fs::read_to_string(&earlier).expect("read"),
        "an earlier backup"
    );
    std::fs::remove_file(&earlier).expect("remove");
    let kept: Vec<_> = std::fs::read_dir(env.config_dir())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains("old.bak."))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    std::fs::rename(&kept[0], &earlier).expect("rename");
    assert!(
        stderr(&out).contains("converted to the oidc-agent-rs format"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read(&path).expect("read").starts_with(b"OIDCRS"));
    assert_eq!(
        std::fs::read(env.config_dir().join("old.bak")).expect("backup"),
        before
    );
    let printed = ok(&env.run("oidc-gen", &["-p", "--pw-env", "old"]));
    assert!(printed.contains("rt-initial"));
    // The backup kept is read by its path (oidc-agent's `-p FILE`), though
    // not as an account name: loaded, its older token would be a replay.
    let backup = env.config_dir().join("old.bak");
    let printed = ok(&env.run("oidc-gen", &["-p", "--pw-env", &backup.to_string_lossy()]));
    assert!(printed.contains("rt-initial"), "{printed}");
    let err = fails(&env.run("oidc-gen", &["-p", "--pw-env", "old.bak"]), 2);
    assert!(err.contains("not a valid account short name"), "{err}");
}

/// A plain JSON account (written by hand, or by another tool) is named as
/// such by oidc-add, and `oidc-gen -u` encrypts it in place, as oidc-agent's
/// -u does; a plain client configuration is pointed to `-f`.
#[test]
fn gen_update_encrypts_a_plain_account() {
    let (op, mut env) = agent_with_account();
    env.stop_agent();
    let path = env.config_dir().join("hand");
    let plain = serde_json::json!({
        "issuer_url": op.issuer,
        "client_id": "cid",
        "client_secret": "csecret",
        "refresh_token": "rt-initial",
        "scope": "openid offline_access",
    });
    std::fs::write(&path, plain.to_string()).expect("write");
    env.start_agent(&[]);
    let err = fails(&env.run("oidc-add", &["--pw-env", "hand"]), 10);
    assert!(
        err.contains("not encrypted") && err.contains("oidc-gen -u"),
        "{err}"
    );
    ok(&env.run("oidc-gen", &["-u", "--pw-env", "hand"]));
    assert!(std::fs::read(&path).expect("read").starts_with(b"OIDCRS"));
    ok(&env.run("oidc-add", &["--pw-env", "hand"]));
    assert!(ok(&env.run("oidc-token", &["hand"])).starts_with("at-"));

    let client = env.config_dir().join("client");
    let json = serde_json::json!({"issuer_url": op.issuer, "client_id": "cid"});
    std::fs::write(&client, json.to_string()).expect("write");
    let err = fails(&env.run("oidc-gen", &["-u", "--pw-env", "client"]), 10);
    assert!(err.contains("-f FILE"), "{err}");
    assert_eq!(
        std::fs::read(&client).expect("untouched"),
        json.to_string().as_bytes()
    );
}

#[test]
fn socket_found_without_oidc_sock() {
    let (_op, mut env) = agent_with_account();
    env.stop_agent();
    // oidc-agent 5.x's well-known service socket: $TMPDIR/oidc-agent-service-$UID/oidc-agent.sock
    let uid = rustix::process::getuid().as_raw();
    let service = env
        .dir
        .path()
        .join("tmp")
        .join(format!("oidc-agent-service-{uid}"))
        .join("oidc-agent.sock");
    env.start_agent_at(&service, &[]);
    ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    let out = env
        .cmd("oidc-token")
        .arg("acct")
        .env_remove("OIDC_SOCK")
        .output()
        .expect("run");
    assert!(ok(&out).starts_with("at-"));
}
