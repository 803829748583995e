//! Ctrl-C in oidc-gen: while it waits for the user (the device-flow poll, the
//! browser) it ends with exit code 130 and one line, saving nothing; after a
//! wait, in a phase that blocks outside the async runtime, Ctrl-C still ends
//! it with 130 instead of being swallowed by the handler the wait installed.
//! During an import's check refresh and save, a signal waits for the save,
//! and a provider that answers the check late is waited for.

use crate::support::fake_op::{FakeOp, PUBLIC_CLIENT};
use crate::support::*;

/// Sends oidc-gen the Ctrl-C (SIGINT); asserts that it ends with 130,
/// saved no account, and that its line names the wait it interrupted
/// (`Some("device login")`), or, after the wait (`None`), names none.
#[track_caller]
fn interrupt(oidc_gen: Running, env: &Env, wait: Option<&str>) {
    let pid = rustix::process::Pid::from_raw(oidc_gen.pid() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let err = fails(&oidc_gen.finish(), 130);
    assert!(!env.config_dir().join("acct").exists(), "saved: {err}");
    match wait {
        Some(wait) => assert!(
            err.contains(&format!(
                "interrupted while waiting for the {wait}; nothing was saved"
            )),
            "{err}"
        ),
        None => assert!(!err.contains("interrupted while"), "{err}"),
    }
}

/// `oidc-gen NAME` for a public client with `flow`, password from `pw`.
fn args<'a>(issuer: &'a str, flow: &'a str, pw: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "acct",
        "--issuer",
        issuer,
        "--flow",
        flow,
        "--no-url-call",
        "--client-id",
        PUBLIC_CLIENT,
        "--pub",
    ];
    args.extend_from_slice(pw);
    args
}

#[test]
fn ctrl_c_while_polling_the_device_flow_exits_130() {
    let op = FakeOp::start();
    op.set(|c| c.device_pending_polls = 1000);
    let env = Env::new();
    let mut oidc_gen = env.spawn("oidc-gen", &args(&op.issuer, "device", &["--pw-env"]));
    oidc_gen.wait_line("user code", |l| l.contains("WDJB-"));
    interrupt(oidc_gen, &env, Some("device login"));
}

#[test]
fn ctrl_c_while_waiting_for_the_browser_exits_130() {
    let (op, env) = provider_and_home();
    let mut oidc_gen = env.spawn("oidc-gen", &args(&op.issuer, "code", &["--pw-env"]));
    oidc_gen.auth_url();
    interrupt(oidc_gen, &env, Some("browser login"));
    assert!(op.grants("authorization_code").is_empty());
}

/// A client registered for a login given up at the browser is deleted
/// (RFC 7592): no account will ever use it.
#[test]
fn ctrl_c_while_waiting_for_the_browser_deletes_the_client_it_registered() {
    let (op, env) = provider_and_home();
    let args = [
        "acct",
        "--issuer",
        &op.issuer,
        "--flow",
        "code",
        "--no-url-call",
        "--pw-env",
    ];
    let mut oidc_gen = env.spawn("oidc-gen", &args);
    oidc_gen.auth_url();
    let registered = op.registrations();
    assert_eq!(registered.len(), 1, "one client registered");
    let pid = rustix::process::Pid::from_raw(oidc_gen.pid() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let err = fails(&oidc_gen.finish(), 130);
    assert!(
        err.contains("interrupted while waiting for the browser login; nothing was saved")
            && err.contains("deleted the client"),
        "{err}"
    );
    assert_eq!(op.deleted_clients().len(), 1, "{err}");
}

/// After the device login, oidc-gen opens the password file: a FIFO nobody
/// writes, so it blocks there (outside the runtime) until the Ctrl-C. It
/// says the login was approved once the wait is over. The Ctrl-C still
/// ends it with 130, and revokes the login nothing holds.
#[test]
fn ctrl_c_at_the_password_after_the_login_exits_130_and_revokes_it() {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    let (op, env) = provider_and_home();
    let fifo = env.dir.path().join("pw.fifo");
    mknodat(CWD, &fifo, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).expect("mkfifo");
    let fifo_arg = fifo.to_str().expect("utf-8 path");
    let mut cmd = env.cmd("oidc-gen");
    cmd.env_remove("OIDC_ENCRYPTION_PW")
        .args(args(&op.issuer, "device", &["--pw-file", fifo_arg]));
    let before = op.valid_rts();
    let mut oidc_gen = Env::spawn_cmd(cmd);
    oidc_gen.wait_line("approval", |l| l.contains("The login was approved"));
    // At the password now, not on the way to it: blocked in the FIFO's open.
    wait_for_proc(oidc_gen.pid(), "wchan", "wait_for_partner");
    let login: Vec<String> = op.valid_rts().difference(&before).cloned().collect();
    assert_eq!(login.len(), 1, "the login's refresh token: {login:?}");
    let pid = rustix::process::Pid::from_raw(oidc_gen.pid() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let err = fails(&oidc_gen.finish(), 130);
    assert!(!env.config_dir().join("acct").exists(), "saved: {err}");
    assert!(
        err.contains("interrupted while asking for the new account's password; nothing was saved")
            && err.contains("the new login was revoked at the provider"),
        "{err}"
    );
    assert!(!op.valid_rts().contains(&login[0]), "left live: {login:?}");
}

/// Ctrl-C or SIGTERM while an imported token's check refresh is under way:
/// a rotating provider has invalidated the pasted token by then, so oidc-gen
/// saves the new one first, then exits with 128 + the signal's number.
#[test]
fn a_signal_during_an_imports_refresh_waits_for_the_save() {
    use rustix::process::Signal;
    for (signal, code) in [(Signal::INT, 130), (Signal::TERM, 143)] {
        let op = FakeOp::start();
        op.set(|c| c.rotate = true);
        let env = Env::new();
        let held = op.hold_next_refresh();
        let mut oidc_gen =
            Env::spawn_cmd(env.gen_rt_cmd("acct", &op.issuer, "rt-initial", "--pw-env"));
        held.arrived();
        let pid = rustix::process::Pid::from_raw(oidc_gen.pid() as i32).expect("pid");
        rustix::process::kill_process(pid, signal).expect("signal");
        oidc_gen.wait_line("deferral", |l| {
            l.contains("finishing saving the refresh token")
        });
        held.release();
        fails(&oidc_gen.finish(), code);
        let store = oidc_agent::account::store::Store::new(env.config_dir());
        let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into())
            .expect("the account was saved");
        let rt = saved.config.refresh_token.expose().to_owned();
        assert!(op.valid_rts().contains(&rt), "the live token: {rt}");
        assert!(!op.valid_rts().contains("rt-initial"), "rotated");
    }
}

/// A provider that answers the check refresh of an imported token after
/// oidc-gen's 15 s request deadline: oidc-gen says it waits, and waits,
/// then saves the rotated token. It used to give up at 15 s with "try
/// again": the provider had rotated the token, so the pasted one was spent,
/// and trying again was a replay that revokes the login. The 15 s are
/// oidc-gen's own; the test waits on its line, and no longer.
#[test]
fn a_late_answer_to_the_check_refresh_is_waited_for() {
    let op = FakeOp::start();
    op.set(|c| c.rotate = true);
    let env = Env::new();
    let held = op.hold_next_refresh();
    let mut oidc_gen = Env::spawn_cmd(env.gen_rt_cmd("acct", &op.issuer, "rt-initial", "--pw-env"));
    held.arrived();
    oidc_gen.wait_line("the wait", |l| {
        l.contains("the provider has not answered yet; waiting for its answer")
    });
    held.release();
    ok(&oidc_gen.finish());
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let saved = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("saved");
    let rt = saved.config.refresh_token.expose().to_owned();
    assert!(op.valid_rts().contains(&rt), "the live token: {rt}");
    assert!(op.violations().is_empty(), "{:?}", op.violations());
}
