//! The agent's life cycle: eval output, daemonizing, --status, --kill,
//! socket permissions, peer-uid refusal.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::*;

#[test]
fn daemon_prints_eval_lines_and_kill_stops_it() {
    let env = Env::new();
    let out = env.run("oidc-agent", &[]);
    let text = ok(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let sock = lines[0]
        .strip_prefix("OIDC_SOCK=")
        .and_then(|l| l.strip_suffix("; export OIDC_SOCK;"))
        .expect("OIDC_SOCK line");
    let pid = lines[1]
        .strip_prefix("OIDCD_PID=")
        .and_then(|l| l.strip_suffix("; export OIDCD_PID;"))
        .expect("OIDCD_PID line");
    assert_eq!(lines[2], "echo Agent pid $OIDCD_PID");
    // The socket is 0600 in a 0700 directory named like oidc-agent's.
    let sock = std::path::Path::new(sock);
    let dir = sock.parent().expect("dir");
    assert!(
        dir.file_name()
            .expect("name")
            .to_string_lossy()
            .starts_with("oidc-")
    );
    assert_eq!(
        std::fs::metadata(dir).expect("dir").permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(sock).expect("sock").permissions().mode() & 0o777,
        0o600
    );
    // It answers.
    let status = env
        .cmd("oidc-agent")
        .arg("--status")
        .arg("--json")
        .env("OIDC_SOCK", sock)
        .output()
        .expect("status");
    let v: serde_json::Value = serde_json::from_str(&ok(&status)).expect("--status --json is JSON");
    assert_eq!(v["loaded_accounts"], serde_json::json!([]));
    // oidc-agent's type: one string (its oidc-agent-service splits it).
    assert!(v["command_line_options"].is_string(), "{v}");
    // -k kills it and removes the socket and its directory.
    let kill = env.kill_agent(pid);
    assert_eq!(
        ok(&kill),
        format!("unset OIDC_SOCK;\nunset OIDCD_PID;\necho Agent pid {pid} killed;\n")
    );
    // -k returns once the agent has exited (a zombie at most), so that an
    // agent started next reads what this one saved.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    assert!(
        stat.as_ref().map_or(true, |s| s.contains(") Z ")),
        "{stat:?}"
    );
    // The agent removes both before it exits.
    wait_for_exit(pid.parse().expect("pid"));
    assert!(!sock.exists(), "socket left behind");
    assert!(!dir.exists(), "socket directory left behind");
}

/// `-k` signals only an agent: a stale `OIDCD_PID` whose number another
/// program now has, a negative number (a process group for kill(2)), 0,
/// 1 and garbage are refused, and the process lives on.
#[test]
fn kill_signals_only_an_agent() {
    use std::os::unix::process::CommandExt as _;
    let env = Env::new();
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .expect("sleep");
    let pid = other.id().to_string();
    // spawn (posix_spawn) returns once the child has left the parent's
    // memory, a moment before exec gives it its name: wait for the name
    // `-k` reads, or the first case sees the test thread's.
    wait_for_proc(other.id(), "comm", "sleep");
    let group = format!("-{pid}");
    for (var, says) in [
        (pid.as_str(), "is 'sleep', not an oidc-agent"),
        (group.as_str(), "is not an agent's process id"),
        ("0", "is not an agent's process id"),
        ("1", "is not an agent's process id"),
        ("12abc", "is not an agent's process id"),
    ] {
        let kill = env.kill_agent(var);
        let err = fails(&kill, 1);
        assert!(
            err.contains(says) && err.contains("nothing killed"),
            "{var}: {err}"
        );
        assert!(
            other.try_wait().expect("wait").is_none(),
            "OIDCD_PID={var} killed sleep"
        );
    }
    other.kill().expect("kill sleep");
    other.wait().expect("reap sleep");
    // Gone: said, not an error about signals.
    let kill = env.kill_agent(&pid);
    assert!(fails(&kill, 1).contains(&format!("no process {pid}")));
}

/// A `--log-file` or `--pid-file` that cannot be written fails the start
/// (exit 1, one line naming it), and no agent is left running without
/// anyone told where: no socket directory remains.
#[test]
fn an_unwritable_log_or_pid_file_fails_the_start() {
    let env = Env::new();
    let tmp = env.dir.path().join("tmp");
    for (flag, says) in [
        ("--log-file", "cannot open the log file"),
        ("--pid-file", "--pid-file"),
    ] {
        let out = env
            .cmd("oidc-agent")
            .args([flag, "/nonexistent/dir/file"])
            .output()
            .expect("oidc-agent");
        let err = fails(&out, 1);
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{flag}: {err}"
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "",
            "{flag}: no eval lines"
        );
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .expect("tmp")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .filter(|n| n.to_string_lossy().starts_with("oidc-"))
            .collect();
        assert!(left.is_empty(), "{flag}: left behind {left:?}");
    }
    // A FIFO nobody reads fails the same way, at once (the start hung).
    let fifo = env.dir.path().join("log.fifo");
    mkfifo(&fifo);
    let start = Env::spawn_cmd({
        let mut cmd = env.cmd("oidc-agent");
        cmd.arg("--log-file").arg(&fifo);
        cmd
    });
    assert!(fails(&start.finish(), 1).contains("cannot open the log file"));
}

/// An agent killed with SIGKILL leaves its socket directory behind; the next
/// agent of the same user removes it once its socket no longer answers.
#[test]
fn leftover_socket_dir_of_a_killed_agent_is_removed_at_next_start() {
    let env = Env::new();
    let start = || {
        let text = ok(&env.run("oidc-agent", &[]));
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.split(';').next())
                .map(str::to_owned)
                .expect("eval line")
        };
        (
            std::path::PathBuf::from(field("OIDC_SOCK=")),
            field("OIDCD_PID="),
        )
    };
    let (sock, pid) = start();
    let dir = sock.parent().expect("dir").to_owned();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    // The socket stops answering once the process is gone.
    wait_for_exit(pid.parse().expect("pid"));
    assert!(std::os::unix::net::UnixStream::connect(&sock).is_err());
    assert!(
        dir.exists(),
        "SIGKILL leaves the directory (the case to clean)"
    );
    // Age the socket past the grace period for agents that are just starting.
    let old = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(rustix::fs::CWD, &sock, &old, rustix::fs::AtFlags::empty())
        .expect("set the socket's times");
    let (sock2, pid2) = start();
    assert!(
        !dir.exists(),
        "the dead agent's {} is still there",
        dir.display()
    );
    assert!(sock2.exists());
    let _ = env.kill_agent(pid2);
}

#[test]
fn quiet_and_json_output() {
    let env = Env::new();
    let sock = env.dir.path().join("tmp/q.sock");
    let out = env.run(
        "oidc-agent",
        &["--quiet", "-a", sock.to_str().expect("utf8")],
    );
    let text = ok(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    let pid: String = text
        .lines()
        .nth(1)
        .expect("pid line")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let json_sock = env.dir.path().join("tmp/j.sock");
    let out = env.run(
        "oidc-agent",
        &["--json", "-a", json_sock.to_str().expect("utf8")],
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(v["socket"], json_sock.to_str().expect("utf8"));
    assert!(v["dpid"].is_string(), "oidc-agent prints dpid as a string");
    for p in [pid, v["dpid"].as_str().expect("dpid").to_owned()] {
        ok(&env.kill_agent(p));
    }
}

#[test]
fn second_agent_on_a_live_socket_is_refused() {
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    let out = env.run("oidc-agent", &["-a", sock.to_str().expect("utf8")]);
    // The command line is fine; the socket is taken: a failure, not usage.
    let err = fails(&out, 1);
    assert!(err.contains("already listening"), "{err}");
}

#[test]
fn status_without_agent_is_exit_3() {
    let env = Env::new();
    let err = fails(&env.run("oidc-agent", &["--status"]), 3);
    assert!(err.contains("eval \"$(oidc-agent)\""), "{err}");
}

#[test]
#[ignore = "needs root to act as another uid; tests/run-all runs it when root"]
fn other_uid_is_refused() {
    needs_root("the test connects as another uid");
    let mut env = Env::new();
    let sock = env.start_agent(&[]);
    // Open the path up so that only the SO_PEERCRED check stands in the way.
    env.open_tmp_to_other_users();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    use std::os::unix::process::CommandExt as _;
    let out = env
        .cmd("oidc-token")
        .arg("x")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run as nobody");
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        !err.contains("No account configured") && err.contains("root's and refuses you"),
        "a foreign uid got an answer: {err}"
    );
    // The owner still gets answers.
    assert_answers(&sock);
}

/// The agent loads neither libm nor libgcc_s (README "Performance", agent
/// memory). tokio's multi-thread scheduler, linked with its
/// `rt-multi-thread` feature although the agent runs a current-thread
/// runtime, calls `pow`, which made the loader map and relocate libm in
/// every agent (~300 kB resident); the unwinder is linked in (`build.rs`),
/// where libgcc_s kept ~100 kB resident.
#[test]
fn the_agent_maps_no_libm_and_no_libgcc_s() {
    let mut env = Env::new();
    env.start_agent(&[]);
    let pid = env.agent_pid().expect("agent pid");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    assert!(
        maps.contains("libc.so"),
        "not the agent's mappings:\n{maps}"
    );
    assert!(!maps.contains("libm.so"), "the agent maps libm:\n{maps}");
    assert!(
        !maps.contains("libgcc_s"),
        "the agent maps libgcc_s:\n{maps}"
    );
}

/// A panic still unwinds, and is caught where std and tokio catch it (a
/// panicking connection task must not take the agent down), with the
/// unwinder `build.rs` links in: this test binary is linked as the agent is.
#[test]
fn panics_unwind_with_the_linked_in_unwinder() {
    /// Counts its drops: unwinding runs the destructors of the frames it
    /// leaves (a connection task's buffers, its zeroizing secrets).
    struct Guard(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let guard = Guard(drops.clone());
    let panicked = std::thread::spawn(move || {
        let _held = guard;
        panic!("an expected panic: the test of unwinding");
    })
    .join();
    assert!(panicked.is_err(), "the panic was not caught");
    assert_eq!(
        drops.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "unwinding did not run the destructor"
    );
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    assert!(
        !maps.contains("libgcc_s"),
        "this test unwound with libgcc_s:\n{maps}"
    );
}

/// A client that hangs up before its reply (a script killed mid-call):
/// the reply meets a closed socket, which ends that connection (logged),
/// not the agent or its other clients.
#[test]
fn a_client_gone_before_its_reply_leaves_the_agent_serving() {
    use std::io::Write as _;
    let (op, env) = agent_with_account();
    let held = op.hold_next_refresh();
    let mut client = connect(&env.socket());
    client
        .write_all(br#"{"request":"access_token","account":"acct","min_valid_period":-1}"#)
        .expect("send request");
    held.arrived();
    drop(client);
    held.release();
    let logged = env.wait_agent_log("connection: ");
    assert!(logged.contains("Broken pipe"), "{logged}");
    assert_answers(&env.socket());
    assert_eq!(ok(&env.run("oidc-token", &["acct"])).lines().count(), 1);
}

/// An agent whose log reader went away (`oidc-agent --console 2>&1 |
/// logger`, and the logger ended): its log lines meet a broken pipe, which
/// must not end the agent and the accounts it holds by SIGPIPE (the agent
/// starts without std's start-up, which ignored the signal; `cli::start`
/// does).
#[test]
fn a_log_reader_gone_leaves_the_agent_serving() {
    use std::io::BufRead as _;
    let op = crate::support::fake_op::FakeOp::start();
    let mut env = Env::new();
    let sock = env.dir.path().join("tmp").join("agent.sock");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut agent = env
        .cmd("oidc-agent")
        .args(["--console", "--socket-path"])
        .arg(&sock)
        .stdout(std::process::Stdio::piped())
        .stderr(writer)
        .spawn()
        .expect("start agent");
    let mut out = std::io::BufReader::new(agent.stdout.take().expect("stdout")).lines();
    assert!(
        out.next()
            .is_some_and(|l| l.is_ok_and(|l| l.starts_with("OIDC_SOCK=")))
    );
    std::thread::spawn(move || out.for_each(drop));
    env.sock = Some(sock.clone());
    // The load is logged (into the broken pipe), so is the refresh.
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    assert_eq!(
        ok(&env.run("oidc-token", &["-f", "acct"])).lines().count(),
        1
    );
    assert_answers(&sock);
    let _ = agent.kill();
    let status = agent.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the agent had ended before the kill: {status:?}"
    );
}

/// An agent started with stdin, stdout and stderr closed (`oidc-agent
/// <&- >&- 2>&-`, as a careless unit file or script does) has /dev/null
/// there, not its socket or a client's connection, where a log line or a
/// print would land (`cli::start`, as std's start-up did).
#[test]
fn started_with_stdio_closed_the_agent_puts_dev_null_on_0_1_2() {
    let env = Env::new();
    let sock = env.dir.path().join("tmp").join("closed.sock");
    let agent = env.cmd("oidc-agent");
    let mut sh = std::process::Command::new("sh");
    sh.env_clear()
        .envs(agent.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .arg("-c")
        .arg(r#"exec "$0" --console --socket-path "$1" <&- >&- 2>&-"#)
        .arg(bin("oidc-agent"))
        .arg(&sock);
    let mut child = sh.spawn().expect("start agent");
    // Each ask is a process run, which paces the loop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env
        .cmd("oidc-agent")
        .arg("--status")
        .env("OIDC_SOCK", &sock)
        .output()
        .expect("status")
        .status
        .code()
        != Some(0)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never served"
        );
    }
    let fds: Vec<_> = (0..3)
        .map(|fd| std::fs::read_link(format!("/proc/{}/fd/{fd}", child.id())))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    for (fd, target) in fds.iter().enumerate() {
        assert_eq!(
            target.as_ref().ok().and_then(|p| p.to_str()),
            Some("/dev/null"),
            "descriptor {fd}: {target:?}"
        );
    }
}

/// The command of `oidc-agent -- COMMAND` starts with SIGPIPE at its
/// default action, as from any shell, although the agent ignores it
/// (`cli::start`; std's `Command` resets it in the child): a pipeline in
/// it (`yes | head -1`) ends as it would anywhere.
#[test]
fn the_command_the_agent_runs_has_sigpipe_at_its_default() {
    let env = Env::new();
    let out = env.run(
        "oidc-agent",
        &["--", "sh", "-c", "grep '^SigIgn:' /proc/self/status"],
    );
    let line = ok(&out);
    let mask = line.trim().trim_start_matches("SigIgn:").trim();
    let mask = u64::from_str_radix(mask, 16).expect("a hex signal mask");
    // SIGPIPE is signal 13: bit 12.
    assert_eq!(
        mask & (1 << 12),
        0,
        "SIGPIPE ignored in the command: {line}"
    );
}
