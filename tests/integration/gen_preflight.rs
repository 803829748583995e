//! What oidc-gen checks before a login or an import spends anything: the
//! password source, the account directory and the provider's discovery
//! document. A refresh token obtained and then not saved is lost, with a
//! rotating provider for good; a person would have to log in again.

use crate::r#gen::{gen_args, gen_fails, public_args};
use crate::support::fake_op::{FakeOp, PUBLIC_CLIENT};
use crate::support::*;

/// A password that could not be had after the login fails before it: no
/// browser, device code or imported refresh token is spent on a login the
/// person would have to do again.
#[test]
fn a_missing_password_source_fails_before_the_login() {
    let (op, env) = provider_and_home();
    let missing = env.config_dir().join("no-such-password-file");
    let pw_file = format!("--pw-file={}", missing.display());
    for (source, code, says) in [
        (
            "--pw-env=NO_SUCH_PASSWORD_VARIABLE",
            2,
            "NO_SUCH_PASSWORD_VARIABLE is not set",
        ),
        (pw_file.as_str(), 1, "no-such-password-file"),
        ("--prompt=none", 2, "no password source"),
    ] {
        for flow in ["code", "device"] {
            let mut args = gen_args(
                "acct",
                &op.issuer,
                flow,
                &["--client-id", PUBLIC_CLIENT, "--pub"],
            );
            args.retain(|a| *a != "--pw-env");
            // Without the check the login would start: end its wait soon.
            args.extend(["--timeout", "3", source]);
            let err = gen_fails(&env, &args, code);
            assert!(err.contains(says), "{source}: {err}");
        }
        let err = fails(
            &env.gen_rt_with("acct", &op.issuer, "rt-initial", source),
            code,
        );
        assert!(err.contains(says), "{source}: {err}");
    }
    assert!(op.requests().is_empty(), "{:?}", op.requests());
    assert_eq!(
        op.valid_rts().len(),
        1,
        "the imported refresh token was not used"
    );
}

/// An empty or missing refresh token to import is a usage error, found
/// before any request (the provider's "missing parameter" said nothing).
#[test]
fn an_empty_refresh_token_to_import_is_a_usage_error() {
    let (op, env) = provider_and_home();
    for (value, says) in [(Some(""), "is empty"), (None, "is not set")] {
        let mut cmd = env.cmd("oidc-gen");
        cmd.args([
            "acct",
            "--issuer",
            &op.issuer,
            "--client-id",
            "cid",
            "--pub",
            "--rt-env",
            "--pw-env",
        ]);
        match value {
            Some(v) => cmd.env("OIDC_REFRESH_TOKEN", v),
            None => cmd.env_remove("OIDC_REFRESH_TOKEN"),
        };
        let err = fails(&cmd.output().expect("oidc-gen"), 2);
        assert!(err.contains(says), "{err}");
    }
    assert!(op.requests().is_empty(), "{:?}", op.requests());
}

/// Command lines found wrong only once oidc-gen runs are usage errors too
/// (exit 2, not 1): no account name, a flow it does not do, or one that
/// needs a flag not given (tester10 F7).
#[test]
fn late_usage_errors_exit_2() {
    let (op, env) = provider_and_home();
    let issuer = op.issuer.as_str();
    let account = ["acct", "--issuer", issuer, "--client-id", "cid", "--pub"];
    let flow = |name| [&account[..], &["--flow", name, "--pw-env"]].concat();
    for (args, says) in [
        (
            vec!["--issuer", issuer, "--pw-env"],
            "no account short name",
        ),
        (flow("password"), "password flow is not supported"),
        (flow("refresh"), "needs a refresh token"),
    ] {
        let err = fails(&env.run("oidc-gen", &args), 2);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// An account directory that cannot be made (here: under a regular file)
/// fails before the imported refresh token is used.
#[test]
fn an_unwritable_account_directory_fails_before_the_refresh_token_is_used() {
    let (op, env) = provider_and_home();
    let blocker = env.dir.path().join("a-file");
    std::fs::write(&blocker, b"x").expect("file");
    let mut cmd = env.gen_rt_cmd("acct", &op.issuer, "rt-initial", "--pw-env");
    cmd.env("OIDC_CONFIG_DIR", blocker.join("accounts"));
    let err = fails(&cmd.output().expect("oidc-gen"), 1);
    assert!(
        err.contains("could not be saved") && err.contains("nothing was sent to the provider"),
        "{err}"
    );
    assert!(op.requests().is_empty(), "{:?}", op.requests());
}

/// A tmpfs mounted on the account directory for one test, unmounted after.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_owned())
    }

    /// Writes zeros into it until it is full.
    fn fill(&self) {
        use std::io::Write as _;
        let mut f = std::fs::File::create(self.0.join("filler")).expect("filler");
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// A full account directory: before the import, oidc-gen refuses without
/// a request; when it fills up during the check refresh (after the refresh
/// token was used), the account goes into the agent with its sealed file,
/// serves tokens, is not unloaded while the file is unwritten, and is
/// written (the newest refresh token, the same password) once there is room.
#[test]
#[ignore = "root: mounts a small tmpfs (tests/run-all runs it as root)"]
fn a_full_account_directory_keeps_the_spent_refresh_token_in_the_agent() {
    needs_root("mount a small tmpfs as the account directory");
    let (op, env) = agent_where(|c| c.rotate = true);
    let disk = Tmpfs::mount(&env.config_dir(), "256k");
    disk.fill();
    let err = fails(&env.gen_rt("acct", &op.issuer, "rt-initial"), 1);
    assert!(err.contains("nothing was sent to the provider"), "{err}");
    assert!(op.requests().is_empty(), "{:?}", op.requests());
    std::fs::remove_file(disk.0.join("filler")).expect("make room");

    // The directory fills while the provider holds the refresh (the
    // password was had before it was sent).
    let held = op.hold_next_refresh();
    let running = Env::spawn_cmd(env.gen_rt_cmd("acct", &op.issuer, "rt-initial", "--pw-env"));
    held.arrived();
    disk.fill();
    held.release();
    let err = fails(&running.finish(), 1);
    assert!(
        err.contains("loaded in the agent, which writes the file as soon as it can"),
        "{err}"
    );
    assert!(
        !op.valid_rts().contains("rt-initial"),
        "the import rotated it"
    );
    let served = env.run("oidc-token", &["acct"]);
    ok(&served);
    assert!(stderr(&served).contains("not saved"), "{}", stderr(&served));
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "acct\n");
    let err = fails(&env.run("oidc-add", &["-r", "acct"]), 1);
    assert!(err.contains("not saved yet"), "{err}");

    std::fs::remove_file(disk.0.join("filler")).expect("make room");
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("the file");
    assert!(
        op.valid_rts().contains(saved.config.refresh_token.expose()),
        "the file holds the live refresh token"
    );
}

#[test]
fn discovery_errors_name_the_remedy() {
    let (op, env) = provider_and_home();
    let no_doc = format!("{}realms/nowhere", op.issuer);
    let err = fails(&env.gen_rt("x", &no_doc, "rt-initial"), 8);
    assert!(
        err.contains("no discovery document") && err.contains("--configuration-endpoint"),
        "{err}"
    );
    let err = fails(&env.gen_rt("x", "op.example.org", "rt-initial"), 2);
    assert!(err.contains("is not an issuer URL"), "{err}");
    // The override is used as given: a URL, or oidc-agent's documented form
    // for a provider without one, a local file; with it the issuer may be
    // left out, taken from the document (oidc-agent's docs; tester11 F4).
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let gen_with = |name: &str, endpoint: &str| {
        for (name, issuer) in [(name.to_owned(), true), (format!("{name}-no-iss"), false)] {
            let given = ["--issuer", op.issuer.as_str()];
            let args = ["--configuration-endpoint", endpoint];
            let client = ["--client-id", "cid", "--client-secret", "csecret"];
            let rest = ["--rt", "rt-initial", "--pw-env", &name];
            let issuer_args = if issuer { &given[..] } else { &[] };
            let argv = [issuer_args, &args[..], &client[..], &rest[..]].concat();
            ok(&env.run("oidc-gen", &argv));
            let saved = oidc_agent::account::open(&store, &name, &PASSWORD.into());
            let saved = saved.unwrap_or_else(|e| panic!("{name} saved with {endpoint}: {e}"));
            assert_eq!(saved.config.issuer_url, op.issuer, "{name}");
        }
    };
    gen_with(
        "x",
        &format!("{}.well-known/openid-configuration", op.issuer),
    );
    let base = op.issuer.trim_end_matches('/');
    let doc = serde_json::json!({
        "issuer": op.issuer,
        "authorization_endpoint": format!("{base}/auth"),
        "token_endpoint": format!("{base}/token"),
    });
    let file = env.dir.path().join("discovery.json");
    std::fs::write(&file, doc.to_string()).expect("write");
    gen_with("y", &format!("file://{}", file.display()));
}

#[test]
fn issuer_mismatch_is_refused() {
    let op = FakeOp::start();
    op.set(|c| c.discovery_issuer = Some("https://evil.example/".into()));
    let env = Env::new();
    let err = gen_fails(&env, &public_args("mm", &op.issuer, "code"), 8);
    assert!(
        err.contains("issuer mismatch") && err.contains("evil.example"),
        "{err}"
    );
    assert!(op.auth_requests().is_empty());
}

#[test]
fn provider_down_exits_6() {
    let op = FakeOp::start();
    op.stop();
    let env = Env::new();
    let err = gen_fails(&env, &public_args("down", &op.issuer, "code"), 6);
    assert!(err.contains("cannot reach"), "{err}");
}

/// Two `oidc-gen NAME` for one new name at once: the check that the name is
/// free passes for both before either saves, so the save checks again and
/// the second to finish does not overwrite the first's account.
#[test]
fn a_name_taken_meanwhile_is_not_overwritten() {
    let op = FakeOp::start();
    op.accept_rt("rt-second");
    let mut env = Env::new();
    env.start_agent(&[]);
    let held = op.hold_next_refresh();
    let first = Env::spawn_cmd(env.gen_rt_cmd("dup", &op.issuer, "rt-initial", "--pw-env"));
    held.arrived();
    ok(&env.gen_rt("dup", &op.issuer, "rt-second"));
    let before = std::fs::read(env.config_dir().join("dup")).expect("saved");
    held.release();
    let err = fails(&first.finish(), 1);
    assert!(
        err.contains("created meanwhile") && err.contains("another name"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(env.config_dir().join("dup")).expect("kept"),
        before
    );
    // The agent still holds the saved account, not the login that lost.
    assert!(env.status()["accounts"][0]["account_file"].is_string());
}

/// A proxy that is down is named when the provider cannot be reached
/// through it (reqwest takes HTTP_PROXY from the environment), without the
/// proxy's password.
#[test]
fn an_unreachable_provider_names_the_proxy_that_is_set() {
    let (op, env) = provider_and_home();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut cmd = env.cmd("oidc-gen");
    cmd.args(public_args("px", &op.issuer, "device"))
        .env("HTTP_PROXY", format!("http://me:pr0xy-pw@127.0.0.1:{port}"));
    let err = fails(&cmd.output().expect("oidc-gen"), 6);
    assert!(
        err.contains(&format!(
            "a proxy is set, HTTP_PROXY=http://127.0.0.1:{port}/"
        )) && !err.contains("pr0xy-pw"),
        "{err}"
    );
    assert!(
        op.requests().is_empty(),
        "the provider was reached directly"
    );
    // NO_PROXY naming the host, or `*` (curl's "no proxy for any host"):
    // straight to the provider (which takes the imported refresh token).
    for (name, no_proxy) in [("px", "127.0.0.1"), ("px-all", "*")] {
        let rt = format!("rt-{name}");
        op.accept_rt(&rt);
        let mut cmd = env.gen_rt_cmd(name, &op.issuer, &rt, "--pw-env");
        cmd.env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
            .env("NO_PROXY", no_proxy);
        ok(&cmd.output().expect("oidc-gen"));
    }
}

/// `ALL_PROXY=socks5://…` (an `ssh -D` tunnel, as libcurl and so
/// oidc-agent take it): discovery and the token requests go through it.
#[test]
fn a_socks5_proxy_carries_the_provider_requests() {
    let (op, env) = provider_and_home();
    let proxy = crate::support::socks::Socks5::start();
    op.accept_rt("rt-socks");
    let mut cmd = env.gen_rt_cmd("socks", &op.issuer, "rt-socks", "--pw-env");
    cmd.env("ALL_PROXY", &proxy.url);
    ok(&cmd.output().expect("oidc-gen"));
    let provider = op
        .issuer
        .trim_start_matches("http://")
        .trim_end_matches('/');
    assert!(
        proxy.targets().iter().any(|t| t == provider),
        "not through the proxy: {:?}",
        proxy.targets()
    );

    // socks5h:// leaves the name to the proxy (a host only it can resolve);
    // socks5:// resolves it here. The issuer is named by host name for it.
    let port = provider.rsplit(':').next().unwrap_or_default();
    let by_name = format!("http://localhost:{port}/");
    op.set(|c| c.discovery_issuer = Some(by_name.clone()));
    for (scheme, seen) in [("socks5h", "localhost"), ("socks5", "127.0.0.1")] {
        let proxy = crate::support::socks::Socks5::start();
        let name = format!("by-{scheme}");
        let mut cmd = env.gen_rt_cmd(&name, &by_name, "rt-socks", "--pw-env");
        cmd.env("ALL_PROXY", proxy.url.replace("socks5", scheme));
        ok(&cmd.output().expect("oidc-gen"));
        let target = format!("{seen}:{port}");
        assert!(
            proxy.targets().contains(&target),
            "{scheme}: {:?}",
            proxy.targets()
        );
    }
}

/// `--no-save` keeps the account in the agent alone: without an agent it
/// fails before anything is sent to the provider (exit 3); with one, the
/// account is loaded and served, and no file is written.
#[test]
fn no_save_needs_an_agent_and_writes_no_file() {
    let (op, mut env) = provider_and_home();
    op.accept_rt("rt-nosave");
    let mut cmd = env.gen_rt_cmd("kept", &op.issuer, "rt-nosave", "--no-save");
    let err = fails(&cmd.output().expect("oidc-gen"), 3);
    assert!(err.contains("--no-save"), "{err}");
    assert!(op.requests().is_empty(), "{:?}", op.requests());

    env.start_agent(&[]);
    let mut cmd = env.gen_rt_cmd("kept", &op.issuer, "rt-nosave", "--no-save");
    ok(&cmd.output().expect("oidc-gen"));
    assert!(ok(&env.run("oidc-token", &["kept"])).starts_with("at-"));
    assert!(
        !env.config_dir().join("kept").exists(),
        "a file was written"
    );
}
