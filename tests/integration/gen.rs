//! oidc-gen's interactive flows end to end: the real binary against the fake
//! provider, a scripted browser following the printed URL, and the real
//! agent serving the resulting account. Client authentication and PKCE are
//! checked by the provider, which records every violation.

use crate::support::browser;
use crate::support::fake_op::{CONF_CLIENT, CONF_SECRET, DEVICE_GRANT, FakeOp, PUBLIC_CLIENT};
use crate::support::*;

pub(crate) fn account(env: &Env, name: &str) -> oidc_agent::account::config::AccountConfig {
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    oidc_agent::account::open(&store, name, &PASSWORD.into())
        .expect("decrypt account file")
        .config
}

/// `oidc-gen NAME --issuer ISS --flow FLOW --no-url-call --pw-env` plus `extra`.
pub(crate) fn gen_args<'a>(
    name: &'a str,
    issuer: &'a str,
    flow: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        name,
        "--issuer",
        issuer,
        "--flow",
        flow,
        "--no-url-call",
        "--pw-env",
    ];
    args.extend_from_slice(extra);
    args
}

/// [`gen_args`] for the provider's public client.
pub(crate) fn public_args<'a>(name: &'a str, issuer: &'a str, flow: &'a str) -> Vec<&'a str> {
    gen_args(name, issuer, flow, &["--client-id", PUBLIC_CLIENT, "--pub"])
}

/// [`gen_args`] for the provider's confidential client.
pub(crate) fn confidential_args<'a>(name: &'a str, issuer: &'a str, flow: &'a str) -> Vec<&'a str> {
    gen_args(
        name,
        issuer,
        flow,
        &["--client-id", CONF_CLIENT, "--client-secret", CONF_SECRET],
    )
}

/// An URL's query parameters.
pub(crate) fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Runs oidc-gen, asserts that it fails with `code`; returns its stderr.
#[track_caller]
pub(crate) fn gen_fails(env: &Env, args: &[&str], code: i32) -> String {
    fails(&env.run("oidc-gen", args), code)
}

#[track_caller]
pub(crate) fn no_violations(op: &FakeOp) {
    assert!(op.violations().is_empty(), "{:?}", op.violations());
}

#[test]
fn code_flow_public_client_with_pkce_then_token() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    let mut oidc_gen = env.spawn("oidc-gen", &public_args("pub", &op.issuer, "code"));
    let url = oidc_gen.auth_url();
    let q = query(&url);
    assert_eq!(q["client_id"], PUBLIC_CLIENT);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"), "{q:?}");
    assert_eq!(q["prompt"], "consent");
    let page = browser::login(&url);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("close this tab"), "{}", page.body);
    let out = oidc_gen.finish();
    assert!(ok(&out).is_empty(), "stdout stays clean");
    assert!(
        stderr(&out).contains("loaded into the agent"),
        "{}",
        stderr(&out)
    );
    no_violations(&op);
    assert_eq!(op.pkce_verified(), 1);
    let exchange = op
        .grants("authorization_code")
        .pop()
        .expect("code exchange");
    assert_eq!(
        exchange.header("authorization"),
        None,
        "public client: no Basic"
    );
    assert!(exchange.form("client_secret").is_none());
    assert_eq!(
        exchange.form("client_id").expect("client_id"),
        PUBLIC_CLIENT
    );
    let config = account(&env, "pub");
    assert!(config.refresh_token.expose().starts_with("rt-code-"));
    assert!(config.client_secret.is_empty());
    let tok = ok(&env.run("oidc-token", &["pub"]));
    assert!(
        tok.starts_with("at-") && tok.lines().count() == 1,
        "{tok:?}"
    );
    no_violations(&op);
}

#[test]
fn code_flow_confidential_client_uses_basic() {
    let (op, env) = provider_and_home();
    let mut cmd = env.cmd("oidc-gen");
    cmd.args(confidential_args("conf", &op.issuer, "code"))
        .arg("--scope=profile")
        .env("SSH_CONNECTION", "10.0.0.1 50000 10.0.0.2 22");
    let mut oidc_gen = Env::spawn_cmd(cmd);
    let page = browser::login(&oidc_gen.auth_url());
    assert_eq!(page.status, 200, "{page:?}");
    let out = oidc_gen.finish();
    ok(&out);
    // Over SSH without a display, oidc-gen says how to tunnel the port.
    let redirect = op.auth_requests()[0]["redirect_uri"].clone();
    // `--scope` gets openid and offline_access, as oidc-agent's oidc-gen adds them.
    assert_eq!(
        op.auth_requests()[0]["scope"],
        "profile openid offline_access"
    );
    let port = redirect.rsplit(':').next().expect("port");
    assert!(
        stderr(&out).contains(&format!("ssh -L {port}:127.0.0.1:{port} ")),
        "{}",
        stderr(&out)
    );
    no_violations(&op);
    let exchange = op
        .grants("authorization_code")
        .pop()
        .expect("code exchange");
    assert!(
        exchange
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
    assert!(exchange.form("client_secret").is_none());
    let config = account(&env, "conf");
    assert_eq!(config.client_secret.expose(), CONF_SECRET);
    assert!(config.refresh_token.expose().starts_with("rt-code-"));
}

#[test]
fn device_flow_then_reauthenticate_with_code() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    // Without a display the default flow is the device flow.
    let mut oidc_gen = env.spawn(
        "oidc-gen",
        &[
            "dev",
            "--issuer",
            &op.issuer,
            "--client-id",
            PUBLIC_CLIENT,
            "--pub",
            "--pw-env",
        ],
    );
    let line = oidc_gen.wait_line("user code", |l| l.contains("WDJB-"));
    assert!(line.contains("/device-ui"), "{line}");
    let out = oidc_gen.finish();
    ok(&out);
    assert!(out.stdout.is_empty());
    // Pending once, then tokens; no QR code when stderr is not a terminal.
    assert_eq!(op.grants(DEVICE_GRANT).len(), 2);
    assert!(!stderr(&out).contains('\u{2588}'), "{}", stderr(&out));
    no_violations(&op);
    let before = account(&env, "dev");
    assert!(before.refresh_token.expose().starts_with("rt-device-"));
    ok(&env.run("oidc-token", &["dev"]));

    // --reauthenticate keeps the client and replaces only the refresh token.
    let mut oidc_gen = env.spawn(
        "oidc-gen",
        &[
            "--reauthenticate",
            "dev",
            "--flow",
            "code",
            "--no-url-call",
            "--pw-env",
        ],
    );
    assert_eq!(browser::login(&oidc_gen.auth_url()).status, 200);
    ok(&oidc_gen.finish());
    let after = account(&env, "dev");
    assert!(after.refresh_token.expose().starts_with("rt-code-"));
    assert_eq!(after.client_id, PUBLIC_CLIENT);
    assert_eq!(after.scope, before.scope);
    no_violations(&op);
}

#[test]
fn dynamic_registration_then_token_and_delete() {
    let op = FakeOp::start();
    op.set(|c| c.registration_token = Some("initial-at".into()));
    let mut env = Env::new();
    env.start_agent(&[]);
    let mut oidc_gen = env.spawn(
        "oidc-gen",
        &gen_args("dyn", &op.issuer, "code", &["--at", "initial-at"]),
    );
    let url = oidc_gen.auth_url();
    assert_eq!(browser::login(&url).status, 200);
    let out = oidc_gen.finish();
    ok(&out);
    let (body, auth) = op.registrations().pop().expect("a registration");
    assert_eq!(auth.as_deref(), Some("Bearer initial-at"));
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().expect("string").to_owned())
            .collect()
    };
    let redirects = strings(&body["redirect_uris"]);
    assert!(
        redirects.contains(&"http://127.0.0.1".to_owned()),
        "{redirects:?}"
    );
    assert!(
        redirects.contains(&"http://localhost".to_owned()),
        "{redirects:?}"
    );
    let grants = strings(&body["grant_types"]);
    for g in ["authorization_code", "refresh_token", DEVICE_GRANT] {
        assert!(grants.contains(&g.to_owned()), "{grants:?}");
    }
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert!(
        body["client_name"]
            .as_str()
            .is_some_and(|n| n.starts_with("oidc-agent:dyn-")),
        "{body}"
    );
    let config = account(&env, "dyn");
    assert!(config.client_id.starts_with("dyn-"));
    assert_eq!(query(&url)["client_id"], config.client_id);
    assert!(!config.client_secret.is_empty());
    assert!(config.registration_access_token.is_some());
    assert!(config.extra["registration_client_uri"].is_string());
    let exchange = op.grants("authorization_code").pop().expect("exchange");
    assert!(
        exchange.header("authorization").is_some(),
        "registered confidential client uses Basic"
    );
    ok(&env.run("oidc-token", &["dyn"]));

    // -d revokes the refresh token and deletes the registered client.
    let rt = config.refresh_token.expose().to_owned();
    let out = env.run("oidc-gen", &["-d", "-y", "--pw-env", "dyn"]);
    ok(&out);
    assert!(op.revoked().contains(&rt), "{:?}", op.revoked());
    assert_eq!(op.deleted_clients(), vec![config.client_id.clone()]);
    assert!(!env.config_dir().join("dyn").exists());
    no_violations(&op);

    // A registration with --cnid and --only-at: one token on stdout,
    // nothing saved, and the throwaway client deleted again. As oidc-agent
    // documents it, with no account name (`--only-at` where the name goes).
    let mut oidc_gen = env.spawn(
        "oidc-gen",
        &gen_args(
            "--only-at",
            &op.issuer,
            "code",
            &["--at", "initial-at", "--cnid", "my-laptop"],
        ),
    );
    let url = oidc_gen.auth_url();
    assert!(
        !query(&url).contains_key("prompt"),
        "--only-at asks for no consent"
    );
    assert_eq!(browser::login(&url).status, 200);
    let printed = ok(&oidc_gen.finish());
    assert!(
        printed.starts_with("at-") && printed.lines().count() == 1,
        "{printed:?}"
    );
    let (body, _) = op.registrations().pop().expect("registration");
    assert_eq!(body["client_name"], "my-laptop");
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(op.deleted_clients().len(), 2);
    assert!(!env.config_dir().join("once").exists());
    no_violations(&op);
}

#[test]
fn registration_needs_the_access_token() {
    let op = FakeOp::start();
    op.set(|c| c.registration_token = Some("initial-at".into()));
    let env = Env::new();
    let err = gen_fails(&env, &gen_args("x", &op.issuer, "code", &[]), 8);
    assert!(
        err.contains("registration") && err.contains("--at"),
        "{err}"
    );
}

#[test]
fn denied_consent_is_a_provider_error() {
    let op = FakeOp::start();
    op.set(|c| c.deny_consent = true);
    let env = Env::new();
    let mut oidc_gen = env.spawn("oidc-gen", &public_args("no", &op.issuer, "code"));
    let page = browser::login(&oidc_gen.auth_url());
    assert_eq!(page.status, 400);
    assert!(page.body.contains("access_denied"), "{}", page.body);
    let err = fails(&oidc_gen.finish(), 8);
    assert!(
        err.contains("access_denied") && err.contains("approve"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("oidc-gen:")).count(),
        1
    );
    assert!(!env.config_dir().join("no").exists());
}

#[test]
fn wrong_state_is_ignored_then_the_right_one_completes() {
    let (op, env) = provider_and_home();
    let mut oidc_gen = env.spawn("oidc-gen", &public_args("st", &op.issuer, "code"));
    let url = oidc_gen.auth_url();
    let redirect = query(&url)["redirect_uri"].clone();
    let forged = browser::get(&format!("{redirect}/?code=forged&state=not-yours"));
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("state mismatch"), "{}", forged.body);
    assert_eq!(browser::login(&url).status, 200);
    ok(&oidc_gen.finish());
    assert_eq!(
        op.grants("authorization_code").len(),
        1,
        "forged code never sent"
    );
    no_violations(&op);
}

#[test]
fn port_in_use_exits_2_naming_the_port() {
    let (op, env) = provider_and_home();
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let port = held.local_addr().expect("addr").port().to_string();
    let err = gen_fails(
        &env,
        &gen_args(
            "busy",
            &op.issuer,
            "code",
            &["--client-id", PUBLIC_CLIENT, "--pub", "--port", &port],
        ),
        2,
    );
    assert!(err.contains(&port) && err.contains("--port"), "{err}");
    assert!(op.auth_requests().is_empty());
}

#[test]
fn timeouts_end_cleanly() {
    let op = FakeOp::start();
    op.set(|c| c.device_pending_polls = 100);
    let env = Env::new();
    // The messages name the one-second bound: the flows ended on it, not
    // on the provider's code expiry or a browser that never came.
    for (flow, says) in [("code", "within 1 s"), ("device", "--timeout")] {
        let mut args = public_args("slow", &op.issuer, flow);
        args.extend(["--timeout", "1"]);
        let err = gen_fails(&env, &args, 1);
        assert!(err.contains(says), "{flow}: {err}");
    }
}

#[test]
fn device_denied() {
    let op = FakeOp::start();
    op.set(|c| c.device_deny = true);
    let env = Env::new();
    let args = public_args("d", &op.issuer, "device");
    let err = gen_fails(&env, &args, 8);
    assert!(err.contains("denied"), "{err}");
}

#[test]
fn dae_supplies_a_missing_device_endpoint() {
    let op = FakeOp::start();
    op.set(|c| c.device_discovery = false);
    let env = Env::new();
    let err = gen_fails(&env, &public_args("dae", &op.issuer, "device"), 8);
    assert!(
        err.contains("device authorization endpoint") && err.contains("--dae"),
        "{err}"
    );
    let dae = format!("{}device", op.issuer);
    let mut args = public_args("dae", &op.issuer, "device");
    args.extend(["--dae", &dae]);
    ok(&env.run("oidc-gen", &args));
    assert!(
        account(&env, "dae")
            .refresh_token
            .expose()
            .starts_with("rt-device-")
    );
}

/// The issuer is saved as the provider names itself, whatever the command
/// line's trailing '/': the spelling `oidc-token -i` and `-c` print.
#[test]
fn the_issuer_is_saved_as_the_provider_spells_it() {
    let (op, env) = provider_and_home();
    let typed = op.issuer.trim_end_matches('/');
    assert_ne!(typed, op.issuer, "the fake provider's issuer ends with '/'");
    ok(&env.gen_rt("sl", typed, "rt-initial"));
    assert_eq!(account(&env, "sl").issuer_url, op.issuer);
}
