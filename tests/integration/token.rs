//! oidc-gen --rt, oidc-add and oidc-token end to end: output, exit codes,
//! the cache, single flight, rotation, lifetimes and the lock (autoload:
//! `autoload.rs`).

use crate::support::fake_op::FakeOp;
use crate::support::*;

fn decrypt_rt(env: &Env, name: &str) -> String {
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let opened =
        oidc_agent::account::open(&store, name, &PASSWORD.into()).expect("decrypt account file");
    opened.config.refresh_token.expose().to_owned()
}

#[test]
fn import_then_token_and_outputs() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    let out = env.gen_rt("acct", &op.issuer, "rt-initial");
    ok(&out);
    assert!(
        out.stdout.is_empty(),
        "oidc-gen --rt prints nothing on stdout"
    );
    // The file is ours, 0600, and holds the refresh token encrypted.
    let raw = std::fs::read(env.config_dir().join("acct")).expect("file");
    assert!(raw.starts_with(b"OIDCRS"));
    assert!(
        !String::from_utf8_lossy(&raw).contains("rt-initial"),
        "refresh token stored in clear"
    );
    // Confidential client: HTTP Basic, no secret in the body.
    let call = op.calls().pop().expect("a token call");
    assert!(
        call.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
    assert!(call.form("client_secret").is_none());

    let tok = ok(&env.run("oidc-token", &["acct"]));
    assert!(
        tok.starts_with("at-") && tok.ends_with('\n') && tok.lines().count() == 1,
        "{tok:?}"
    );
    let by_iss = ok(&env.run("oidc-token", &[op.issuer.trim_end_matches('/')]));
    assert_eq!(by_iss, tok);
    let env_out = ok(&env.run("oidc-token", &["-c", "acct"]));
    assert!(env_out.starts_with(&format!(
        "OIDC_AT={}; export OIDC_AT;\nOIDC_ISS={}; export OIDC_ISS;\nOIDC_EXP=",
        tok.trim(),
        op.issuer
    )));
    let header = ok(&env.run("oidc-token", &["--auth-header", "acct"]));
    assert_eq!(header, format!("Authorization: Bearer {}", tok.trim()));
    let issuer_config =
        std::fs::read_to_string(env.config_dir().join("issuer.config")).expect("issuer.config");
    assert_eq!(
        issuer_config,
        format!("{} acct", op.issuer),
        "as oidc-agent 4.x writes it"
    );
    let listed = ok(&env.run("oidc-add", &["-l"]));
    assert_eq!(listed, "acct\n");
}

#[test]
fn exit_codes_and_clean_stdout() {
    let (op, mut env) = provider_and_home();
    // No agent.
    let err = fails(&env.run("oidc-token", &["acct"]), 3);
    assert!(err.contains("oidc-agent"), "{err}");
    env.start_agent(&[]);
    // Unknown account, then configured but not loaded.
    let err = fails(&env.run("oidc-token", &["acct"]), 4);
    assert!(err.contains("oidc-gen acct"), "{err}");
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let err = fails(&env.run("oidc-token", &["acct"]), 4);
    assert!(err.contains("oidc-add acct"), "{err}");
    let err = fails(&env.run("oidc-add", &["-r", "acct"]), 4);
    assert!(
        err.contains("'acct'") && err.contains("oidc-add -a"),
        "{err}"
    );
    ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    // Usage.
    fails(&env.run("oidc-add", &["-r", ""]), 2);
    fails(&env.run("oidc-token", &[]), 2);
    fails(&env.run("oidc-token", &["--bogus", "acct"]), 2);
    // Locked.
    ok(&env.run_lock("-x", "l"));
    let err = fails(&env.run("oidc-token", &["acct"]), 5);
    assert!(err.contains("Agent locked"), "{err}");
    fails(&env.run_lock("-X", "wrong"), 9);
    ok(&env.run_lock("-X", "l"));
    ok(&env.run("oidc-token", &["acct"]));
    // Refresh token revoked: fast, exit 7, says what to run.
    op.revoke_all();
    let err = fails(&env.run("oidc-token", &["-f", "acct"]), 7);
    assert!(err.contains("oidc-gen --reauthenticate acct"), "{err}");
    // Provider down: exit 6; a cached token is still served.
    let op2 = FakeOp::start();
    ok(&env.gen_rt("second", &op2.issuer, "rt-initial"));
    op2.stop();
    ok(&env.run("oidc-token", &["second"]));
    let err = fails(&env.run("oidc-token", &["-f", "second"]), 6);
    assert!(err.contains("cannot reach"), "{err}");
}

#[test]
fn wrong_password_and_corrupt_file() {
    let (op, env) = agent_with_account();
    let path = env.config_dir().join("acct");
    let before = std::fs::read(&path).expect("read");
    let err = fails(&env.add_with_password("acct", "nope"), 9);
    assert!(err.contains("wrong password"), "{err}");
    // A flipped salt byte reads as a wrong password (the AEAD cannot tell
    // them apart): the message names both.
    let mut bad = before.clone();
    bad[24] ^= 0x01;
    std::fs::write(&path, &bad).expect("damage the header");
    let err = fails(&env.run("oidc-add", &["-f", "--pw-env", "acct"]), 9);
    assert!(err.contains("header is damaged"), "{err}");
    let mut bad = before.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(&path, &bad).expect("corrupt");
    let err = fails(&env.run("oidc-add", &["-f", "--pw-env", "acct"]), 10);
    assert!(err.contains("acct"), "{err}");
    std::fs::write(&path, &before[..50]).expect("truncate");
    fails(&env.run("oidc-add", &["-f", "--pw-env", "acct"]), 10);
    // A misspelt account is "not configured", as oidc-token says.
    fails(&env.run("oidc-add", &["--pw-env", "missing"]), 4);
    // No password source and no terminal: a clear error, not a hang.
    std::fs::write(&path, &before).expect("restore");
    let out = env
        .cmd("oidc-add")
        .args(["-f", "acct"])
        .env_remove("OIDC_ENCRYPTION_PW")
        .output()
        .expect("add");
    assert!(stderr(&out).contains("--pw-env"), "{}", stderr(&out));
    // Creating over an existing account is refused and leaves it alone.
    let err = fails(&env.gen_rt("acct", &op.issuer, "rt-initial"), 1);
    assert!(err.contains("--reauthenticate"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn cache_rules() {
    let (op, env) = agent_with_account();
    let base = op.refreshes();
    let a = ok(&env.run("oidc-token", &["acct"]));
    let b = ok(&env.run("oidc-token", &["-t", "200", "acct"]));
    assert_eq!(a, b);
    assert_eq!(op.refreshes(), base, "cached tokens make no provider call");
    // More validity than the token has left: a new token.
    env.advance_clock(50);
    let c = ok(&env.run("oidc-token", &["-t", "280", "acct"]));
    assert_ne!(c, b);
    // More than the provider's tokens live (300 s): the cached one, while
    // more than half its life is left (clock.rs), said, not silent.
    let out = env.run("oidc-token", &["-t", "400", "acct"]);
    assert_eq!(ok(&out), c);
    assert!(
        stderr(&out).contains("less than the 400 s asked for"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&env.run("oidc-token", &["-t", "200", "acct"])), "");
    assert_eq!(op.refreshes(), base + 1);
    // -f always refreshes.
    let d = ok(&env.run("oidc-token", &["-f", "acct"]));
    assert_ne!(d, c);
    assert_eq!(op.refreshes(), base + 2);
    // Scoped tokens are cached under their own key, in either order.
    let s1 = ok(&env.run("oidc-token", &["-s", "openid profile", "acct"]));
    let s2 = ok(&env.run("oidc-token", &["-s", "profile", "-s", "openid", "acct"]));
    assert_eq!(s1, s2);
    assert_eq!(op.refreshes(), base + 3);
    assert_eq!(
        op.calls().last().expect("call").form("scope").as_deref(),
        Some("openid profile")
    );
    assert_eq!(
        ok(&env.run("oidc-token", &["acct"])),
        d,
        "the default token is untouched by scoped ones"
    );
    // Audience is sent and keyed too.
    ok(&env.run("oidc-token", &["--aud", "https://api", "acct"]));
    assert_eq!(
        op.calls().last().expect("call").form("audience").as_deref(),
        Some("https://api")
    );
    assert_eq!(op.refreshes(), base + 4);
}

#[test]
fn without_expires_in_jwt_exp_or_no_cache() {
    let (op, env) = agent_with_account_where(|c| c.expires_in = None);
    let base = op.refreshes();
    let a = ok(&env.run("oidc-token", &["acct"]));
    let b = ok(&env.run("oidc-token", &["acct"]));
    assert_ne!(
        a, b,
        "an opaque token of unknown lifetime is never served from cache"
    );
    assert_eq!(op.refreshes(), base + 2);
    assert_eq!(ok(&env.run("oidc-token", &["-e", "acct"])), "0\n");
    op.set(|c| c.jwt_access_tokens = true);
    let c = ok(&env.run("oidc-token", &["-f", "acct"]));
    let d = ok(&env.run("oidc-token", &["-t", "60", "acct"]));
    assert_eq!(c, d, "a JWT's exp claim makes the token cacheable");
}

#[test]
fn concurrent_requests_share_one_refresh() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    // The one refresh is held at the provider until all 12 forced requests
    // wait on it in the agent (its status counts them).
    let held = op.hold_next_refresh();
    let base = op.refreshes();
    let children: Vec<_> = (0..12)
        .map(|_| {
            env.cmd("oidc-token")
                .args(["-f", "acct"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    held.arrived();
    env.wait_status("12 requests wait on the refresh", |s| {
        s["accounts"][0]["refresh_waiters"].as_u64() == Some(12)
    });
    held.release();
    let outs: Vec<String> = children
        .into_iter()
        .map(|c| ok(&c.wait_with_output().expect("wait")))
        .collect();
    assert!(
        outs.iter().all(|o| o == &outs[0]),
        "all waiters got the one refreshed token: {outs:?}"
    );
    assert_eq!(
        op.refreshes(),
        base + 1,
        "12 concurrent forced requests reached the provider once"
    );
}

#[test]
fn rotation_is_saved_to_disk() {
    let (op, mut env) = agent_with_account_where(|c| c.rotate = true);
    // oidc-gen's check and the agent's load each rotated once.
    let on_disk = decrypt_rt(&env, "acct");
    assert!(
        op.valid_rts().contains(&on_disk),
        "file has {on_disk}, provider accepts {:?}",
        op.valid_rts()
    );
    for _ in 0..5 {
        ok(&env.run("oidc-token", &["-f", "acct"]));
    }
    let on_disk = decrypt_rt(&env, "acct");
    assert_eq!(
        op.valid_rts().into_iter().collect::<Vec<_>>(),
        vec![on_disk.clone()]
    );
    assert_ne!(on_disk, "rt-initial");
    // A new agent loads the file and keeps working.
    env.restart_agent_and_refresh("acct");
    assert_eq!(
        op.valid_rts().into_iter().collect::<Vec<_>>(),
        vec![decrypt_rt(&env, "acct")]
    );
    // Concurrent refreshes with different scopes never reuse a rotated token.
    let children: Vec<_> = ["openid", "profile", "email", "openid profile"]
        .iter()
        .map(|s| {
            env.cmd("oidc-token")
                .args(["-f", "-s", s, "acct"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        ok(&c.wait_with_output().expect("wait"));
    }
    assert_eq!(
        op.valid_rts().into_iter().collect::<Vec<_>>(),
        vec![decrypt_rt(&env, "acct")]
    );
}

#[test]
fn gen_management() {
    let (op, env) = provider_and_home();
    // No agent: oidc-gen still saves, and says how to load later.
    let out = env.gen_rt("acct", &op.issuer, "rt-initial");
    assert!(
        stderr(
            &ok(&out)
                .is_empty()
                .then_some(out.clone())
                .expect("quiet stdout")
        )
        .contains("oidc-add acct")
    );
    let printed = ok(&env.run("oidc-gen", &["-p", "--pw-env", "acct"]));
    let v: serde_json::Value = serde_json::from_str(&printed).expect("json");
    assert_eq!(v["refresh_token"], "rt-initial");
    // oidc-add -p decrypts too (oidc-agent's does): the JSON on one line.
    let printed = ok(&env.run("oidc-add", &["-p", "--pw-env", "acct"]));
    assert_eq!(printed.lines().count(), 1, "{printed}");
    let w: serde_json::Value = serde_json::from_str(&printed).expect("json");
    assert_eq!(w, v);
    assert_eq!(v["issuer_url"], op.issuer.as_str());
    ok(&env.run("oidc-gen", &["--rename", "renamed", "--pw-env", "acct"]));
    assert_eq!(ok(&env.run("oidc-gen", &["-l"])), "renamed\n");
    // Delete needs confirmation; without a terminal it is refused.
    let err = fails(&env.run("oidc-gen", &["-d", "renamed"]), 2);
    assert!(err.contains("--confirm-yes"), "{err}");
    // Deleting revokes the refresh token first, which needs the password.
    let deleted = env.run("oidc-gen", &["-d", "-y", "--pw-env", "renamed"]);
    ok(&deleted);
    // A password given, no keyring in use: no note about one.
    assert!(
        !stderr(&deleted).contains("keyring"),
        "{}",
        stderr(&deleted)
    );
    assert_eq!(op.revoked(), vec!["rt-initial".to_owned()]);
    assert_eq!(ok(&env.run("oidc-gen", &["-l"])), "");
    // A dead refresh token is refused at import and nothing is saved.
    // The account does not exist yet, so not --reauthenticate.
    let err = fails(&env.gen_rt("dead", &op.issuer, "rt-unknown"), 7);
    assert!(err.contains("new account 'dead'"), "{err}");
    assert!(!env.config_dir().join("dead").exists());
    // Issuer mismatch is refused.
    let wrong = op.issuer.replace("127.0.0.1", "localhost");
    let err = fails(&env.gen_rt("x", &wrong, "rt-initial"), 8);
    assert!(err.contains("issuer mismatch"), "{err}");
}

#[test]
fn issuer_requests_pick_the_default_account() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    ok(&env.gen_rt("first", &op.issuer, "rt-initial"));
    ok(&env.gen_rt("second", &op.issuer, "rt-initial"));
    // issuer.config names the first account created for the issuer.
    let first = ok(&env.run("oidc-token", &["first"]));
    let second = ok(&env.run("oidc-token", &["second"]));
    assert_ne!(first, second);
    assert_eq!(ok(&env.run("oidc-token", &[&op.issuer])), first);
    // Without a default loaded, the account loaded last wins (oidc-agent's rule).
    ok(&env.run("oidc-add", &["-r", "first"]));
    assert_eq!(ok(&env.run("oidc-token", &[&op.issuer])), second);
    let err = fails(&env.run("oidc-token", &["https://unknown.example/"]), 4);
    assert!(
        err.contains("oidc-gen --issuer https://unknown.example/ NAME"),
        "{err}"
    );
    // oidc-agent 5.2's `oidc-add ISSUER` loads the issuer's default account.
    let loaded = ok(&env.run("oidc-add", &["--pw-env", &op.issuer]));
    assert!(loaded.contains("'first'"), "{loaded}");
    let first = ok(&env.run("oidc-token", &["first"]));
    assert_eq!(ok(&env.run("oidc-token", &[&op.issuer])), first);
    let err = fails(
        &env.run("oidc-add", &["--pw-env", "https://unknown.example/"]),
        4,
    );
    assert!(err.contains("no default account"), "{err}");
    assert_eq!(
        ok(&env.run("oidc-add", &["--list-issuers"])),
        format!("{}\n", op.issuer)
    );
    // A damaged issuer.config is named, not taken for an empty one.
    let issuers = env.config_dir().join("issuer.config");
    std::fs::write(&issuers, b"[{\"issuer\": ").expect("damage");
    let err = fails(&env.run("oidc-add", &["--list-issuers"]), 1);
    assert!(err.contains("issuer.config"), "{err}");
    ok(&env.run("oidc-add", &["-R"]));
    let err = fails(&env.run("oidc-token", &[&op.issuer]), 4);
    assert!(err.contains("issuer.config"), "{err}");
    assert_eq!(
        std::fs::read(&issuers).expect("read"),
        b"[{\"issuer\": ",
        "kept"
    );
}

#[test]
fn password_sources_and_id_token() {
    let (op, env) = agent_with_account();
    ok(&env.run("oidc-add", &["-R"]));
    let pw_file = env.dir.path().join("pw.txt");
    std::fs::write(&pw_file, format!("{PASSWORD}\nsecond line is ignored\n")).expect("write");
    ok(&env
        .cmd("oidc-add")
        .args(["--pw-file"])
        .arg(&pw_file)
        .arg("acct")
        .env_remove("OIDC_ENCRYPTION_PW")
        .output()
        .expect("run"));
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let cmd = format!("printf '%s\\n' '{PASSWORD}'");
    ok(&env
        .cmd("oidc-add")
        .args(["--pw-cmd", &cmd, "acct"])
        .env_remove("OIDC_ENCRYPTION_PW")
        .output()
        .expect("run"));
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let failing = env
        .cmd("oidc-add")
        .args(["--pw-cmd", "exit 3", "acct"])
        .output()
        .expect("run");
    // A password command that fails is a failure at run time, not a usage error.
    assert!(fails(&failing, 1).contains("--pw-cmd"));
    ok(&env.run_with("oidc-add", &["--pw-env=MYPW", "acct"], "MYPW", PASSWORD));
    // ID token, and the --all form.
    let id = ok(&env.run("oidc-token", &["--id-token", "acct"]));
    assert!(id.starts_with("idt-"), "{id}");
    // Alone, whatever the output flags, as oidc-agent prints it.
    let alone = ok(&env.run("oidc-token", &["--id-token", "-c", "acct"]));
    assert!(
        alone.starts_with("idt-") && alone.lines().count() == 1,
        "{alone}"
    );
    let all = ok(&env.run("oidc-token", &["-a", "acct"]));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 3, "{all}");
    assert!(lines[0].starts_with("at-"));
    assert_eq!(lines[1], op.issuer);
    assert!(lines[2].parse::<i64>().expect("expires_at") > 0);
}
