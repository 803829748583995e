//! Every path that touches a loaded account keeps the file, the agent and
//! the provider's rotation in step: rename, `-u`, `--reauthenticate`, `-d`,
//! a rotation that cannot be written, and the races of `add` with a lock and
//! with a refresh, driven deterministically by holding the provider's reply.

use crate::support::fake_op::FakeOp;
use crate::support::*;

fn decrypt_rt_pw(env: &Env, name: &str, pw: &str) -> String {
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let opened = oidc_agent::account::open(&store, name, &pw.into()).expect("decrypt account file");
    opened.config.refresh_token.expose().to_owned()
}

fn decrypt_rt(env: &Env, name: &str) -> String {
    decrypt_rt_pw(env, name, PASSWORD)
}

/// The one refresh token the provider still accepts.
fn only_valid(op: &FakeOp) -> String {
    let valid: Vec<String> = op.valid_rts().into_iter().collect();
    assert_eq!(valid.len(), 1, "{valid:?}");
    valid.into_iter().next().unwrap_or_default()
}

/// Forces a refresh of `acct`, then asserts that its file holds the one
/// refresh token the provider still accepts.
#[track_caller]
fn assert_refresh_saves_the_valid_rt(env: &Env, op: &FakeOp) {
    ok(&env.run("oidc-token", &["-f", "acct"]));
    assert_eq!(decrypt_rt(env, "acct"), only_valid(op));
}

fn account_status(env: &Env, name: &str) -> serde_json::Value {
    env.status()["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == name).cloned())
        .unwrap_or(serde_json::Value::Null)
}

/// Starts `oidc-add -x` and waits until the agent is locking.
fn start_lock(env: &Env) -> std::process::Child {
    let child = env
        .cmd("oidc-add")
        .args(["-x", "--pw-env=LOCKPW"])
        .env("LOCKPW", "lockpw")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("lock");
    env.wait_agent_log("locking;");
    child
}

fn unlock(env: &Env) {
    ok(&env.run_lock("-X", "lockpw"));
}

/// Runs `during` while a forced refresh of `acct` is held at the provider
/// (it has arrived there); then lets the refresh finish, which must succeed.
#[track_caller]
fn while_refresh_held<T>(env: &Env, op: &FakeOp, during: impl FnOnce() -> T) -> T {
    let held = op.hold_next_refresh();
    let refresh = env.spawn("oidc-token", &["-f", "acct"]);
    held.arrived();
    let during = during();
    held.release();
    ok(&refresh.finish());
    during
}

/// Runs `oidc-add ARGS` for `acct` while a refresh of it is held, until the
/// agent logs that the add's `step` (load, unload) waits for that refresh;
/// once the refresh has finished, the add must succeed.
#[track_caller]
fn add_waiting_for_refresh(env: &Env, op: &FakeOp, args: &[&str], step: &str) {
    let add = while_refresh_held(env, op, || {
        let add = env.spawn("oidc-add", args);
        env.wait_agent_log(&format!("'acct': {step} waits for the refresh under way"));
        add
    });
    ok(&add.finish());
}

/// An agent holding account `acct` of a provider that rotates refresh tokens.
fn rotating_account() -> (FakeOp, Env) {
    agent_with_account_where(|c| c.rotate = true)
}

#[test]
fn rename_of_a_loaded_account_keeps_rotating_into_the_new_file() {
    let (op, mut env) = rotating_account();
    ok(&env.run("oidc-token", &["-f", "acct"]));
    // The agent holds the data key: no password is needed (none is given,
    // and none may be asked for).
    let mut rename = env.cmd("oidc-gen");
    rename
        .env_remove("OIDC_ENCRYPTION_PW")
        .args(["--rename", "moved", "--prompt=none", "acct"]);
    ok(&rename.output().expect("oidc-gen --rename"));
    assert!(!env.config_dir().join("acct").exists());
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "moved\n");
    fails(&env.run("oidc-token", &["acct"]), 4);
    // `oidc-token ISSUER` loads the issuer's default account: the new name.
    assert_eq!(issuer_config(&env), format!("{} moved", op.issuer));
    for _ in 0..3 {
        ok(&env.run("oidc-token", &["-f", "moved"]));
    }
    assert_eq!(decrypt_rt(&env, "moved"), only_valid(&op));
    assert!(
        !env.config_dir().join("acct").exists(),
        "no file resurrected"
    );
    env.restart_agent_and_refresh("moved");
    assert_eq!(decrypt_rt(&env, "moved"), only_valid(&op));
}

#[test]
fn password_change_of_a_loaded_account_keeps_its_rotations() {
    let (op, mut env) = rotating_account();
    let update = env.run_with(
        "oidc-gen",
        &["-u", "--pw-env", "acct"],
        "OIDC_NEW_ENCRYPTION_PW",
        "new password",
    );
    ok(&update);
    assert!(
        stderr(&update).contains("re-encrypted under the new password"),
        "{}",
        stderr(&update)
    );
    for _ in 0..3 {
        ok(&env.run("oidc-token", &["-f", "acct"]));
    }
    assert_eq!(decrypt_rt_pw(&env, "acct", "new password"), only_valid(&op));
    env.stop_agent();
    env.start_agent(&[]);
    ok(&env.add_with_password("acct", "new password"));
    ok(&env.run("oidc-token", &["-f", "acct"]));
    assert_eq!(decrypt_rt_pw(&env, "acct", "new password"), only_valid(&op));
}

#[test]
fn reauthentication_of_a_loaded_account_replaces_it_in_the_agent() {
    let (op, mut env) = rotating_account();
    ok(&env.run("oidc-token", &["-f", "acct"]));
    // A new login: the provider issues an unrelated refresh token.
    op.accept_rt("rt-second-login");
    env.reauthenticate_with("acct", "rt-second-login");
    // The agent serves the new grant and saves its rotations.
    ok(&env.run("oidc-token", &["-f", "acct"]));
    ok(&env.run("oidc-token", &["-f", "acct"]));
    let on_disk = decrypt_rt(&env, "acct");
    assert!(op.valid_rts().contains(&on_disk), "{on_disk}");
    env.restart_agent_and_refresh("acct");
}

#[test]
fn delete_of_a_loaded_account_revokes_the_newest_token() {
    let (op, env) = rotating_account();
    ok(&env.run("oidc-token", &["-f", "acct"]));
    let newest = only_valid(&op);
    ok(&env.run("oidc-gen", &["-d", "-y", "--pw-env", "acct"]));
    assert_eq!(op.revoked(), vec![newest]);
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "");
    // The issuer no longer names the deleted account as its default.
    assert_eq!(issuer_config(&env), op.issuer);
}

fn issuer_config(env: &Env) -> String {
    std::fs::read_to_string(env.config_dir().join("issuer.config")).expect("issuer.config")
}

/// Exchanges `a` and `b` in one step (`RENAME_EXCHANGE`). Putting back
/// what a test moved away in two steps (remove the blocker, then rename)
/// leaves a moment with nothing at the path, in which the agent's retry,
/// started by an earlier request, may create the directory or write the
/// file there and so fail the rename or be overwritten by it.
pub(crate) fn swap(a: &std::path::Path, b: &std::path::Path) {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .expect("exchange the two paths");
}

/// The account directory is made unusable (a file where the directory was),
/// so the rotated token cannot be written; nothing is lost, and the next
/// write once the directory is back succeeds.
#[test]
fn a_rotation_that_cannot_be_saved_is_kept_reported_and_retried() {
    let (op, mut env) = rotating_account();
    let dir = env.config_dir();
    let away = env.dir.path().join("accounts.away");
    std::fs::rename(&dir, &away).expect("move dir");
    std::fs::write(&dir, "not a directory").expect("block");

    let out = env.run("oidc-token", &["-f", "acct"]);
    let token = ok(&out);
    assert!(
        token.starts_with("at-") && token.lines().count() == 1,
        "{token}"
    );
    let err = stderr(&out);
    assert!(
        err.lines().count() == 1 && err.contains("warning") && err.contains("not saved"),
        "{err}"
    );
    let st = account_status(&env, "acct");
    assert_eq!(st["unsaved"], true, "{st}");
    let text = ok(&env.run("oidc-agent", &["--status"]));
    assert!(text.contains("UNSAVED"), "{text}");
    // Unloading would drop the only copy: refused.
    let err = fails(&env.run("oidc-add", &["-r", "acct"]), 1);
    assert!(err.contains("not saved"), "{err}");
    let err = fails(&env.run("oidc-add", &["-R"]), 1);
    assert!(err.contains("not saved"), "{err}");
    // So is stopping the agent with -k: its last write would fail too.
    let status: serde_json::Value =
        serde_json::from_str(&ok(&env.run("oidc-agent", &["--status", "--json"]))).expect("json");
    let pid = status["pid"].to_string();
    let kill = env.kill_agent(&pid);
    let err = fails(&kill, 1);
    assert!(
        err.contains("not stopped") && err.contains("'acct'"),
        "{err}"
    );
    // What a kill would do is said as it is: the token waits in the note
    // (sealed) for the next oidc-add, which takes it.
    let note = err
        .trim_end()
        .split_once("the next `oidc-add acct` takes the token from ")
        .map(|(_, note)| std::path::PathBuf::from(note));
    assert!(
        note.is_some_and(|n| n.is_file()) && !err.contains("loses"),
        "{err}"
    );
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the agent was stopped"
    );
    // A cached token is still served, with the warning.
    let out = env.run("oidc-token", &["acct"]);
    assert_eq!(ok(&out), token);
    assert!(stderr(&out).contains("not saved"));
    // Locked, the account is sealed but still unsaved: still refused, and
    // --status still says so.
    ok(&env.run_lock("-x", "l"));
    let err = fails(&env.kill_agent(&pid), 1);
    assert!(
        err.contains("not stopped") && err.contains("'acct'") && err.contains("oidc-add -X"),
        "{err}"
    );
    let text = ok(&env.run("oidc-agent", &["--status"]));
    assert!(
        text.contains("acct (sealed by the lock): UNSAVED"),
        "{text}"
    );
    ok(&env.run_lock("-X", "l"));
    // The agent asked is the one OIDCD_PID names, whatever OIDC_SOCK says.
    let elsewhere = env
        .cmd("oidc-agent")
        .arg("-k")
        .env("OIDCD_PID", &pid)
        .env("OIDC_SOCK", env.dir.path().join("no-agent.sock"))
        .output()
        .expect("oidc-agent -k");
    let err = fails(&elsewhere, 1);
    assert!(err.contains("not stopped"), "{err}");

    // The directory comes back: a request retries the write.
    swap(&away, &dir);
    std::fs::remove_file(&away).expect("unblock");
    ok(&env.run("oidc-token", &["acct"]));
    let fp = oidc_agent::agent::log::fingerprint(&only_valid(&op).as_str().into());
    env.wait_agent_log(&format!("'acct': saved refresh token {fp}"));
    assert_eq!(account_status(&env, "acct")["unsaved"], false);
    assert_eq!(decrypt_rt(&env, "acct"), only_valid(&op));
    let out = env.run("oidc-token", &["acct"]);
    assert_eq!(stderr(&out), "", "no warning once saved");
    env.restart_agent_and_refresh("acct");
}

/// An unsaved rotation is written when the agent is asked to stop.
#[test]
fn sigterm_writes_an_unsaved_rotation() {
    let (op, mut env) = rotating_account();
    let path = env.config_dir().join("acct");
    let kept = env.dir.path().join("acct.kept");
    std::fs::rename(&path, &kept).expect("move file");
    std::fs::create_dir(&path).expect("a directory in the way");
    let out = env.run("oidc-token", &["-f", "acct"]);
    ok(&out);
    assert!(stderr(&out).contains("not saved"));
    swap(&kept, &path);
    std::fs::remove_dir(&kept).expect("rmdir");
    env.stop_agent();
    assert_eq!(decrypt_rt(&env, "acct"), only_valid(&op));
}

/// `oidc-add` overlapping `oidc-add -x`: the lock waits for the add, which
/// lands before the accounts are sealed; nothing is served while locked.
#[test]
fn add_racing_lock_ends_sealed_not_served() {
    let (op, env) = rotating_account();
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let held = op.hold_next_refresh();
    let add = env.spawn("oidc-add", &["--pw-env", "acct"]);
    held.arrived();
    let lock = start_lock(&env);
    held.release();
    ok(&add.finish());
    ok(&lock.wait_with_output().expect("lock"));
    fails(&env.run("oidc-token", &["acct"]), 5);
    unlock(&env);
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "acct\n");
    assert_refresh_saves_the_valid_rt(&env, &op);
}

/// `oidc-add` of a loaded account while its refresh is under way: the add
/// waits for the refresh and never spends the token the refresh rotated
/// (a replay that a rotating provider answers by revoking the grant).
#[test]
fn add_racing_refresh_never_replays_the_token() {
    let (op, env) = rotating_account();
    add_waiting_for_refresh(&env, &op, &["-f", "--pw-env", "acct"], "load");
    assert!(
        op.violations().is_empty(),
        "provider saw: {:?}",
        op.violations()
    );
    assert_refresh_saves_the_valid_rt(&env, &op);
}

/// A refresh under way when the account is unloaded or the agent locked:
/// the rotated token lands in the file (unload) or the vault (lock).
#[test]
fn rotation_survives_unload_and_lock_mid_refresh() {
    let (op, env) = rotating_account();
    add_waiting_for_refresh(&env, &op, &["-r", "acct"], "unload");
    assert_eq!(decrypt_rt(&env, "acct"), only_valid(&op));

    ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    let lock = while_refresh_held(&env, &op, || start_lock(&env));
    ok(&lock.wait_with_output().expect("lock"));
    unlock(&env);
    assert_refresh_saves_the_valid_rt(&env, &op);
}

/// An account is decrypted from the bytes read before its password was
/// asked for (the read that also reports a missing or damaged file), not
/// from a second read: a password command that removes the file meanwhile
/// does not change what is opened.
#[test]
fn the_account_file_is_read_once() {
    let (_op, env) = agent_with_account();
    let file = env.config_dir().join("acct");
    let cmd = format!("rm -- '{}' && printf '%s\\n' '{PASSWORD}'", file.display());
    let out = env
        .cmd("oidc-gen")
        .args(["-p", "acct", "--pw-cmd", &cmd])
        .env_remove("OIDC_ENCRYPTION_PW")
        .output()
        .expect("run");
    let printed: serde_json::Value = serde_json::from_str(&ok(&out)).expect("json");
    assert_eq!(printed["refresh_token"], "rt-initial", "{printed}");
    assert!(!file.exists(), "the password command did not run");
}

/// A file copied under a new name is loaded under that name (the one the
/// person typed), and its rotations are saved into it.
#[test]
fn an_account_file_copied_under_a_new_name_is_that_account() {
    let (op, env) = rotating_account();
    ok(&env.run("oidc-add", &["-r", "acct"]));
    std::fs::copy(env.config_dir().join("acct"), env.config_dir().join("copy")).expect("cp");
    let out = env.run("oidc-add", &["--pw-env", "copy"]);
    assert!(stdout(&out).contains("'copy'"), "{}", stdout(&out));
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "copy\n");
    ok(&env.run("oidc-token", &["-f", "copy"]));
    assert_eq!(decrypt_rt(&env, "copy"), only_valid(&op));
    ok(&env.run("oidc-add", &["-r", "copy"]));
}

/// An account file deleted while the account is loaded is written again
/// at the next rotation, from the file as the agent last saw it: the same
/// password opens it, and nothing is left unsaved. (To be rid of an
/// account, `oidc-gen -d` unloads it first.)
#[test]
fn a_deleted_account_file_is_written_again_at_the_next_rotation() {
    let (op, mut env) = rotating_account();
    std::fs::remove_file(env.config_dir().join("acct")).expect("rm");
    let out = env.run("oidc-token", &["-f", "acct"]);
    ok(&out);
    assert_eq!(stderr(&out), "", "saved, so no warning");
    assert_eq!(decrypt_rt(&env, "acct"), only_valid(&op));
    assert_eq!(account_status(&env, "acct")["unsaved"], false);
    env.restart_agent_and_refresh("acct");
}

/// An older copy of the account file put back (a backup, a sync tool) holds
/// a token the agent has rotated away from: not a new login, so the next
/// save overwrites it without a warning, and `oidc-add` of such a copy keeps
/// the agent's newer token instead of replaying the dead one, which a
/// rotating provider answers by revoking the login.
#[test]
fn an_older_copy_put_back_is_overwritten_and_never_replayed() {
    let (op, env) = rotating_account();
    let file = env.config_dir().join("acct");
    let backup = std::fs::read(&file).expect("backup");
    ok(&env.run("oidc-token", &["-f", "acct"]));
    std::fs::write(&file, &backup).expect("put the copy back");
    ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    assert_refresh_saves_the_valid_rt(&env, &op);
    std::fs::write(&file, &backup).expect("put the copy back");
    let out = env.run("oidc-token", &["-f", "acct"]);
    ok(&out);
    assert_eq!(stderr(&out), "", "saved over the copy, so no warning");
    assert_eq!(decrypt_rt(&env, "acct"), only_valid(&op));
    assert_eq!(account_status(&env, "acct")["unsaved"], false);
}

/// A rotation kept unsaved (the file was rewritten by another login) that
/// the provider then refuses is no longer worth a save: the account unloads.
#[test]
fn a_refused_unsaved_token_no_longer_blocks_the_unload() {
    let (op, env) = rotating_account();
    op.accept_rt("rt-other");
    ok(&env.gen_rt("other", &op.issuer, "rt-other"));
    let file = env.config_dir().join("acct");
    std::fs::copy(env.config_dir().join("other"), &file).expect("another login's file");
    ok(&env.run("oidc-token", &["-f", "acct"]));
    assert_eq!(account_status(&env, "acct")["unsaved"], true);
    fails(&env.run("oidc-add", &["-r", "acct"]), 1);
    op.revoke_all();
    fails(&env.run("oidc-token", &["-f", "acct"]), 7);
    assert_eq!(account_status(&env, "acct")["unsaved"], false);
    ok(&env.run("oidc-add", &["-r", "acct"]));
}

/// A locked agent may hold the account sealed: `--rename` and `-d` refuse
/// with exit 5, as every locked refusal (at the unlock it would write the
/// account again under its old name).
#[test]
fn rename_and_delete_wait_for_the_unlock() {
    let (_op, env) = rotating_account();
    ok(&env.run_lock("-x", "l"));
    let err = fails(
        &env.run("oidc-gen", &["--rename", "new", "--pw-env", "acct"]),
        5,
    );
    assert!(
        err.contains("locked") && err.contains("oidc-add -X"),
        "{err}"
    );
    let err = fails(&env.run("oidc-gen", &["-d", "-y", "--pw-env", "acct"]), 5);
    assert!(err.contains("locked"), "{err}");
    assert!(env.config_dir().join("acct").is_file());
    ok(&env.run_lock("-X", "l"));
    ok(&env.run("oidc-gen", &["--rename", "new", "--pw-env", "acct"]));
}
