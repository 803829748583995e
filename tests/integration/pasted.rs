//! oidc-agent's login finished in a later run: `--no-webserver` prints the
//! URL and keeps the attempt, and `oidc-gen --codeExchange URL` (the address
//! the browser landed on) ends it, for a new account or a re-authentication.

use crate::r#gen::{account, confidential_args, gen_fails, no_violations};
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
