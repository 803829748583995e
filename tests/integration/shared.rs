//! One account loaded in two agents (two shells' `eval "$(oidc-agent)"`, or
//! a shell's agent beside the service's): with a provider that rotates
//! refresh tokens, each agent refreshes with the token the other saved, so
//! neither replays one the provider has already replaced.

use std::process::Stdio;

use crate::support::*;

#[test]
fn two_agents_with_one_account_take_turns_without_a_replay() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let sock_b = env.dir.path().join("tmp").join("second.sock");
    let mut b = env
        .cmd("oidc-agent")
        .args(["--console", "--socket-path"])
        .arg(&sock_b)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("second agent");
    let in_b = |args: &[&str], name: &str| {
        env.cmd(name)
            .args(args)
            .env("OIDC_SOCK", &sock_b)
            .output()
            .expect("run")
    };
    let deadline = std::time::Instant::now() + PROCESS_WAIT;
    while in_b(&["-a"], "oidc-add").status.code() != Some(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the second agent never served"
        );
    }
    // B's load checks the account with a refresh: rotated, saved to the file.
    ok(&in_b(&["--pw-env", "acct"], "oidc-add"));
    for _ in 0..3 {
        ok(&env.run("oidc-token", &["-f", "acct"]));
        ok(&in_b(&["-f", "acct"], "oidc-token"));
    }
    assert!(op.violations().is_empty(), "{:?}", op.violations());
    assert_eq!(op.valid_rts().len(), 1, "one live token");
    let _ = b.kill();
    let _ = b.wait();
}
