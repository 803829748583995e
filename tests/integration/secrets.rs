//! The README's claim that the agent keeps its secrets in zeroizing memory
//! and wipes what it serializes them into, checked on the agent binary itself: `support/freed.c`, preloaded
//! into it, reports every heap block the agent releases while the block still
//! holds a marker secret. Zeroizing types wipe a block before releasing it,
//! and so does the agent's global allocator for every other block (the HTTP
//! client's, serde_json's); without it a token was freed as it was. Also:
//! the log the agent writes is private.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use oidc_agent::account::config::AccountConfig;
use oidc_agent::account::format::{self, KdfParams};
use oidc_agent::account::store::Store;

use crate::support::fake_op::FakeOp;
use crate::support::*;

/// `support/freed.c` built into `dir` with the C compiler ($CC, or `cc`, the
/// linker the Rust toolchain uses), as a library to preload.
fn build_freed(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/support/freed.c");
    let out = dir.join("freed.so");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .expect("run the C compiler (cc) to build support/freed.c");
    assert!(status.success(), "building {} failed", source.display());
    out
}

/// What `freed.c` reported: the blocks freed with a marker in them (marker
/// and block size), after checking that it was preloaded with `markers`.
#[track_caller]
fn freed_with_a_marker(report: &Path, markers: usize) -> Vec<String> {
    let text = std::fs::read_to_string(report).unwrap_or_default();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("preloaded, {markers} markers").as_str()),
        "the hook was not preloaded into the agent"
    );
    lines.map(str::to_owned).collect()
}

/// Writes account `name` with these secrets (the registration access token
/// is one the agent holds and saves but never sends anywhere) and the other
/// fields of an oidc-agent 5 account.
fn write_account(
    env: &Env,
    op: &FakeOp,
    name: &str,
    refresh_token: &str,
    client_secret: &str,
    rat: &str,
) {
    let json = serde_json::json!({
        "name": name,
        "issuer_url": op.issuer,
        "client_id": "cid",
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "registration_access_token": rat,
        // What oidc-agent 5 also writes (kept by us as found, after the
        // fields we know).
        "client_name": format!("oidc-agent:{name}-laptop"),
        "mytoken_url": "",
        "daeSetByUser": 0,
        "oauth": 0,
        "uses_pub_client": 0,
        "mytoken_profile": {},
        "username": "",
    });
    let config = AccountConfig::from_json(&json.to_string()).expect("account JSON");
    let store = Store::new(env.config_dir());
    store.ensure_dir().expect("account dir");
    let cheap = KdfParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };
    oidc_agent::account::save(
        &store,
        &config,
        &PASSWORD.into(),
        cheap,
        oidc_agent::account::Existing::Replace,
    )
    .expect("save account");
}

/// Everything the agent does with an account (load it, list, lock, unlock,
/// unload, load again, refresh it with a rotation that it saves into the
/// file, lock and unlock the rotated account, refresh and save again) frees
/// no block that holds one of its secrets: the refresh tokens (the first
/// and every rotated one), the client secret, the access tokens, the
/// account's registration access token, the file's data key and the lock
/// password (one that JSON must escape, so serde_json decodes it through its
/// scratch buffer). Tokens pass through the HTTP client's buffers, which no
/// zeroizing type of ours reaches: the agent's allocator wipes them.
#[test]
fn the_agent_frees_no_block_that_holds_a_secret() {
    let op = FakeOp::start();
    op.set(|c| c.jwt_access_tokens = true);
    let mut env = Env::new();
    let rt = format!("rt-marker-{}", rand_suffix());
    op.accept_rt(&rt);
    let client_secret = format!("cs-marker-{}", rand_suffix());
    let rat = format!("rat-marker-{}", rand_suffix());
    write_account(&env, &op, "acct", &rt, &client_secret, &rat);
    let store = Store::new(env.config_dir());
    let opened = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("open");
    let key = format::encode_key(opened.key.as_ref().expect("our format has a data key"));
    let lock_password = format!("lock \"marker\\ {}", rand_suffix());
    let markers = [
        rt.as_str(),
        "rt-rotated-",
        // The fake provider's access tokens: JWTs with this header.
        "eyJhbGciOiJub25lIn0.",
        &client_secret,
        &rat,
        key.expose(),
        &lock_password,
    ];
    let report = env.dir.path().join("freed.txt");
    let sock = env.dir.path().join("tmp").join("agent.sock");
    env.start_agent_with(
        &sock,
        &[],
        &[
            ("LD_PRELOAD", build_freed(env.dir.path()).as_os_str()),
            ("FREED_MARKERS", OsStr::new(&markers.join(","))),
            ("FREED_REPORT", report.as_os_str()),
        ],
    );

    ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    ok(&env.run("oidc-add", &["-l"]));
    ok(&env.run_lock("-x", &lock_password));
    ok(&env.run_lock("-X", &lock_password));
    ok(&env.run("oidc-add", &["-r", "acct"]));
    ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    op.set(|c| c.rotate = true);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    env.wait_agent_log("'acct': saved refresh token");
    ok(&env.run_lock("-x", &lock_password));
    ok(&env.run_lock("-X", &lock_password));
    ok(&env.run("oidc-token", &["-f", "acct"]));
    env.wait_agent_log("'acct': saved refresh token");
    ok(&env.run("oidc-add", &["-r", "acct"]));
    env.stop_agent();
    // The markers did reach the agent: the file holds a rotated token and
    // the registration access token it was given.
    let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("open");
    assert!(
        saved
            .config
            .refresh_token
            .expose()
            .starts_with("rt-rotated-")
    );
    assert_eq!(
        saved
            .config
            .registration_access_token
            .as_ref()
            .map(|t| t.expose()),
        Some(rat.as_str())
    );
    assert_eq!(
        freed_with_a_marker(&report, markers.len()),
        Vec::<String>::new()
    );
}

/// The `VmLck` or other `kB` figure named `field` of /proc/PID/status.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// README: the agent's secrets are `mlock`ed where allowed (never swapped
/// out), and it writes no core file (its core limit is 0, soft and hard).
#[test]
fn the_agent_locks_its_secrets_in_memory_and_dumps_no_core() {
    let (_op, env) = agent_with_account();
    let pid = env.agent_pid().expect("agent pid");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let core: Vec<&str> = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max core file size"))
        .expect("core limit")
        .split_whitespace()
        .collect();
    assert_eq!(core[..2], ["0", "0"], "{limits}");
    // Allowed: the memlock limit is above zero, or we may lock anyway.
    let memlock = rustix::process::getrlimit(rustix::process::Resource::Memlock);
    let allowed = rustix::process::getuid().is_root() || memlock.current != Some(0);
    let locked = status_kb(pid, "VmLck");
    assert_eq!(
        locked > 0,
        allowed,
        "{locked} kB locked; memlock limit {memlock:?}"
    );
}

/// README: the agent is not dumpable, so another process of the same user
/// can neither trace it nor read /proc/PID/mem: the kernel then hands its
/// /proc files to root. Shown on an agent of another uid (as root, every
/// /proc file is readable anyway).
#[test]
#[ignore = "needs root to start the agent as another uid; tests/run-all runs it when root"]
fn the_agent_is_not_dumpable() {
    use std::io::BufRead as _;
    use std::os::unix::fs::MetadataExt as _;
    use std::os::unix::process::CommandExt as _;
    needs_root("the agent runs as another uid");
    let env = Env::new();
    let sock = env.dir_of(65534).join("nobody.sock");
    let mut agent = env
        .cmd("oidc-agent")
        .args(["--console", "--socket-path"])
        .arg(&sock)
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start agent as nobody");
    // Hardened before it serves: wait for its first log line.
    let mut first = String::new();
    std::io::BufReader::new(agent.stderr.take().expect("stderr"))
        .read_line(&mut first)
        .expect("read");
    assert!(
        first.contains("started; listening"),
        "agent did not start: {first:?}"
    );
    let proc = format!("/proc/{}", agent.id());
    let status = std::fs::read_to_string(format!("{proc}/status")).expect("status");
    let environ_owner = std::fs::metadata(format!("{proc}/environ"))
        .expect("environ")
        .uid();
    let _ = agent.kill();
    let _ = agent.wait();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).expect("Uid");
    assert_eq!(uid.split_whitespace().nth(1), Some("65534"), "{uid}");
    assert_eq!(
        environ_owner, 0,
        "the agent is dumpable: its /proc files are its own"
    );
}

/// A new `--log-file` is private (0600): it names accounts, issuers and
/// paths.
#[test]
fn a_new_log_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let log = env.dir.path().join("agent.log");
    let out = ok(&env
        .cmd("oidc-agent")
        .arg("--log-file")
        .arg(&log)
        .output()
        .expect("oidc-agent"));
    let mode = std::fs::metadata(&log).expect("log").permissions().mode() & 0o777;
    let pid = out
        .split(';')
        .find_map(|v| v.trim().strip_prefix("OIDCD_PID="))
        .expect("OIDCD_PID")
        .to_owned();
    ok(&env.kill_agent(&pid));
    assert_eq!(mode, 0o600);
}
