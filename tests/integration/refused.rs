//! A refresh token the provider refused: the agent answers with the
//! refusal (exit 7 and the command to run) without sending the token again,
//! until a new login reaches the account file or the agent.

use crate::support::*;

#[test]
fn a_refused_token_is_not_sent_again() {
    let (op, env) = agent_with_account();
    op.revoke_all();
    let err = fails(&env.run("oidc-token", &["-f", "acct"]), 7);
    assert!(err.contains("oidc-gen --reauthenticate acct"), "{err}");
    let sent = op.refreshes();
    // Not sent again, and the dead login's cached access token is not
    // served either (a 401 at the service, where exit 7 says what to do).
    for args in [&["-f", "acct"][..], &["acct"]] {
        let err = fails(&env.run("oidc-token", args), 7);
        assert!(err.contains("oidc-gen --reauthenticate acct"), "{err}");
    }
    assert_eq!(op.refreshes(), sent, "the refused token was sent again");

    // A new login in a shell that does not reach the agent: the agent
    // takes it from the file and refreshes with it.
    op.accept_rt("rt-new-login");
    let out = env
        .cmd("oidc-gen")
        .env_remove("OIDC_SOCK")
        .env("OIDC_REFRESH_TOKEN", "rt-new-login")
        .args(["--reauthenticate", "acct", "--rt-env", "--pw-env"])
        .output()
        .expect("run");
    ok(&out);
    ok(&env.run("oidc-token", &["-f", "acct"]));
}

/// The account made anew in a shell that does not reach the agent (deleted
/// and created again: a new data key, which the agent cannot read): the
/// refused account is no longer "already loaded" to `oidc-add NAME`, which
/// loads the new login.
#[test]
fn a_refused_account_made_anew_elsewhere_is_loaded_again() {
    let (op, env) = agent_with_account();
    op.revoke_all();
    fails(&env.run("oidc-token", &["-f", "acct"]), 7);
    env.login_made_elsewhere(&op, "acct", "acct", "rt-made-anew");
    let said = ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    assert_eq!(said.trim(), "Account 'acct' loaded.");
    ok(&env.run("oidc-token", &["-f", "acct"]));
}
