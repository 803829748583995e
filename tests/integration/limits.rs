//! The agent's bounds against a client that misbehaves (a stuck script, a
//! loop gone wrong): it serves at most `MAX_CONNECTIONS` connections at
//! once, and the rest wait their turn instead of taking its file
//! descriptors and memory. And against a provider's answer of any size or
//! an access token no bearer token may be.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;

use crate::support::*;

/// The agent's `MAX_CONNECTIONS`.
const SERVED_AT_ONCE: usize = 512;

/// More connections than that, each an unfinished request, hold every slot
/// until the agent's 10 s read timeout answers them. A request behind them
/// is served only then: when its reply comes, the first of the stuck ones
/// has its "stalled" answer already (without the cap it was served at once,
/// while they all still waited).
#[test]
fn connections_past_the_cap_wait_for_a_slot() {
    let mut env = Env::new();
    env.start_agent(&[]);
    let sock = env.sock.clone().expect("socket");
    let stuck: Vec<UnixStream> = (0..SERVED_AT_ONCE + 8)
        .map(|_| {
            let mut s = UnixStream::connect(&sock).expect("connect");
            s.write_all(b"{").expect("write");
            s
        })
        .collect();
    let mut late = UnixStream::connect(&sock).expect("connect");
    late.write_all(br#"{"request":"status"}"#).expect("write");
    let mut reply = Vec::new();
    late.read_to_end(&mut reply).expect("reply");
    assert!(reply.starts_with(b"{"), "no reply");
    let mut first = &stuck[0];
    first.set_nonblocking(true).expect("nonblocking");
    let mut answered = [0u8; 64];
    let n = first.read(&mut answered).expect(
        "the first stuck connection had no answer yet: the late request was served past the cap",
    );
    assert!(n > 0, "closed without an answer");
}

/// A token endpoint that answers with megabytes (a proxy or a login portal
/// streaming a file): refused with exit 8 and what it was, not read whole
/// into the agent, which held every such byte while all its clients waited.
#[test]
fn an_oversized_provider_answer_is_refused() {
    use crate::support::fake_op::Reply;
    let (op, env) = agent_with_account();
    let huge = format!(r#"{{"access_token":"{}"}}"#, "A".repeat(2 << 20));
    op.push("/token", Reply::raw(200, "application/json", &huge));
    let err = fails(&env.run("oidc-token", &["-f", "acct"]), 8);
    assert!(err.contains("the answer is larger than 1 MiB"), "{err}");
    ok(&env.run("oidc-token", &["-f", "acct"]));
}

/// An access token a bearer token may not be (RFC 6750 §2.1): a newline
/// would be a header or a git credential line of the provider's choosing.
/// Refused with exit 8, as is an empty one; the account goes on with its
/// next refresh. A `;` may be in one, and `oidc-token -c` quotes it.
#[test]
fn an_access_token_no_bearer_token_may_be_is_refused() {
    use crate::support::fake_op::Reply;
    let (op, env) = agent_with_account();
    for (at, said) in [
        ("x\nusername=evil", "white space, control or non-ASCII"),
        ("x y", "white space, control or non-ASCII"),
        ("", "the access token is empty"),
    ] {
        let reply =
            serde_json::json!({"access_token": at, "token_type": "Bearer", "expires_in": 60});
        op.push("/token", Reply::json(200, &reply));
        let err = fails(&env.run("oidc-token", &["-f", "acct"]), 8);
        assert!(err.contains(said), "{err}");
    }
    ok(&env.run("oidc-token", &["-f", "acct"]));
    // The refresh token of such an answer has replaced the one sent: kept,
    // and the next refresh sends it (it was dropped with the answer, and
    // the next refresh replayed the old one).
    op.accept_rt("rt-in-a-bad-answer");
    let reply = serde_json::json!({"access_token": "x y", "token_type": "Bearer",
        "expires_in": 60, "refresh_token": "rt-in-a-bad-answer"});
    op.push("/token", Reply::json(200, &reply));
    fails(&env.run("oidc-token", &["-f", "acct"]), 8);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    let sent = op.calls().pop().expect("a refresh").form("refresh_token");
    assert_eq!(sent.as_deref(), Some("rt-in-a-bad-answer"));
    let reply =
        serde_json::json!({"access_token": "x;id", "token_type": "Bearer", "expires_in": 60});
    op.push("/token", Reply::json(200, &reply));
    let code = ok(&env.run("oidc-token", &["-f", "-c", "acct"]));
    assert!(
        code.starts_with("OIDC_AT='x;id'; export OIDC_AT;"),
        "{code}"
    );
}

/// Started with too few file descriptors to take a connection (`ulimit -n
/// 10`), the agent says so and does not start; it used to start, and every
/// client waited 45 s to be told it may be hung. Under a higher hard limit
/// it raises its own soft one (and leaves the command's as it is).
#[test]
fn too_few_file_descriptors_is_said_at_start() {
    let env = Env::new();
    let run = |limits: &str, then: &str| {
        std::process::Command::new("sh")
            .env("HOME", env.dir.path().join("home"))
            .env("TMPDIR", env.dir.path().join("tmp"))
            .env_remove("XDG_RUNTIME_DIR")
            .arg("-c")
            .arg(format!("{limits}; exec \"$0\" -- sh -c '{then}'"))
            .arg(bin("oidc-agent"))
            .output()
            .expect("run")
    };
    let err = fails(&run("ulimit -n 10", "true"), 1);
    assert!(
        err.contains("only 10 open files are allowed (ulimit -n)"),
        "{err}"
    );
    let soft = r#"grep "open files" /proc/$OIDCD_PID/limits; ulimit -Sn"#;
    let said = ok(&run("ulimit -Sn 20; ulimit -Hn 2048", soft));
    let words: Vec<&str> = said.split_whitespace().collect();
    assert_eq!(
        words,
        ["Max", "open", "files", "2048", "2048", "files", "20"],
        "{said}"
    );
}

/// An agent that takes no connections (stuck, stopped, out of file
/// descriptors) with its queue full hangs no one: `oidc-token` says so
/// after a few seconds (exit 3), and a new `oidc-agent`, which looks at
/// the user's old sockets to clean up dead ones, starts. Both used to wait
/// in `connect` without end.
#[test]
fn a_full_queue_hangs_no_one() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    // Named as an agent's own socket directory, so a new agent probes it.
    let dir = env.dir.path().join("tmp").join("oidc-stuck1");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let sock = dir.join("oidc-agent.1");
    let listener = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    let addr = SocketAddrUnix::new(&sock).expect("addr");
    rustix::net::bind(&listener, &addr).expect("bind");
    rustix::net::listen(&listener, 0).expect("listen");
    let mut queued = Vec::new();
    loop {
        match oidc_agent::client::connect(&sock, std::time::Duration::ZERO) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(queued.len() < 100, "the queue never filled");
    }
    // Old enough to be looked at (a fresh one may be an agent starting).
    let old = rustix::fs::Timespec {
        tv_sec: 1_000_000_000,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: old,
        last_modification: old,
    };
    rustix::fs::utimensat(rustix::fs::CWD, &sock, &times, rustix::fs::AtFlags::empty())
        .expect("age the socket");

    let mut token = env.cmd("oidc-token");
    token.env("OIDC_SOCK", &sock).arg("x");
    let err = fails(&Env::spawn_cmd(token).finish(), 3);
    assert!(err.contains("takes no connections"), "{err}");
    let mut agent = env.cmd("oidc-agent");
    agent.args(["--", "true"]);
    ok(&Env::spawn_cmd(agent).finish());
    assert!(sock.exists(), "a live agent's socket was removed");
}

/// Files a person names or keeps that are not files (a FIFO left by a sync
/// tool, `/dev/zero` mistyped): each is said and nothing waits on it. A
/// FIFO as issuer.config froze the agent (its autoload reads it) and every
/// client; `-f /dev/zero` and `--cp /dev/zero` read until memory ran out.
#[test]
fn what_is_no_file_holds_nothing_up() {
    let (op, env) = agent_with_account();
    let issuers = env.config_dir().join("issuer.config");
    let _ = std::fs::remove_file(&issuers);
    mkfifo(&issuers);
    // As liboidc-agent asks: by an issuer no loaded account has, so the
    // agent looks in issuer.config for one to autoload.
    let sock = env.socket();
    let asked = r#"{"request":"access_token","issuer":"https://other.example/"}"#;
    assert_eq!(raw_json(&sock, asked)["status"], "failure");
    assert_answers(&sock);
    std::fs::remove_file(&issuers).expect("rm fifo");

    let fifo = env.dir.path().join("tmp").join("fifo");
    mkfifo(&fifo);
    for given in [
        vec!["-f", "/dev/zero"],
        vec!["--client-id", "cid", "--cp", "/dev/zero"],
        vec!["--client-id", "cid", "--cp", fifo.to_str().expect("path")],
    ] {
        let mut oidc_gen = env.cmd("oidc-gen");
        oidc_gen
            .args([
                "x",
                "--issuer",
                &op.issuer,
                "--rt",
                "rt-initial",
                "--pw-env",
            ])
            .args(&given);
        let err = stderr(&Env::spawn_cmd(oidc_gen).finish());
        assert!(err.contains("not a regular file"), "{given:?}: {err}");
    }
}

/// More clients than connections are read at once, all waiting on one
/// slow provider's refresh: a request for another account, whose token is
/// cached, is still answered at once (the waiting ones held every place
/// until their answer).
#[test]
fn clients_waiting_on_a_slow_provider_keep_no_one_out() {
    use std::io::Write as _;
    let (op, mut env) = provider_and_home();
    let sock = env.start_agent(&["--request-timeout", "40"]);
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    ok(&env.gen_rt("other", &op.issuer, "rt-initial"));
    let held = op.hold_next_refresh();
    let forced = br#"{"request":"access_token","account":"acct","min_valid_period":-1}"#;
    let waiting: Vec<UnixStream> = (0..SERVED_AT_ONCE + 8)
        .map(|_| {
            let mut s = UnixStream::connect(&sock).expect("connect");
            s.write_all(forced).expect("write");
            s
        })
        .collect();
    held.arrived();
    let mut cached = env.cmd("oidc-token");
    cached.arg("other");
    ok(&Env::spawn_cmd(cached).finish());
    held.release();
    drop(waiting);
}
