//! oidc-agent's login finished in a later run: `--no-webserver` prints the
//! URL and keeps the attempt, and `oidc-gen --codeExchange URL` (the address
//! the browser landed on) ends it, for a new account or a re-authentication;
//! or hands it to an oidc-gen still waiting on its listener. A pending login
//! replaced, dropped or denied leaves no registered client behind.

use crate::r#gen::{account, confidential_args, gen_args, gen_fails, no_violations};
use crate::support::browser;
use crate::support::*;

#[test]
fn no_webserver_then_code_exchange() {
    use std::os::unix::fs::PermissionsExt as _;
    let (op, env) = provider_and_home();
    let mut oidc_gen = env.spawn(
        "oidc-gen",
        &[
            confidential_args("paste", &op.issuer, "code"),
            vec!["--no-webserver"],
        ]
        .concat(),
    );
    let url = oidc_gen.auth_url();
    let out = oidc_gen.finish();
    // The line to run repeats the password source.
    assert!(
        stderr(&out).contains("--codeExchange '<ADDRESS>' --pw-env"),
        "{}",
        stderr(&out)
    );
    ok(&out);
    let pending = env.config_dir().join(".paste.pending");
    let mode = std::fs::metadata(&pending)
        .expect("pending file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The browser lands on the redirect URI; nothing listens there.
    let landed = browser::authorize(&url);
    // A URL from another attempt is refused and keeps the pending file.
    let wrong = landed.replace("state=", "state=x");
    let err = gen_fails(&env, &["paste", "--codeExchange", &wrong, "--pw-env"], 1);
    assert!(err.contains("state"), "{err}");
    let err = gen_fails(&env, &[&format!("--codeExchange={wrong}"), "--pw-env"], 1);
    assert!(err.contains("no pending login"), "{err}");
    // Without a password source (and no terminal) the code is not spent.
    let no_pw = env
        .cmd("oidc-gen")
        .args(["paste", "--codeExchange", &landed])
        .env_remove("OIDC_ENCRYPTION_PW")
        .output()
        .expect("run");
    let err = fails(&no_pw, 1);
    assert!(err.contains("--pw-env"), "{err}");
    assert!(op.grants("authorization_code").is_empty());
    assert!(pending.exists());
    // oidc-agent's documented form: no name; the state finds the login.
    let exchange = format!("--codeExchange={landed}");
    ok(&env.run("oidc-gen", &[&exchange, "--pw-env"]));
    assert!(!pending.exists(), "pending login deleted after use");
    assert!(
        account(&env, "paste")
            .refresh_token
            .expose()
            .starts_with("rt-code-")
    );
    assert_eq!(op.pkce_verified(), 1);
    no_violations(&op);
}

/// A re-authentication finished by `--codeExchange` in a later run, as
/// the first run prints it (without `--reauthenticate`): the account's
/// file is replaced by the new login (it was refused as "created meanwhile").
#[test]
fn a_reauthentication_is_finished_by_code_exchange() {
    let (op, env) = provider_and_home();
    ok(&env.run(
        "oidc-gen",
        &confidential_args("paste", &op.issuer, "device"),
    ));
    let mut oidc_gen = env.spawn(
        "oidc-gen",
        &[
            "--reauthenticate",
            "paste",
            "--flow",
            "code",
            "--no-webserver",
            "--pw-env",
        ],
    );
    let url = oidc_gen.auth_url();
    ok(&oidc_gen.finish());
    let landed = browser::authorize(&url);
    ok(&env.run(
        "oidc-gen",
        &[&format!("--codeExchange={landed}"), "--pw-env"],
    ));
    assert!(
        account(&env, "paste")
            .refresh_token
            .expose()
            .starts_with("rt-code-")
    );
}

/// Starts a `--no-webserver` login of `name` with a dynamically registered
/// client, left pending (no terminal); returns its stderr and URL.
fn pending_login(env: &Env, issuer: &str, name: &str) -> (String, String) {
    let mut oidc_gen = env.spawn(
        "oidc-gen",
        &gen_args(name, issuer, "code", &["--no-webserver"]),
    );
    let url = oidc_gen.auth_url();
    let out = oidc_gen.finish();
    ok(&out);
    (stderr(&out), url)
}

/// The client id a `Registered client 'ID'` line names.
fn registered(said: &str) -> String {
    said.split("Registered client '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no registration in: {said}"))
        .to_owned()
}

/// A pending login started again, dropped with `oidc-gen -d`, or refused
/// by the provider: its file goes, and so does the client registered for
/// it (each used to stay at the provider, the first one without its
/// registration token, and `-d` said there was no such account).
#[test]
fn a_pending_login_ends_with_its_client() {
    let (op, env) = provider_and_home();
    let pending = env.config_dir().join(".dyn.pending");
    let (said, _) = pending_login(&env, &op.issuer, "dyn");
    let first = registered(&said);
    let (said, _) = pending_login(&env, &op.issuer, "dyn");
    assert!(
        said.contains("the pending login of 'dyn' is dropped (replaced by this login)"),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "Deleted the registered client '{first}' of the pending login (replaced by this login)"
        )),
        "{said}"
    );
    assert_eq!(op.deleted_clients(), vec![first.clone()]);
    let second = registered(&said);

    ok_saying(
        &env.run("oidc-gen", &["-d", "-y", "dyn", "--pw-env"]),
        "Dropped the pending login of 'dyn'.",
    );
    assert!(!pending.exists(), "the pending login stayed");
    assert_eq!(op.deleted_clients(), vec![first.clone(), second.clone()]);

    // A re-authentication pending: one -d ends it with the account.
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    let args = [
        "--reauthenticate",
        "acct",
        "--flow",
        "code",
        "--no-webserver",
        "--pw-env",
    ];
    let mut again = env.spawn("oidc-gen", &args);
    again.auth_url();
    ok(&again.finish());
    ok_saying(
        &env.run("oidc-gen", &["-d", "-y", "acct", "--pw-env"]),
        "Dropped the pending login of 'acct'.",
    );
    assert!(!env.config_dir().join(".acct.pending").exists());
    let before = op.deleted_clients().len();

    let (said, url) = pending_login(&env, &op.issuer, "dyn");
    let third = registered(&said);
    // Given with another name: the login it belongs to is named.
    let landed = browser::authorize(&url);
    let err = gen_fails(&env, &["other", "--codeExchange", &landed, "--pw-env"], 1);
    assert!(
        err.contains("belongs to the pending login of 'dyn', not of 'other'"),
        "{err}"
    );
    op.set(|c| c.deny_consent = true);
    let landed = browser::authorize(&url);
    let err = gen_fails(&env, &[&format!("--codeExchange={landed}"), "--pw-env"], 8);
    assert!(err.contains("access_denied"), "{err}");
    assert!(!pending.exists(), "the denied login stayed pending");
    let deleted = op.deleted_clients();
    assert_eq!(deleted.len(), before + 1, "{deleted:?}");
    assert_eq!(deleted.last(), Some(&third));
    assert_eq!(deleted[..2], [first, second]);
}

/// The login's oidc-gen waits on its loopback listener, which the browser
/// could not reach (over SSH, say): `oidc-gen --codeExchange URL` in
/// another terminal hands it the address, as oidc-agent's docs say to
/// finish such a login, and the waiting oidc-gen saves the account. An
/// argument that is no address says so.
#[test]
fn code_exchange_hands_the_address_to_the_waiting_oidc_gen() {
    let (op, env) = provider_and_home();
    let mut oidc_gen = env.spawn("oidc-gen", &confidential_args("wait", &op.issuer, "code"));
    let url = oidc_gen.auth_url();
    // Where the browser was sent; the test fetches it in its stead.
    let landed = browser::authorize(&url);
    ok_saying(
        &env.run("oidc-gen", &[&format!("--codeExchange={landed}")]),
        "Handed the address to the oidc-gen waiting on port",
    );
    ok(&oidc_gen.finish());
    assert!(
        account(&env, "wait")
            .refresh_token
            .expose()
            .starts_with("rt-code-")
    );
    no_violations(&op);

    let err = gen_fails(&env, &["--codeExchange", "hello"], 2);
    assert!(err.contains("not a valid URL"), "{err}");
    assert_eq!(
        err.matches("relative URL without a base").count(),
        1,
        "{err}"
    );
}

/// No oidc-gen waits, but something else listens at the address's port (a
/// dev server on 8080, where preregistered clients redirect): the address
/// is not handed to it with "it finishes the login there" (the login was
/// lost while oidc-gen said all was well).
#[test]
fn code_exchange_hands_nothing_to_a_server_that_is_no_oidc_gen() {
    let env = Env::new();
    let server = tiny_http::Server::http("127.0.0.1:0").expect("listen");
    let port = server.server_addr().to_ip().expect("ip").port();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let _ = request.respond(tiny_http::Response::from_string("hello"));
        }
    });
    let landed = format!("--codeExchange=http://127.0.0.1:{port}/?code=c&state=s");
    let err = gen_fails(&env, &[&landed, "--pw-env"], 1);
    assert!(err.contains("no oidc-gen waits at its port"), "{err}");
}
