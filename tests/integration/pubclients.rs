//! oidc-agent's preregistered public clients (`pubclients.config`,
//! `issuer.config.d/`): `oidc-gen --pub` without `--client-id` takes the
//! issuer's, with the redirect URIs it was registered with and its scopes
//! for `--scope max`; without `--pub` it is the fallback when dynamic
//! registration fails, as in oidc-agent.

use std::collections::HashMap;

use oidc_agent::account::pubclients::{PUBCLIENTS_CONFIG, REDIRECT_URIS};

use crate::r#gen::{gen_args, gen_fails, query};
use crate::support::fake_op::{FakeOp, PUBLIC_CLIENT};
use crate::support::*;

const CLIENT_SCOPES: &str = "openid offline_access profile";

/// A `pubclients.config` in the account directory with the fake
/// provider's public client, as Debian's oidc-agent lists them.
fn preregister(env: &Env, issuer: &str) {
    std::fs::create_dir_all(env.config_dir()).expect("mkdir");
    std::fs::write(
        env.config_dir().join(PUBCLIENTS_CONFIG),
        format!("# public clients\n{PUBLIC_CLIENT}@{issuer}/@{CLIENT_SCOPES}\n"),
    )
    .expect("write pubclients.config");
}

/// Logs in through the code flow oidc-gen started; returns its stderr and
/// the authorization request's parameters.
fn log_in(mut oidc_gen: Running) -> (String, HashMap<String, String>) {
    let url = oidc_gen.auth_url();
    assert_eq!(browser::login(&url).status, 200);
    (stderr(&oidc_gen.finish()), query(&url))
}

#[test]
fn pub_without_a_client_id_takes_the_preregistered_client() {
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    preregister(&env, &op.issuer);
    let oidc_gen = env.spawn(
        "oidc-gen",
        &gen_args("egi", &op.issuer, "code", &["--pub", "--scope", "max"]),
    );
    let (said, q) = log_in(oidc_gen);
    assert!(
        said.contains(&format!("Using the public client '{PUBLIC_CLIENT}'")),
        "{said}"
    );
    assert_eq!(q["client_id"], PUBLIC_CLIENT);
    assert!(
        REDIRECT_URIS
            .iter()
            .any(|u| q["redirect_uri"].trim_end_matches('/') == *u),
        "not one of the redirect URIs oidc-agent registered: {q:?}"
    );
    let mut asked: Vec<&str> = q["scope"].split(' ').collect();
    asked.sort_unstable();
    let mut max: Vec<&str> = CLIENT_SCOPES.split(' ').collect();
    max.sort_unstable();
    assert_eq!(asked, max, "--scope max is the client's scopes");
    assert!(op.registrations().is_empty(), "a client was registered");
    assert!(ok(&env.run("oidc-token", &["egi"])).starts_with("at-"));
}

/// `--pub` for an issuer no file lists a public client for: refused, as
/// by oidc-agent, instead of registering a client nobody asked for.
#[test]
fn pub_without_a_preregistered_client_registers_nothing() {
    let (op, env) = provider_and_home();
    let err = gen_fails(&env, &gen_args("nopub", &op.issuer, "code", &["--pub"]), 1);
    assert!(
        err.contains("--pub: no preregistered public client for")
            && err.contains("leave out --pub to register a client")
            && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(op.registrations().is_empty(), "a client was registered");
    assert!(!env.config_dir().join("nopub").exists());
}

#[test]
fn a_failed_registration_falls_back_to_the_preregistered_client() {
    let op = FakeOp::start();
    op.set(|c| c.registration = false);
    let mut env = Env::new();
    env.start_agent(&[]);
    preregister(&env, &op.issuer);
    // No registration endpoint: nothing failed, the client is taken as
    // oidc-agent takes it, without a note that asks for --client-id.
    let oidc_gen = env.spawn("oidc-gen", &gen_args("kit", &op.issuer, "code", &[]));
    let (said, q) = log_in(oidc_gen);
    assert!(
        said.contains(&format!("Using the public client '{PUBLIC_CLIENT}'"))
            && !said.contains("note:"),
        "{said}"
    );
    assert_eq!(q["client_id"], PUBLIC_CLIENT);
    assert!(ok(&env.run("oidc-token", &["kit"])).starts_with("at-"));
    // A registration the provider refuses: said, then the fallback.
    op.set(|c| {
        c.registration = true;
        c.registration_token = Some("not-given".into());
    });
    let oidc_gen = env.spawn("oidc-gen", &gen_args("kit2", &op.issuer, "code", &[]));
    let (said, q) = log_in(oidc_gen);
    assert!(
        said.contains("dynamic client registration failed")
            && said.contains("trying a preregistered public client"),
        "{said}"
    );
    assert_eq!(q["client_id"], PUBLIC_CLIENT);

    // No entry for the issuer: one line with what to do, the secret by
    // environment (not on the command line), --pub only to who has not
    // passed it.
    op.set(|c| c.registration = false);
    std::fs::remove_file(env.config_dir().join(PUBCLIENTS_CONFIG)).expect("rm");
    let err = gen_fails(&env, &gen_args("other", &op.issuer, "code", &[]), 8);
    assert!(
        err.contains(
            "has no dynamic client registration; register a client at the provider and pass \
             --client-id ID, with --client-secret-env for a confidential client or --pub for a \
             public one"
        ) && err.trim().lines().count() == 1,
        "{err}"
    );
    let err = gen_fails(&env, &gen_args("other", &op.issuer, "code", &["--pub"]), 1);
    assert!(
        err.contains("--pub: no preregistered public client for")
            && err
                .trim()
                .ends_with("register a client at the provider and pass --client-id ID")
            && !err.contains("or --pub for a public one"),
        "{err}"
    );
    // A 5.x issuer file that says where to register by hand: in that line.
    let d = env.config_dir().join("issuer.config.d");
    std::fs::create_dir(&d).expect("mkdir");
    std::fs::write(
        d.join("op"),
        format!(
            r#"{{"issuer":"{}","register":"https://op.example/register","contact":"op@example"}}"#,
            op.issuer
        ),
    )
    .expect("write");
    let err = gen_fails(&env, &gen_args("other", &op.issuer, "code", &[]), 8);
    assert!(
        err.contains(
            "register a client by hand at https://op.example/register (the provider's contact: \
             op@example) and pass --client-id ID"
        ) && err.trim().lines().count() == 1,
        "{err}"
    );
    // A file written by hand that is no issuer file is named, not passed
    // over in silence (the lookup then goes on without it).
    std::fs::write(
        d.join("mine.json"),
        format!(
            r#"{{"issuer": "{}", "pubclient": {{"client_id": "x",}},}}"#,
            op.issuer
        ),
    )
    .expect("write");
    let err = gen_fails(&env, &gen_args("other", &op.issuer, "code", &[]), 8);
    assert!(
        err.contains(&format!(
            "warning: {} is passed over: not an issuer file",
            d.join("mine.json").display()
        )),
        "{err}"
    );
}
