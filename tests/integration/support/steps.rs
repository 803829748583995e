//! Steps many tests share: an agent holding an account of the fake
//! provider, a run with one more variable, a new agent taking up what the
//! last one saved, and the checks on the agent's JSON replies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::fake_op::{Config, FakeOp};
use super::{Env, PASSWORD, ok};

/// A fake provider and an agent holding its account `acct`, imported with
/// `oidc-gen --rt` (which also loads it): where most token tests begin.
pub fn agent_with_account() -> (FakeOp, Env) {
    agent_with_account_where(|_| {})
}

/// [`agent_with_account`] with the provider set up by `config` before the
/// import (e.g. to rotate refresh tokens from the first refresh on).
pub fn agent_with_account_where(config: impl FnOnce(&mut Config)) -> (FakeOp, Env) {
    let (op, env) = agent_where(config);
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    (op, env)
}

/// A fake provider and a home of its own with no agent yet: where the
/// oidc-gen tests begin.
pub fn provider_and_home() -> (FakeOp, Env) {
    (FakeOp::start(), Env::new())
}

/// A fake provider set up by `config` and an agent with nothing loaded.
pub fn agent_where(config: impl FnOnce(&mut Config)) -> (FakeOp, Env) {
    let (op, mut env) = provider_and_home();
    op.set(config);
    env.start_agent(&[]);
    (op, env)
}

/// Makes a FIFO (mode 0600) at `path`: something that is not a regular
/// file, whose open or read would wait forever.
pub fn mkfifo(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

/// The guard of the root-only tests (`#[ignore]`d; `tests/run-all` runs
/// them when it is root): `why` they need root.
#[track_caller]
pub fn needs_root(why: &str) {
    assert!(rustix::process::getuid().is_root(), "run as root: {why}");
}

impl Env {
    /// Lets another uid into this environment's temporary directory (where
    /// the agent's socket is), for the root-only tests that act as one.
    pub fn open_tmp_to_other_users(&self) {
        use std::os::unix::fs::PermissionsExt as _;
        let chmod = |path: &Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        chmod(self.dir.path(), 0o755);
        chmod(&self.dir.path().join("tmp"), 0o1777);
    }

    /// A 0700 directory of `uid` in the temporary directory (opened to
    /// other users first), for a root-only test's process running as `uid`:
    /// an agent refuses to listen where another user could swap its socket.
    pub fn dir_of(&self, uid: u32) -> PathBuf {
        self.open_tmp_to_other_users();
        let dir = self.dir.path().join("tmp").join(format!("uid-{uid}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).expect("chown");
        dir
    }

    /// A new login of account `name` made where the agent is not reached:
    /// its file written anew (a new data key) from the settings of account
    /// `from`, with refresh token `rt`, which `op` then accepts.
    pub fn login_made_elsewhere(&self, op: &FakeOp, from: &str, name: &str, rt: &str) {
        use oidc_agent::account::format::KdfParams;
        let store = oidc_agent::account::store::Store::new(self.config_dir());
        let mut config = oidc_agent::account::open(&store, from, &PASSWORD.into())
            .expect("open")
            .config;
        (config.name, config.refresh_token) = (name.into(), rt.into());
        op.accept_rt(rt);
        oidc_agent::account::save(
            &store,
            &config,
            &PASSWORD.into(),
            KdfParams::TESTING,
            oidc_agent::account::Existing::Replace,
        )
        .expect("save the new login");
    }

    /// The socket of the agent this environment started.
    pub fn socket(&self) -> PathBuf {
        self.sock.clone().expect("no agent started")
    }

    /// [`Env::run`] with `var` set to `value` (a password source, mostly).
    pub fn run_with(&self, name: &str, args: &[&str], var: &str, value: &str) -> Output {
        self.cmd(name)
            .args(args)
            .env(var, value)
            .output()
            .expect("run binary")
    }

    /// `oidc-add -f --pw-env NAME` with `password` as the account's
    /// password (`-f`: also when it is loaded, so the password is tried).
    pub fn add_with_password(&self, name: &str, password: &str) -> Output {
        self.run_with(
            "oidc-add",
            &["-f", "--pw-env", name],
            "OIDC_ENCRYPTION_PW",
            password,
        )
    }

    /// `oidc-add FLAG` (`-x` locks the agent, `-X` unlocks it) with the lock
    /// password `password`, read from $LOCKPW.
    pub fn run_lock(&self, flag: &str, password: &str) -> Output {
        self.run_with("oidc-add", &[flag, "--pw-env=LOCKPW"], "LOCKPW", password)
    }

    /// `oidc-gen --reauthenticate NAME --rt RT`: a new login (the fake
    /// provider must accept `rt`, see `FakeOp::accept_rt`) that keeps the
    /// account's client and replaces its refresh token.
    #[track_caller]
    pub fn reauthenticate_with(&self, name: &str, rt: &str) {
        ok(&self.run(
            "oidc-gen",
            &["--reauthenticate", name, "--rt", rt, "--pw-env"],
        ));
    }

    /// Replaces the agent with a new one, which loads `name` from its file
    /// and refreshes it: what the last agent saved must be usable.
    #[track_caller]
    pub fn restart_agent_and_refresh(&mut self, name: &str) {
        self.stop_agent();
        self.start_agent(&[]);
        ok(&self.run("oidc-add", &["--pw-env", name]));
        ok(&self.run("oidc-token", &["-f", name]));
    }

    /// `oidc-gen NAME --issuer ISS --client-id cid --rt RT` with the test password.
    pub fn gen_rt(&self, name: &str, issuer: &str, rt: &str) -> Output {
        self.gen_rt_with(name, issuer, rt, "--pw-env")
    }

    /// [`Env::gen_rt`] with the password from `source` (a `--pw-*` option).
    pub fn gen_rt_with(&self, name: &str, issuer: &str, rt: &str, source: &str) -> Output {
        self.gen_rt_cmd(name, issuer, rt, source)
            .output()
            .expect("run oidc-gen")
    }

    /// The command of [`Env::gen_rt_with`], to change or spawn.
    pub fn gen_rt_cmd(&self, name: &str, issuer: &str, rt: &str, source: &str) -> Command {
        let mut cmd = self.cmd("oidc-gen");
        cmd.args([
            name,
            "--issuer",
            issuer,
            "--client-id",
            "cid",
            "--client-secret",
            "csecret",
            "--rt",
            rt,
            source,
        ]);
        cmd
    }

    /// `oidc-agent -k` with `OIDCD_PID=pid`.
    pub fn kill_agent(&self, pid: impl AsRef<std::ffi::OsStr>) -> Output {
        self.cmd("oidc-agent")
            .arg("-k")
            .env("OIDCD_PID", pid)
            .output()
            .expect("run oidc-agent -k")
    }

    /// `kill -9` of this environment's agent, returning once it is gone:
    /// no cleanup of its own runs (its socket and lock files stay).
    pub fn sigkill_agent(&self) {
        let pid = self.agent_pid().expect("agent pid");
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).expect("pid"),
            rustix::process::Signal::KILL,
        )
        .expect("kill -9");
        super::wait_for_exit(pid as i32);
    }
}

/// Asks the agent at `sock` for `acct`'s access token through `call` (one
/// transport: plain JSON, or oidc-agent's encrypted mode) and asserts a
/// successful reply with a token of the fake provider.
#[track_caller]
pub fn acct_token_via(
    call: impl Fn(&Path, &str) -> serde_json::Value,
    sock: &Path,
) -> serde_json::Value {
    let reply = call(
        sock,
        r#"{"request":"access_token","account":"acct","min_valid_period":0}"#,
    );
    assert_eq!(reply["status"], "success", "{reply}");
    assert!(
        reply["access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("at-")),
        "{reply}"
    );
    reply
}

/// Asserts a failure reply whose error says `what`.
#[track_caller]
pub fn assert_failure_reply(reply: &serde_json::Value, what: &str) {
    assert_eq!(reply["status"], "failure", "{reply}");
    assert!(
        reply["error"].as_str().is_some_and(|e| e.contains(what)),
        "{reply}"
    );
}
