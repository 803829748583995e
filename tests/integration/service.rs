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
