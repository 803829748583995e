//! A login given up leaves nothing at the provider that no account will
//! use: the client oidc-gen registered for it is deleted (RFC 7592 §2.3) and
//! a login granted but not saved is revoked (RFC 7009), whether an error or
//! a Ctrl-C ends it, and from the moment the tokens arrive.

use crate::support::*;

/// `oidc-gen acct` with a dynamically registered client and the device
/// flow, and `more` options.
fn registering<'a>(issuer: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["acct", "--issuer", issuer, "--flow", "device"];
    args.extend_from_slice(more);
    args
}

#[test]
fn a_denied_login_deletes_the_client_it_registered() {
    let (op, env) = provider_and_home();
    op.set(|c| c.device_deny = true);
    let err = fails(
        &env.run("oidc-gen", &registering(&op.issuer, &["--pw-env"])),
        8,
    );
    assert_eq!(op.registrations().len(), 1, "{err}");
    assert_eq!(op.deleted_clients().len(), 1, "{err}");
    assert!(
        err.contains("deleted the client") && err.contains("denied"),
        "{err}"
    );
    assert!(!env.config_dir().join("acct").exists());
}

/// The password is had only after the login (`--pw-cmd` runs then): when
/// it cannot be, the login is revoked and its client deleted.
#[test]
fn a_password_that_cannot_be_had_after_the_login_revokes_it() {
    let (op, env) = provider_and_home();
    let before = op.valid_rts();
    let mut cmd = env.cmd("oidc-gen");
    cmd.env_remove("OIDC_ENCRYPTION_PW")
        .args(registering(&op.issuer, &["--pw-cmd", "false"]));
    let out = cmd.output().expect("run oidc-gen");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("The login was approved")
            && err.contains("the new login was revoked at the provider; deleted the client"),
        "{err}"
    );
    assert_eq!(op.valid_rts(), before, "left live: {err}");
    assert_eq!(op.revoked().len(), 1, "{err}");
    assert_eq!(op.deleted_clients().len(), 1, "{err}");
    assert!(!env.config_dir().join("acct").exists());
}

/// A Ctrl-C as soon as the approval is said (the password is read from a
/// FIFO nobody writes, so oidc-gen cannot have saved anything) revokes the
/// login and deletes the client: the undo is armed before the line.
#[test]
fn ctrl_c_as_the_approval_is_said_revokes_the_login() {
    let (op, env) = provider_and_home();
    let fifo = env.dir.path().join("pw.fifo");
    mkfifo(&fifo);
    let fifo_arg = fifo.to_str().expect("utf-8 path");
    let mut cmd = env.cmd("oidc-gen");
    cmd.env_remove("OIDC_ENCRYPTION_PW")
        .args(registering(&op.issuer, &["--pw-file", fifo_arg]));
    let before = op.valid_rts();
    let mut oidc_gen = Env::spawn_cmd(cmd);
    oidc_gen.wait_line("approval", |l| l.contains("The login was approved"));
    let pid = rustix::process::Pid::from_raw(oidc_gen.pid() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let err = fails(&oidc_gen.finish(), 130);
    assert_eq!(op.valid_rts(), before, "left live: {err}");
    assert_eq!(op.revoked().len(), 1, "{err}");
    assert_eq!(op.deleted_clients().len(), 1, "{err}");
    assert!(!env.config_dir().join("acct").exists(), "saved: {err}");
}

/// A login that cannot be kept at the save (another oidc-gen saved an
/// account of that name meanwhile, and the agent keeps that one) is
/// revoked too: nothing holds it.
#[test]
fn a_login_the_save_cannot_keep_is_revoked() {
    use crate::support::fake_op::PUBLIC_CLIENT;
    let (op, mut env) = provider_and_home();
    env.start_agent(&[]);
    op.accept_rt("rt-second");
    let fifo = env.dir.path().join("pw.fifo");
    mkfifo(&fifo);
    let fifo_arg = fifo.to_str().expect("utf-8 path");
    let mut cmd = env.cmd("oidc-gen");
    cmd.env_remove("OIDC_ENCRYPTION_PW").args([
        "dup",
        "--issuer",
        &op.issuer,
        "--flow",
        "device",
        "--client-id",
        PUBLIC_CLIENT,
        "--pub",
        "--pw-file",
        fifo_arg,
    ]);
    let before = op.valid_rts();
    let mut first = Env::spawn_cmd(cmd);
    first.wait_line("approval", |l| l.contains("The login was approved"));
    ok(&env.gen_rt("dup", &op.issuer, "rt-second"));
    std::fs::write(&fifo, PASSWORD).expect("the password, through the FIFO");
    let err = fails(&first.finish(), 1);
    assert!(
        err.contains("saved meanwhile stays") && err.contains("the new login was revoked"),
        "{err}"
    );
    assert_eq!(op.valid_rts(), before, "left live: {err}");
    assert_eq!(op.revoked().len(), 1, "{err}");
}
