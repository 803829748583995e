//! The per-user well-known socket: found without `OIDC_SOCK` under
//! `$XDG_RUNTIME_DIR`, and ignored when its directory is open to others.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::fake_op::FakeOp;
use crate::support::{Env, fails, ok};

#[test]
fn xdg_runtime_socket_found_without_oidc_sock() {
    let op = FakeOp::start();
    let mut env = Env::new();
    let run_dir = env.dir.path().join("run");
    std::fs::create_dir(&run_dir).expect("mkdir");
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let sock = run_dir.join("oidc-agent").join("agent.sock");
    env.start_agent_at(&sock, &[]);
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    let token = |env: &Env| {
        env.cmd("oidc-token")
            .arg("acct")
            .env_remove("OIDC_SOCK")
            .env("XDG_RUNTIME_DIR", &run_dir)
            .output()
            .expect("run")
    };
    assert!(ok(&token(&env)).starts_with("at-"));
    // A directory others can enter could hold a planted socket: not used.
    std::fs::set_permissions(
        sock.parent().expect("dir"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let err = fails(&token(&env), 3);
    assert!(err.contains("oidc-agent-service use"), "{err}");
}

/// `eval "$(oidc-agent-service use)"` in several shells at once (a terminal
/// restoring its tabs): every one gets the one agent, also those whose own
/// start lost the race.
#[test]
fn use_in_several_shells_at_once_shares_one_agent() {
    let env = Env::new();
    let run_dir = env.dir.path().join("run");
    std::fs::create_dir(&run_dir).expect("mkdir");
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let shells: Vec<_> = (0..4)
        .map(|_| {
            env.cmd("oidc-agent-service")
                .arg("use")
                .env_remove("OIDC_SOCK")
                .env("XDG_RUNTIME_DIR", &run_dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outs: Vec<String> = shells
        .into_iter()
        .map(|c| ok(&c.wait_with_output().expect("wait")))
        .collect();
    let first = outs[0].lines().next().map(str::to_owned);
    assert!(
        first
            .as_deref()
            .is_some_and(|l| l.starts_with("OIDC_SOCK=")),
        "{outs:?}"
    );
    for out in &outs {
        assert_eq!(out.lines().next().map(str::to_owned), first, "{outs:?}");
    }
    ok(&env
        .cmd("oidc-agent-service")
        .arg("stop")
        .env("XDG_RUNTIME_DIR", &run_dir)
        .output()
        .expect("stop"));
}
