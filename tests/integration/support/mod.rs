//! Test support: a private environment per test (account dir, TMPDIR, HOME),
//! the real binaries, and an agent started in the foreground.

pub mod browser;
#[allow(dead_code)] // shared with the unit tests and the bench
pub mod fake_op;
pub mod socks;
mod steps;

pub use steps::*;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse";

pub fn bin(name: &str) -> PathBuf {
    match name {
        "oidc-agent" => PathBuf::from(env!("CARGO_BIN_EXE_oidc-agent")),
        "oidc-gen" => PathBuf::from(env!("CARGO_BIN_EXE_oidc-gen")),
        "oidc-add" => PathBuf::from(env!("CARGO_BIN_EXE_oidc-add")),
        "oidc-token" => PathBuf::from(env!("CARGO_BIN_EXE_oidc-token")),
        "oidc-agent-service" => PathBuf::from(env!("CARGO_BIN_EXE_oidc-agent-service")),
        "git-credential-oidc" => PathBuf::from(env!("CARGO_BIN_EXE_git-credential-oidc")),
        other => panic!("unknown binary {other}"),
    }
}

/// A private home for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub sock: Option<PathBuf>,
    agent: Option<Child>,
    /// The agent's log lines (its stderr), as they come.
    agent_log: Mutex<Option<mpsc::Receiver<String>>>,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp");
        Self {
            dir,
            sock: None,
            agent: None,
            agent_log: Mutex::new(None),
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("accounts")
    }

    /// The agent's test clock: its offset in seconds (see `agent::clock`).
    fn clock_file(&self) -> PathBuf {
        self.dir.path().join("clock")
    }

    /// Moves the agent's clock `secs` forward, so a lifetime or a token
    /// runs out without waiting for it. Takes effect at the agent's next
    /// reading of the clock (written atomically: never half a number).
    pub fn advance_clock(&self, secs: i64) {
        let file = self.clock_file();
        let offset: i64 = std::fs::read_to_string(&file)
            .map(|t| t.trim().parse().expect("clock offset"))
            .unwrap_or(0);
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, (offset + secs).to_string()).expect("write clock");
        std::fs::rename(&tmp, &file).expect("set clock");
    }

    /// A command with this environment (nothing inherited that matters).
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("TMPDIR", self.dir.path().join("tmp"))
            .env("OIDC_CONFIG_DIR", self.config_dir())
            .env("OIDC_ENCRYPTION_PW", PASSWORD)
            .env("OIDC_AGENT_RS_TEST_KDF", "1")
            .env("OIDC_AGENT_RS_TEST_CLOCK", self.clock_file())
            .stdin(Stdio::null());
        if let Some(s) = &self.sock {
            c.env("OIDC_SOCK", s);
        }
        c
    }

    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        self.cmd(name).args(args).output().expect("run binary")
    }

    /// Starts a binary with piped stdout and stderr, for a test that talks
    /// to it while it runs (reads the URL it prints, sends it a signal).
    pub fn spawn(&self, name: &str, args: &[&str]) -> Running {
        let mut cmd = self.cmd(name);
        cmd.args(args);
        Self::spawn_cmd(cmd)
    }

    /// [`Env::spawn`] for a command prepared by the caller (extra variables).
    pub fn spawn_cmd(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn binary");
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let err = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all.into_bytes()
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Starts `oidc-agent --console` and waits for its socket.
    pub fn start_agent(&mut self, extra: &[&str]) -> PathBuf {
        let sock = self
            .dir
            .path()
            .join("tmp")
            .join(format!("agent-{}.sock", rand_suffix()));
        self.start_agent_at(&sock, extra)
    }

    /// Starts `oidc-agent --console` on `sock`.
    pub fn start_agent_at(&mut self, sock: &Path, extra: &[&str]) -> PathBuf {
        self.start_agent_with(sock, extra, &[])
    }

    /// [`Env::start_agent_at`] with more environment variables for the agent.
    pub fn start_agent_with(
        &mut self,
        sock: &Path,
        extra: &[&str],
        vars: &[(&str, &std::ffi::OsStr)],
    ) -> PathBuf {
        let sock = sock.to_path_buf();
        let mut child = self
            .cmd("oidc-agent")
            .envs(vars.iter().copied())
            .arg("--console")
            .arg("--socket-path")
            .arg(&sock)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start agent");
        // The log, line by line, for `wait_agent_log`; still shown on the
        // test's stderr.
        let err = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                let _ = tx.send(line);
            }
        });
        *self.agent_log.lock().expect("log") = Some(log);
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let first = lines.next().expect("agent printed nothing").expect("read");
        assert_eq!(
            first,
            format!("OIDC_SOCK={}; export OIDC_SOCK;", sock.display())
        );
        let second = lines.next().expect("second line").expect("read");
        assert_eq!(
            second,
            format!("OIDCD_PID={}; export OIDCD_PID;", child.id())
        );
        // Keep reading the agent's stdout so it never sees a broken pipe.
        std::thread::spawn(move || lines.for_each(drop));
        self.agent = Some(child);
        self.sock = Some(sock.clone());
        sock
    }

    /// The pid of the agent started by [`Env::start_agent`].
    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().map(Child::id)
    }

    /// Waits until the agent logs a line containing `what` (an event the
    /// agent reports, e.g. that a request waits for a refresh under way).
    /// Lines are consumed: a later call sees only lines logged after the
    /// match (and those still unread before it).
    #[track_caller]
    pub fn wait_agent_log(&self, what: &str) -> String {
        let mut lines = self.agent_log_until(what);
        lines.pop().expect("the matching line")
    }

    /// [`Env::wait_agent_log`], returning every line read, the match last:
    /// what the agent logged between two events.
    #[track_caller]
    pub fn agent_log_until(&self, what: &str) -> Vec<String> {
        let guard = self.agent_log.lock().expect("log");
        let log = guard.as_ref().expect("no agent started");
        let deadline = Instant::now() + PROCESS_WAIT;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(what);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(_) => panic!("the agent never logged {what:?}"),
            }
        }
    }

    /// The agent's `--status --json`.
    #[track_caller]
    pub fn status(&self) -> serde_json::Value {
        let out = ok(&self.run("oidc-agent", &["--status", "--json"]));
        serde_json::from_str(&out).expect("status json")
    }

    /// Asks the agent for `--status --json` until `pred` holds (there is no
    /// event for "N requests wait in the agent"; each ask is a process run,
    /// which paces the loop).
    #[track_caller]
    pub fn wait_status(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + PROCESS_WAIT;
        loop {
            let status = self.status();
            if pred(&status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited in vain for: {what}; last status {status}"
            );
        }
    }

    pub fn stop_agent(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.id() as i32).expect("pid"),
                rustix::process::Signal::TERM,
            );
            let _ = wait_or_kill(&mut c, Duration::from_secs(5));
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop_agent();
    }
}

/// A running binary (see [`Env::spawn`]); killed if dropped unfinished.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

/// How long a test waits for a process (a line, an answer on a socket, its
/// end): the bound for a broken test, never a pace.
pub const PROCESS_WAIT: Duration = Duration::from_secs(20);

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the first stderr line matching `pred` and returns it.
    #[track_caller]
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PROCESS_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no {what} on stderr; got:\n{}", self.seen.join("\n"));
                }
            }
        }
    }

    /// The authorization URL: printed on a line of its own.
    #[track_caller]
    pub fn auth_url(&mut self) -> String {
        self.wait_line("authorization URL", |l| {
            l.starts_with("http://") && l.contains("/auth?")
        })
    }

    /// Waits (bounded) for the exit and returns everything it printed.
    #[track_caller]
    pub fn finish(mut self) -> Output {
        let status = match wait_or_kill(&mut self.child, PROCESS_WAIT) {
            Ok(status) => status,
            Err(status) => {
                let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
                panic!(
                    "process did not finish in {PROCESS_WAIT:?} ({status}); stderr:\n{}",
                    String::from_utf8_lossy(&stderr.unwrap_or_default())
                );
            }
        };
        let stdout = self.stdout.take().map(|h| h.join().unwrap_or_default());
        let stderr = self.stderr.take().map(|h| h.join().unwrap_or_default());
        Output {
            status,
            stdout: stdout.unwrap_or_default(),
            stderr: stderr.unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child` to exit, at most `limit`; then kills it and returns
/// `Err` with the status of the killed process.
pub fn wait_or_kill(child: &mut Child, limit: Duration) -> Result<ExitStatus, ExitStatus> {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    if oidc_agent::process::wait_exit(pid, limit).expect("pidfd") {
        return Ok(child.wait().expect("wait"));
    }
    let _ = child.kill();
    Err(child.wait().expect("the killed child's status"))
}

/// Waits until `/proc/PID/FILE` reads `value`: a process's name (`comm`,
/// set at exec, a moment after spawn returns) or what its main thread
/// waits in (`wchan`, e.g. `wait_for_partner` in a FIFO's open).
#[track_caller]
pub fn wait_for_proc(pid: u32, file: &str, value: &str) {
    let path = format!("/proc/{pid}/{file}");
    let deadline = Instant::now() + PROCESS_WAIT;
    while std::fs::read_to_string(&path).map_or(true, |c| c.trim() != value) {
        assert!(Instant::now() < deadline, "{path} never read {value:?}");
        std::thread::yield_now();
    }
}

/// Waits until process `pid` (not necessarily our child: a daemonized
/// agent) has ended, at most [`PROCESS_WAIT`].
#[track_caller]
pub fn wait_for_exit(pid: i32) {
    let pid = rustix::process::Pid::from_raw(pid).expect("pid");
    let ended = oidc_agent::process::wait_exit(pid, PROCESS_WAIT).expect("pidfd");
    assert!(ended, "process {pid:?} still runs after {PROCESS_WAIT:?}");
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?})\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts success with `said` on stderr; returns stdout.
#[track_caller]
pub fn ok_saying(o: &Output, said: &str) -> String {
    let out = ok(o);
    assert!(stderr(o).contains(said), "{}", stderr(o));
    out
}

/// Asserts the exit code and an empty stdout; returns stderr.
#[track_caller]
pub fn fails(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    assert!(
        o.stdout.is_empty(),
        "stdout must stay empty on error: {}",
        stdout(o)
    );
    stderr(o)
}

/// A connection to the agent at `sock` whose reads give up after
/// [`PROCESS_WAIT`] (a broken test fails instead of hanging).
pub fn connect(sock: &Path) -> std::os::unix::net::UnixStream {
    let s = std::os::unix::net::UnixStream::connect(sock).expect("connect");
    s.set_read_timeout(Some(PROCESS_WAIT)).expect("timeout");
    s
}

/// Asserts that the agent at `sock` answers a `check` request with success
/// (it is alive and serving).
#[track_caller]
pub fn assert_answers(sock: &Path) {
    assert_eq!(
        raw_json(sock, r#"{"request":"check"}"#)["status"],
        "success"
    );
}

/// Sends raw bytes to a socket and reads the reply until the agent closes.
pub fn raw(sock: &Path, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read as _, Write as _};
    let mut s = connect(sock);
    // The agent may close early on oversized input: then read what it said.
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

pub fn raw_json(sock: &Path, req: &str) -> serde_json::Value {
    let bytes = raw(sock, req.as_bytes());
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "reply is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}
