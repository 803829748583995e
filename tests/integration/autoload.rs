//! Autoload from our clients' side: oidc-token leaves loading to the
//! `oidc-add` beside it (never the agent's autoload as well), and only
//! oidc-add links the keyring.

use crate::support::*;

/// An account configured but not loaded: the provider and the home.
fn unloaded_account() -> (crate::support::fake_op::FakeOp, Env) {
    let (op, env) = agent_with_account();
    ok(&env.run("oidc-add", &["-r", "acct"]));
    (op, env)
}

/// Autoload is tried by one side: our oidc-token loads a configured
/// account itself and tells the agent not to, so the keyring is not asked
/// twice (by the agent's `oidc-add --pw-keyring`, then by oidc-token); a
/// client of oidc-agent's protocol, which cannot load anything, still gets
/// the agent's autoload.
#[test]
fn autoload_is_tried_once_by_our_oidc_token() {
    let (op, env) = unloaded_account();
    // No keyring and no terminal here: oidc-token cannot load it either.
    let err = fails(&env.run("oidc-token", &["acct"]), 4);
    assert!(
        err.contains("no password for 'acct' in the keyring")
            && err.matches("oidc-add acct").count() == 1,
        "{err}"
    );
    // By issuer (the account is its default): the command names the
    // account, which the agent's words for an issuer cannot.
    let err = fails(&env.run("oidc-token", &[&op.issuer]), 4);
    assert!(
        err.contains("no password for 'acct' in the keyring")
            && err.contains("load it with `oidc-add acct`"),
        "{err}"
    );
    // As oidc-agent 4.2.6's oidc-token asks.
    let reply = raw_json(
        &env.socket(),
        r#"{"request":"access_token","account":"acct","min_valid_period":0}"#,
    );
    assert_failure_reply(&reply, "not loaded");
    // A third event, so everything logged before it has been read.
    ok(&env.gen_rt("marker", &op.issuer, "rt-initial"));
    let log = env.agent_log_until("'marker': loaded");
    let autoloads: Vec<&String> = log.iter().filter(|l| l.contains("autoload")).collect();
    assert_eq!(
        autoloads.len(),
        1,
        "the agent must autoload for the other client only: {autoloads:?}"
    );
}

/// An account configured only where the agent runs (a forwarded agent; not
/// in this client's directory) is left to the agent's autoload: oidc-token
/// asks again without "do not autoload".
#[test]
fn the_agent_autoloads_what_our_oidc_token_cannot_see() {
    let (op, env) = unloaded_account();
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).expect("mkdir");
    let out = env
        .cmd("oidc-token")
        .arg("acct")
        .env("OIDC_CONFIG_DIR", &elsewhere)
        .output()
        .expect("run oidc-token");
    // The agent's autoload has no keyring here either.
    fails(&out, 4);
    ok(&env.gen_rt("marker", &op.issuer, "rt-initial"));
    let log = env.agent_log_until("'marker': loaded");
    let autoloads: Vec<&String> = log.iter().filter(|l| l.contains("autoload")).collect();
    assert_eq!(autoloads.len(), 1, "{autoloads:?}");
}

/// Our clients leave loading to oidc-add: the keyring (libdbus) is linked
/// into oidc-add only, so each oidc-token start binds half the library
/// functions it would otherwise (README "Performance"). The autoload tests
/// above and the e2e suite's keyring and terminal autoloads run the child.
#[test]
fn clients_leave_the_keyring_to_oidc_add() {
    let links_dbus = |tool: &str| {
        let bytes = std::fs::read(bin(tool)).expect("read the binary");
        // std's (optimized) search, not a loop of this unoptimized test.
        String::from_utf8_lossy(&bytes).contains("org.freedesktop.DBus")
    };
    assert!(
        links_dbus("oidc-add"),
        "the check must see libdbus where it is"
    );
    for tool in ["oidc-token", "git-credential-oidc"] {
        assert!(!links_dbus(tool), "{tool} links the keyring again");
    }
}

/// `oidc-agent --no-autoload`: only oidc-add loads accounts, so oidc-token
/// does not try (it would prompt on a terminal) and says why.
#[test]
fn an_agent_started_with_no_autoload_keeps_clients_from_loading() {
    let (_op, mut env) = agent_with_account();
    env.stop_agent();
    env.start_agent(&["--no-autoload"]);
    let err = fails(&env.run("oidc-token", &["acct"]), 4);
    assert!(
        err.contains("started with --no-autoload") && err.matches("oidc-add acct").count() == 1,
        "the command once: {err}"
    );
    assert!(!err.contains("keyring"), "no load was tried: {err}");
    // `--status` shows the options it was started with, as oidc-agent's does.
    let status = ok(&env.run("oidc-agent", &["--status"]));
    assert!(
        status.contains("started with the following options:\n--no-autoload\n"),
        "{status}"
    );
}

/// What `oidc-token` says when there is nothing to load: a name no account
/// can have is a usage error (not "create it with `oidc-gen a/b`", which
/// oidc-gen refuses); an issuer no account is configured for points to
/// oidc-gen, one with a default account names it; `https://` is no issuer.
#[test]
fn nothing_to_load_says_what_to_create() {
    let (op, env) = unloaded_account();
    let err = fails(&env.run("oidc-token", &["a/b"]), 2);
    assert!(
        err.contains("not a valid account short name") && !err.contains("oidc-gen a/b"),
        "{err}"
    );
    let unknown = "https://unknown.example.org";
    let err = fails(&env.run("oidc-token", &[unknown]), 4);
    assert!(
        err.contains(&format!("`oidc-gen --issuer {unknown} NAME`")),
        "{err}"
    );
    let err = fails(&env.run("oidc-token", &["--no-autoload", &op.issuer]), 4);
    assert!(err.contains("`oidc-add acct`"), "{err}");
    let err = fails(&env.run("oidc-token", &["--no-autoload", "https://"]), 2);
    assert!(err.contains("not an issuer URL"), "{err}");
}

/// A client of oidc-agent's protocol asking in a loop for an account the
/// agent cannot autoload (no password in the keyring): one `oidc-add` is
/// started, not one a request, until some seconds have passed (each used
/// to start one and log a line).
#[test]
fn a_failed_autoload_is_not_retried_at_once() {
    let (op, env) = unloaded_account();
    let asked = r#"{"request":"access_token","account":"acct","min_valid_period":0}"#;
    let tried = |marker: &str| {
        assert_failure_reply(&raw_json(&env.socket(), asked), "not loaded");
        assert_failure_reply(&raw_json(&env.socket(), asked), "not loaded");
        // A later event, so everything logged before it has been read.
        ok(&env.gen_rt(marker, &op.issuer, "rt-initial"));
        let log = env.agent_log_until(&format!("'{marker}': loaded"));
        log.iter().filter(|l| l.contains("not autoloaded")).count()
    };
    assert_eq!(tried("m1"), 1);
    env.advance_clock(11);
    assert_eq!(tried("m2"), 1, "tried again once the pause is over");
}
