//! The wire protocol against a live agent: every request, malformed input,
//! oversized and stalled clients.

use std::io::Write as _;
use std::time::Duration;

use crate::support::fake_op::FakeOp;
use crate::support::*;

#[test]
fn every_request_answers() {
    let (op, env) = agent_with_account();
    let sock = env.socket();
    let at = acct_token_via(raw_json, &sock);
    assert_eq!(at["issuer"], op.issuer.as_str());
    assert!(at["expires_at"].as_i64().is_some_and(|e| e > 0));

    let by_issuer = raw_json(
        &sock,
        &format!(
            r#"{{"request":"access_token","issuer":"{}","min_valid_period":"0","scope":""}}"#,
            op.issuer.trim_end_matches('/')
        ),
    );
    assert_eq!(
        by_issuer["access_token"], at["access_token"],
        "issuer request served from the same cache"
    );

    let id = raw_json(&sock, r#"{"request":"id_token","account":"acct"}"#);
    assert!(
        id["id_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("idt-")),
        "{id}"
    );

    assert_eq!(
        raw_json(&sock, r#"{"request":"loaded_accounts"}"#)["info"],
        serde_json::json!(["acct"])
    );
    let info = raw_json(&sock, r#"{"request":"account_info"}"#);
    assert_eq!(
        info["info"][op.issuer.as_str()]["accounts"]["acct"],
        true,
        "{info}"
    );
    assert_answers(&sock);
    assert!(
        raw_json(&sock, r#"{"request":"status"}"#)["info"]
            .as_str()
            .is_some_and(|s| s.contains("acct"))
    );
    assert_eq!(
        raw_json(&sock, r#"{"request":"status_json"}"#)["info"]["loaded_accounts"],
        serde_json::json!(["acct"])
    );

    let token = r#"{"request":"access_token","account":"acct"}"#;
    let lock = r#"{"request":"lock","password":"lpw"}"#;
    let check = r#"{"request":"check"}"#;
    let unlock_bad = r#"{"request":"unlock","password":"bad"}"#;
    let unlock = r#"{"request":"unlock","password":"lpw"}"#;
    let remove = r#"{"request":"remove","account":"acct"}"#;
    let remove_all = r#"{"request":"remove_all"}"#;
    let unknown = r#"{"request":"access_token","account":"nobody"}"#;
    replies(
        &sock,
        &[
            (lock, "info", "Agent locked"),
            (token, "status", "failure"),
            (token, "error", "Agent locked"),
            (check, "status", "success"), // check answers while locked
            (unlock_bad, "error", "wrong password"),
            (unlock, "info", "Agent unlocked"),
            (unlock, "error", "Agent not locked"),
            (token, "status", "success"),
            (remove, "status", "success"),
            (remove, "error", "account not loaded"),
            (remove_all, "status", "success"),
            (token, "error", "account not loaded"),
            (
                unknown,
                "error",
                "No account configured with that short name",
            ),
        ],
    );
}

/// Wrong unlock guesses sent at once take turns: each Argon2id run takes
/// 64 MiB, so four at once took some 256 MiB (and hundreds of guesses, the
/// machine's memory); one at a time, the agent's peak stays near one run.
#[test]
fn parallel_unlock_guesses_take_turns() {
    let (_op, env) = agent_with_account();
    let sock = env.socket();
    let lock = r#"{"request":"lock","password":"lpw"}"#;
    assert_eq!(raw_json(&sock, lock)["info"], "Agent locked");
    let guesses: Vec<_> = (0..4)
        .map(|i| {
            let sock = sock.clone();
            let guess = format!(r#"{{"request":"unlock","password":"guess{i}"}}"#);
            std::thread::spawn(move || raw_json(&sock, &guess))
        })
        .collect();
    for guess in guesses {
        let reply = guess.join().expect("guess");
        assert_eq!(reply["kind"], "wrong_password", "{reply}");
    }
    let pid = env.agent_pid().expect("agent");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(
        peak_kib < 3 * 64 * 1024,
        "peak RSS {peak_kib} kB: the guesses ran at once"
    );
}

/// Sends each request in turn and checks one field of its reply.
#[track_caller]
fn replies(sock: &std::path::Path, steps: &[(&str, &str, &str)]) {
    for (req, field, want) in steps {
        let reply = raw_json(sock, req);
        assert_eq!(reply[*field], *want, "{req} -> {reply}");
    }
}

#[test]
fn add_request_of_oidc_agents_own_tools() {
    let (op, mut env) = provider_and_home();
    let sock = env.start_agent(&[]);
    // oidc-agent 4.x's oidc-add sends the config as a JSON string plus its
    // own fields; the agent must accept it and ignore what it does not know.
    let config = serde_json::json!({"name": "legacy", "issuer_url": op.issuer, "client_id": "cid",
        "client_secret": "csecret", "refresh_token": "rt-initial", "scope": "openid", "username": "", "password": ""});
    let req = serde_json::json!({"request": "add", "config": config.to_string(), "confirm": 0,
        "always_allow_id": 0, "lifetime": "0", "pw_entry": {"type": 0}});
    let reply = raw_json(&sock, &req.to_string());
    assert_eq!(reply["status"], "success", "{reply}");
    assert_eq!(op.refreshes(), 1, "add checks the account with one refresh");
    let at = raw_json(
        &sock,
        r#"{"request":"access_token","account":"legacy","min_valid_period":10}"#,
    );
    assert_eq!(at["status"], "success");
    assert_eq!(op.refreshes(), 1, "the check's token was cached");
    // The reply's info, which that oidc-add prints, carries the notes.
    let info_says = |req: &serde_json::Value, note: &str| {
        let reply = raw_json(&sock, &req.to_string());
        assert!(
            reply["info"].as_str().is_some_and(|i| i.contains(note)),
            "{reply}"
        );
    };
    // Its `oidc-add -c` (confirm each token request) is not done here.
    let mut confirm = req.clone();
    confirm["confirm"] = 1.into();
    info_says(&confirm, "does not confirm token requests");
    // With a file of that name but no password to open it (its oidc-add
    // without --pw-env/--pw-file), rotations cannot be saved.
    std::fs::create_dir_all(env.config_dir()).expect("mkdir");
    std::fs::write(env.config_dir().join("legacy"), "4.2.6 file").expect("write");
    info_says(&req, "cannot be saved to its file (it sent no password)");
}

/// A repeated `request` key once decided the request by its last copy:
/// `{"request":"status","request":"remove_all"}` unloaded every account.
#[test]
fn repeated_keys_change_nothing() {
    let (_op, env) = agent_with_account();
    let sock = env.socket();
    for req in [
        r#"{"request":"status","request":"remove_all"}"#,
        r#"{"request":"loaded_accounts","request":"remove","account":"acct"}"#,
        r#"{"request":"remove","account":"other","account":"acct"}"#,
    ] {
        let reply = raw_json(&sock, req);
        assert_eq!(reply["status"], "failure", "{req} -> {reply}");
        assert_eq!(reply["kind"], "usage", "{reply}");
    }
    assert_eq!(
        raw_json(&sock, r#"{"request":"loaded_accounts"}"#)["info"],
        serde_json::json!(["acct"])
    );
}

#[test]
fn malformed_requests_get_failure_replies() {
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    let cases: &[(&[u8], &str)] = &[
        (b"{}", "Bad Request: No request type."),
        (
            br#"{"request":"fly"}"#,
            "Bad Request: Unknown request type.",
        ),
        (
            br#"{"request":"mytoken","account":"acct"}"#,
            "'mytoken' request is not supported by oidc-agent-rs",
        ),
        (br#"{"request":"remove"}"#, "Bad Request: remove"),
        (b"not json at all", "Bad Request"),
        (b"[1,2,3]", "Bad Request"),
        (br#"{"request":"add","config":{"name":"x"}}"#, "issuer_url"),
        (
            br#"{"request":"access_token"}"#,
            "account or issuer required",
        ),
    ];
    for (req, want) in cases {
        let reply = raw(&sock, req);
        let v: serde_json::Value = serde_json::from_slice(&reply).expect("reply is JSON");
        assert_eq!(v["status"], "failure", "{}", String::from_utf8_lossy(req));
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains(want)),
            "{} -> {v}",
            String::from_utf8_lossy(req)
        );
    }
    // Oversized: refused, the agent lives on.
    let big = format!(r#"{{"request":"check","pad":"{}"}}"#, "x".repeat(2 << 20));
    let reply = raw(&sock, big.as_bytes());
    assert!(reply.is_empty() || String::from_utf8_lossy(&reply).contains("too large"));
    assert_answers(&sock);
}

#[test]
fn a_stalled_client_does_not_block_others() {
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    // Half a request, then silence.
    let mut stalled = connect(&sock);
    stalled.write_all(br#"{"request":"acc"#).expect("write");
    for _ in 0..20 {
        assert_answers(&sock);
    }
    // The stalled request is still open (an agent serving one client at a
    // time would have served the others only once it gave up on it), and
    // it is answered once it is complete.
    stalled
        .write_all(br#"ess_token","account":"nobody"}"#)
        .expect("the stalled connection is still open");
    let mut reply = Vec::new();
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    std::io::Read::read_to_end(&mut stalled, &mut reply).expect("read");
    let reply: serde_json::Value = serde_json::from_slice(&reply).expect("json reply");
    assert_eq!(reply["status"], "failure", "{reply}");
}

/// A client that stops halfway through its request, and is still there to
/// read, is told why the agent gives up on it (after the agent's 10 s read
/// timeout, the wait this test has to make), in oidc-agent's failure shape;
/// in the encrypted mode too. It used to get EOF, which oidc-agent's
/// libraries report as "did not receive any response".
#[test]
fn a_client_that_stalls_is_told() {
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    let stalled = move |first: &[u8]| {
        let mut s = connect(&sock);
        s.write_all(first).expect("write");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut reply = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut reply).expect("read");
        String::from_utf8_lossy(&reply).into_owned()
    };
    let plain = std::thread::spawn({
        let stalled = stalled.clone();
        move || stalled(br#"{"request":"acc"#)
    });
    // Half of a client's public key (the encrypted mode's first message).
    let encrypted = stalled(b"dGhpcyBpcyBub3QgYSB3aG9sZSBrZXkg");
    for reply in [plain.join().expect("plain"), encrypted] {
        assert!(
            reply.contains(r#""status":"failure""#) && reply.contains("client stalled"),
            "{reply}"
        );
    }
}

/// While one provider holds a refresh, another account is served, cached
/// and fresh: the fast requests complete while the slow one is still held
/// (an event order, not a wall-clock bound).
#[test]
fn a_slow_provider_does_not_block_other_accounts() {
    let slow = FakeOp::start();
    let fast = FakeOp::start();
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    ok(&env.gen_rt("slow", &slow.issuer, "rt-initial"));
    ok(&env.gen_rt("fast", &fast.issuer, "rt-initial"));
    let held = slow.hold_next_refresh();
    let sock2 = sock.clone();
    let pending = std::thread::spawn(move || {
        raw_json(
            &sock2,
            r#"{"request":"access_token","account":"slow","min_valid_period":-1}"#,
        )
    });
    held.arrived();
    let cached = raw_json(
        &sock,
        r#"{"request":"access_token","account":"fast","min_valid_period":0}"#,
    );
    let fresh = raw_json(
        &sock,
        r#"{"request":"access_token","account":"fast","min_valid_period":-1}"#,
    );
    assert_eq!(
        (cached["status"].as_str(), fresh["status"].as_str()),
        (Some("success"), Some("success"))
    );
    assert!(
        !pending.is_finished(),
        "the slow refresh ended before the fast account was served"
    );
    held.release();
    assert_eq!(pending.join().expect("join")["status"], "success");
}

/// `--request-timeout` bounds how long a client waits for a refresh, not
/// the refresh: one the provider holds past it fails for the caller as
/// "provider unreachable", and the agent goes on waiting for the answer, so
/// the token a rotating provider issued is kept and saved (given up on, it
/// was lost, and the old one sent again was a replay).
#[test]
fn a_refresh_outlives_the_callers_deadline() {
    let op = FakeOp::start();
    op.set(|c| c.rotate = true);
    let mut env = Env::new();
    let sock = env.start_agent(&["--request-timeout", "1", "--connect-timeout", "1"]);
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    let held = op.hold_next_refresh();
    let forced = r#"{"request":"access_token","account":"acct","min_valid_period":-1}"#;
    let reply = raw_json(&sock, forced);
    assert_failure_reply(&reply, "goes on");
    assert_eq!(reply["kind"], "provider_unreachable", "{reply}");
    held.release();
    env.wait_agent_log("saved refresh token");
    let cached = raw_json(&sock, r#"{"request":"access_token","account":"acct"}"#);
    assert_eq!(cached["status"], "success", "{cached}");
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("open");
    let valid: Vec<String> = op.valid_rts().into_iter().collect();
    assert_eq!(valid, [saved.config.refresh_token.expose().to_owned()]);
    fails(&env.run("oidc-agent", &["--request-timeout", "0"]), 2);
    // Past a client's own 45 s wait, a slow provider would be said as a
    // hung agent (exit 3) instead of exit 6 (tester12 F6).
    fails(&env.run("oidc-agent", &["--request-timeout", "41"]), 2);
}

/// Arbitrary bytes never crash a parser the agent or oidc-add feeds with
/// untrusted input: requests, the encrypted-mode framing, account files.
#[test]
fn parsers_survive_arbitrary_input() {
    use oidc_agent::account::legacy;
    use oidc_agent::compat::ipc_crypt;
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0_1dc_a6e);
    let seeds: [&[u8]; 6] = [
        br#"{"request":"access_token","account":"a","min_valid_period":5}"#,
        br#"{"request":"add","config":{"name":"x"},"lifetime":"7"}"#,
        b"12:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:AAAA",
        b"OIDCRS\x01\x01",
        b"44\nAAAA\nAAAA\n24:16:16:32:1:2:67108864:2\nAAAA\nAAAA\nGenerated using version: 4.2.6",
        b"0f:00:11:22",
    ];
    for i in 0..20_000 {
        let mut buf = seeds[i % seeds.len()].to_vec();
        for _ in 0..rng.gen_range(0..6) {
            match rng.gen_range(0..3) {
                0 if !buf.is_empty() => {
                    let at = rng.gen_range(0..buf.len());
                    buf[at] = rng.r#gen();
                }
                1 => buf.insert(rng.gen_range(0..=buf.len()), rng.r#gen()),
                _ => buf.truncate(rng.gen_range(0..=buf.len())),
            }
        }
        let _ = oidc_agent::protocol::Request::parse(&buf);
        let _ = ipc_crypt::classify_first_message(&buf);
        let _ = ipc_crypt::encrypted_message_status(&buf);
        let _ = legacy::detect(&buf);
        // Only the shape checks: a structurally valid file would run Argon2.
        if !matches!(
            legacy::detect(&buf),
            legacy::LegacyFormat::Sodium | legacy::LegacyFormat::Hex
        ) {
            let _ = legacy::decrypt(&buf, b"pw");
        }
        if buf.len() < 132 {
            let _ = oidc_agent::account::format::open(&buf, b"pw");
        }
    }
}

/// A client that connects and closes without a request (another agent
/// looking for dead sockets at its start, a liveness probe) is no error in
/// the agent's log; it logged "connection: Broken pipe" for each.
#[test]
fn a_connection_closed_without_a_request_is_not_logged() {
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    for _ in 0..3 {
        drop(connect(&sock));
    }
    // The probes end at their first read (EOF); the status request after
    // them takes a full round trip.
    assert_answers(&sock);
    let log = env.status()["log"].to_string();
    assert!(!log.contains("connection:"), "{log}");
}

/// Garbage gets the failure reply, also from a client that writes it in
/// pieces: the agent reads the rest before it answers and closes, so the
/// client is neither cut off mid-write (EPIPE) nor left without the reply.
#[test]
fn garbage_gets_a_failure_reply_not_a_broken_pipe() {
    use std::io::{Read as _, Write as _};
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    let mut s = connect(&sock);
    // A slow writer, as the liboidc-agent clients are: 4096-byte pieces.
    for piece in 0..16 {
        s.write_all(&[b'x'; 4096])
            .unwrap_or_else(|e| panic!("piece {piece}: {e}"));
        std::thread::sleep(Duration::from_millis(20)); // the slowness under test
    }
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("read the reply");
    let v: serde_json::Value = serde_json::from_slice(&reply).expect("a JSON reply");
    assert_failure_reply(&v, "Bad Request");
}

/// A refused request is answered at once, not after the agent has drained
/// the rest: a client that goes on writing without a pause (so no idle
/// drain ends) finds the reply while it is still sending, long before it
/// could have filled the size limit the drain stops at.
#[test]
fn garbage_is_answered_before_the_rest_is_drained() {
    use oidc_agent::protocol::MAX_MESSAGE;
    use rustix::net::{RecvFlags, recv};
    use std::io::Read as _;
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    let mut s = connect(&sock);
    s.write_all(b"not json at all").expect("write");
    let mut sent = 0;
    let mut reply = vec![0u8; 4096];
    let got = loop {
        match recv(&s, &mut reply[..], RecvFlags::DONTWAIT) {
            Ok((0, _)) => panic!("closed without a reply after {sent} more bytes"),
            Ok((n, _)) => break n,
            Err(e) if e == rustix::io::Errno::AGAIN => {}
            Err(e) => panic!("no reply after {sent} more bytes: {e}"),
        }
        // Before the fix the reply came only once the drain had read the
        // size limit (the writer never pauses, so it never went idle).
        assert!(
            sent < MAX_MESSAGE,
            "no reply while the client still wrote: it came only after the drain"
        );
        if let Err(e) = s.write_all(&[b'x'; 4096]) {
            // Closed after the reply (this thread stalled past the drain's
            // idle limit): the reply waits here all the same.
            match recv(&s, &mut reply[..], RecvFlags::empty()) {
                Ok((n, _)) if n > 0 => break n,
                _ => panic!("cut off after {sent} bytes without a reply: {e}"),
            }
        }
        sent += 4096;
    };
    reply.truncate(got);
    // The agent has half-closed: the reply ends while our side still is open.
    s.read_to_end(&mut reply).expect("the rest of the reply");
    let v: serde_json::Value = serde_json::from_slice(&reply).expect("a JSON reply");
    assert_failure_reply(&v, "Bad Request");
}
