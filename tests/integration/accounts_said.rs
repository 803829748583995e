//! What the agent says about its accounts: the log, with times and never a
//! refresh token, and `oidc-add -a --json`, whether each login is good.

use crate::support::*;

/// The log says what happened to each account, with times, and never holds
/// a refresh token.
#[test]
fn the_log_records_lifecycle_events_without_secrets() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let st = env.status();
    let log: Vec<String> = st["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    let all = log.join("\n");
    for event in [
        "'acct': loaded",
        "'acct': refresh token rotated",
        "'acct': saved",
        "'acct': unloaded",
    ] {
        assert!(all.contains(event), "{event} missing from\n{all}");
    }
    for rt in op.calls().iter().filter_map(|c| c.form("refresh_token")) {
        assert!(!all.contains(rt.as_str()), "refresh token in the log");
    }
    let stamp = log[0].split(' ').next().unwrap_or_default();
    assert!(
        stamp.len() >= 20 && stamp.ends_with('Z') && stamp.contains('T'),
        "{stamp}"
    );
    assert!(st["pid"].is_number(), "{st}");
}

/// `oidc-add -a --json` answers "is my login still good?" per account, with
/// times as numbers, and says when the provider refused the refresh token.
#[test]
fn loaded_accounts_as_json_say_whether_the_login_is_good() {
    let (op, env) = agent_with_account();
    ok(&env.run("oidc-add", &["-f", "-t", "3600", "--pw-env", "acct"]));
    ok(&env.run("oidc-token", &["-f", "acct"]));
    let out = ok(&env.run("oidc-add", &["-a", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let a = &v[0];
    assert_eq!(a["name"], "acct", "{v}");
    assert_eq!(a["issuer"], op.issuer.as_str());
    assert_eq!(a["client_id"], "cid");
    for field in [
        "access_token_expires_at",
        "lifetime_ends_at",
        "last_refresh_at",
        "loaded_at",
    ] {
        assert!(a[field].is_i64(), "{field}: {a}");
    }
    assert_eq!(a["needs_reauthentication"], false);
    assert_eq!(a["unsaved"], false);
    op.revoke_all();
    fails(&env.run("oidc-token", &["-f", "acct"]), 7);
    let out = ok(&env.run("oidc-add", &["-a", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["needs_reauthentication"], true, "{v}");
    // Without -a, --json is a usage error.
    fails(&env.run("oidc-add", &["--json"]), 2);
}

/// An account whose issuer is no URL is a bad account when it is added,
/// not a usage error at its first refresh (exit 10, not 2; tester10 F3).
#[test]
fn an_account_whose_issuer_is_no_url_is_a_bad_account() {
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    let v = raw_json(
        &sock,
        r#"{"request":"add","config":{"name":"x","issuer_url":"op.example/","client_id":"c","refresh_token":"rt"}}"#,
    );
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("not an http(s) URL")),
        "{v}"
    );
    assert_eq!(
        v["kind"],
        raw_json(&sock, r#"{"request":"add","config":{"name":"x"}}"#)["kind"]
    );
}

/// The same for an account file: one whose issuer_url is no URL (edited by
/// hand, or written by another program) is a bad account file (exit 10)
/// named with its remedy, though the command line was right; it was a usage
/// error (exit 2) at the load's first refresh (tester10 F3).
#[test]
fn an_account_file_whose_issuer_is_no_url_is_a_bad_file() {
    use oidc_agent::account::format::{self, KdfParams};
    let mut env = Env::new();
    env.start_agent(&[]);
    let json =
        r#"{"name":"acct","issuer_url":"op.example/","client_id":"cid","refresh_token":"rt"}"#;
    let params = KdfParams {
        m_kib: 256,
        t: 2,
        p: 2,
    };
    let (file, _key) =
        format::seal_new(PASSWORD.as_bytes(), json.as_bytes(), params).expect("seal");
    let dir = env.config_dir();
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("acct"), file).expect("write account");
    let err = fails(&env.run("oidc-add", &["--pw-env", "acct"]), 10);
    assert!(
        err.contains("'acct'")
            && err.contains("\"op.example/\", which is not an http(s) URL")
            && err.contains("oidc-gen -d acct"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
