//! The per-user well-known socket: found without `OIDC_SOCK` under
//! `$XDG_RUNTIME_DIR`, and ignored when its directory is open to others;
//! `oidc-agent-service use` in several shells, `stop` with an unsaved
//! rotation or a stopped agent, and an agent whose socket is gone.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::fake_op::FakeOp;
use crate::support::{
    Env, PROCESS_WAIT, agent_with_account, bin, fails, ok, provider_and_home, stderr,
};

#[test]
fn xdg_runtime_socket_found_without_oidc_sock() {
    let (op, mut env) = provider_and_home();
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
    // The service agent killed, its socket left behind: the remedy is the
    // service's, not a shell's `eval "$(oidc-agent)"` elsewhere.
    std::fs::set_permissions(
        sock.parent().expect("dir"),
        std::fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    env.sigkill_agent();
    let err = fails(&token(&env), 3);
    assert!(
        err.contains("cannot reach the agent")
            && err.contains("start it again with `oidc-agent-service use`")
            && !err.contains("eval"),
        "{err}"
    );
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

/// `oidc-agent-service stop`, as `oidc-agent -k`, refuses while the agent
/// holds a rotated refresh token it could not save (its last write at exit
/// would fail too); once the directory is back, it stops the agent.
#[test]
fn stop_refuses_while_a_rotation_is_unsaved() {
    let (op, env, run_dir, sock) = rotating_service_agent();
    let stop = || service(&env, &run_dir, "stop").output().expect("stop");
    let with_sock =
        |mut cmd: std::process::Command| cmd.env("OIDC_SOCK", &sock).output().expect("run");
    let (dir, away) = (env.config_dir(), env.dir.path().join("accounts.away"));
    std::fs::rename(&dir, &away).expect("move dir");
    std::fs::write(&dir, "not a directory").expect("block");
    let mut token = env.cmd("oidc-token");
    token.args(["-f", "acct"]);
    ok(&with_sock(token));

    let err = fails(&stop(), 1);
    assert!(
        err.contains("not stopped") && err.contains("'acct'"),
        "{err}"
    );
    assert!(
        std::os::unix::net::UnixStream::connect(&sock).is_ok(),
        "the agent was stopped"
    );
    std::fs::remove_file(&dir).expect("unblock");
    std::fs::rename(&away, &dir).expect("restore");
    // The unload writes the pending rotation first (or refuses).
    let mut unload = env.cmd("oidc-add");
    unload.args(["-r", "acct"]);
    ok(&with_sock(unload));
    ok(&stop());
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let saved = oidc_agent::account::open(&store, "acct", &crate::support::PASSWORD.into())
        .expect("the file");
    assert!(op.valid_rts().contains(saved.config.refresh_token.expose()));
}

/// `stop` while the agent waits for a slow provider's refresh answer: past
/// its first 10 s it says so and goes on waiting (the agent exits once it
/// has saved the rotation), instead of failing with the agent still there.
/// The 10 s are the program's own deadline, waited out once here.
#[test]
fn stop_waits_for_a_refresh_under_way() {
    let (op, env, run_dir, sock) = rotating_service_agent();
    let held = op.hold_next_refresh();
    let mut token = env.cmd("oidc-token");
    token.args(["-f", "acct"]).env("OIDC_SOCK", &sock);
    let _token = Env::spawn_cmd(token);
    held.arrived();
    let mut stop = Env::spawn_cmd(service(&env, &run_dir, "stop"));
    stop.wait_line("the note that stop goes on waiting", |l| {
        l.contains("still finishing a refresh")
    });
    held.release();
    ok(&stop.finish());
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let saved = oidc_agent::account::open(&store, "acct", &crate::support::PASSWORD.into())
        .expect("the file");
    let valid: Vec<String> = op.valid_rts().into_iter().collect();
    assert_eq!(valid, [saved.config.refresh_token.expose().to_owned()]);
}

/// A stopped agent (a suspended job, SIGSTOP) can neither answer nor
/// exit: `stop` and `oidc-agent -k` say so at once, with the remedy, and
/// keep the pid file, instead of waiting minutes for a refresh that is not
/// under way (tester7 F1).
#[test]
fn a_stopped_agent_is_said_at_once() {
    let (_op, env, run_dir, sock) = rotating_service_agent();
    let mut status = env.cmd("oidc-agent");
    status.args(["--status", "--json"]).env("OIDC_SOCK", &sock);
    let status: serde_json::Value =
        serde_json::from_str(&ok(&status.output().expect("status"))).expect("json");
    let pid = status["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .expect("pid");
    let target = rustix::process::Pid::from_raw(pid).expect("pid");
    rustix::process::kill_process(target, rustix::process::Signal::STOP).expect("SIGSTOP");
    let err = fails(&service(&env, &run_dir, "stop").output().expect("stop"), 1);
    assert!(
        err.contains("is stopped") && err.contains(&format!("kill -CONT {pid}")),
        "{err}"
    );
    let err = fails(&env.kill_agent(pid.to_string()), 1);
    assert!(err.contains("is stopped"), "{err}");
    rustix::process::kill_process(target, rustix::process::Signal::CONT).expect("SIGCONT");
    ok(&service(&env, &run_dir, "stop").output().expect("stop"));
    assert!(
        std::os::unix::net::UnixStream::connect(&sock).is_err(),
        "the agent still serves"
    );
}

/// `oidc-agent-service ACTION` with `run_dir` as `XDG_RUNTIME_DIR`.
fn service(env: &Env, run_dir: &std::path::Path, action: &str) -> std::process::Command {
    let mut cmd = env.cmd("oidc-agent-service");
    cmd.arg(action)
        .env_remove("OIDC_SOCK")
        .env("XDG_RUNTIME_DIR", run_dir);
    cmd
}

/// A service agent (`oidc-agent-service use`) holding account `acct` of a
/// provider that rotates: the provider, the environment, the agent's
/// runtime directory and socket.
fn rotating_service_agent() -> (FakeOp, Env, std::path::PathBuf, String) {
    let op = FakeOp::start();
    op.set(|c| c.rotate = true);
    let env = Env::new();
    let run_dir = env.dir.path().join("run");
    std::fs::create_dir(&run_dir).expect("mkdir");
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let vars = ok(&service(&env, &run_dir, "use").output().expect("use"));
    let sock = vars
        .lines()
        .find_map(|l| l.strip_prefix("OIDC_SOCK="))
        .and_then(|v| v.split(';').next())
        .expect("OIDC_SOCK")
        .to_owned();
    let mut gen_cmd = env.gen_rt_cmd("acct", &op.issuer, "rt-initial", "--pw-env");
    ok(&gen_cmd.env("OIDC_SOCK", &sock).output().expect("gen"));
    (op, env, run_dir, sock)
}

/// `eval "$(oidc-agent)"` where the socket's path has a space (a TMPDIR of
/// "My Files", say): the shell code quotes it, so OIDC_SOCK names the
/// agent (it was split at the space, leaving an agent no one reached).
#[test]
fn eval_output_quotes_a_path_with_a_space() {
    let env = Env::new();
    let tmp = env.dir.path().join("tmp").join("My Files");
    std::fs::create_dir(&tmp).expect("mkdir");
    let script = format!(
        r#"eval "$({agent})" >/dev/null && {add} -a; {agent} -k >/dev/null"#,
        agent = bin("oidc-agent").display(),
        add = bin("oidc-add").display()
    );
    let out = std::process::Command::new("sh")
        .env("HOME", env.dir.path().join("home"))
        .env("TMPDIR", &tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("OIDC_SOCK")
        .args(["-c", &script])
        .output()
        .expect("sh");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// An agent whose socket was removed (its runtime directory emptied at
/// logout) and bound again by another program can no longer be reached,
/// asked or stopped: it stops by itself within 10 s (the check's own
/// interval, waited out here), saving what it must, and leaves the new
/// socket alone. It went on refreshing beside the agent that replaced it
/// (tester7 F12).
#[test]
fn an_agent_whose_socket_is_gone_stops() {
    let (_op, env) = agent_with_account();
    let sock = env.socket();
    std::fs::remove_file(&sock).expect("remove the socket");
    let _other = std::os::unix::net::UnixListener::bind(&sock).expect("another socket there");
    env.wait_agent_log("its socket was removed or replaced");
    let pid = env
        .agent_pid()
        .and_then(|p| i32::try_from(p).ok())
        .expect("agent");
    let pid = rustix::process::Pid::from_raw(pid).expect("pid");
    assert!(
        oidc_agent::process::wait_exit(pid, PROCESS_WAIT).expect("pidfd"),
        "the agent still runs"
    );
    assert!(
        sock.exists(),
        "the agent removed the socket that replaced its own"
    );
}
