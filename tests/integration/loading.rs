//! Loading an account (`oidc-add`) from a provider that rotates refresh
//! tokens: the load check's rotated token is saved, said when it cannot be,
//! waited for when the agent is stopped during the check, and kept when the
//! account is renamed during the load.

use crate::support::fake_op::{FakeOp, Held};
use crate::support::*;

/// `oidc-add acct` under way, its check refresh held at a provider that
/// rotates: the provider, the agent's environment, the held refresh and
/// the running oidc-add.
fn a_load_held_at_the_provider() -> (FakeOp, Env, Held, Running) {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let held = op.hold_next_refresh();
    let add = env.spawn("oidc-add", &["--pw-env", "acct"]);
    held.arrived();
    (op, env, held, add)
}

/// `oidc-add`'s load check rotates the token; when that one cannot be
/// written, oidc-add says so (exit 0: the agent holds it), as oidc-token does.
#[test]
fn a_load_whose_rotation_cannot_be_saved_warns() {
    let (_op, env, held, add) = a_load_held_at_the_provider();
    let (dir, away) = (env.config_dir(), env.dir.path().join("accounts.away"));
    std::fs::rename(&dir, &away).expect("move dir");
    std::fs::write(&dir, "not a directory").expect("block");
    held.release();
    let out = add.finish();
    ok(&out);
    assert!(
        stderr(&out).contains("warning") && stderr(&out).contains("not saved"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(&dir).expect("unblock");
    std::fs::rename(&away, &dir).expect("restore");
}

/// SIGTERM while `oidc-add`'s check refresh is under way: the agent waits
/// for it and saves the rotated token before it exits (it used to exit at
/// once: the provider rotated, and the file kept the dead token).
#[test]
fn sigterm_during_a_load_check_saves_its_rotation() {
    let (op, mut env, held, add) = a_load_held_at_the_provider();
    let pid = env.agent_pid().expect("agent");
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    env.wait_agent_log("SIGTERM: stopping");
    held.release();
    let _ = add.finish();
    env.stop_agent();
    the_file_holds_the_live_token(&op, &env, "acct");
}

/// SIGTERM while a refresh is under way and another request waits for the
/// account: the one under way finishes and is saved, the waiting one starts
/// none (exit 3). A stopping agent went on refreshing, spending tokens the
/// next agent was loading (tester9 F6).
#[test]
fn a_stopping_agent_starts_no_refresh() {
    let (op, mut env) = agent_with_account_where(|c| c.rotate = true);
    let held = op.hold_next_refresh();
    let first = env.spawn("oidc-token", &["-f", "acct"]);
    held.arrived();
    let refreshes = op.refreshes();
    // Another scope: its own refresh, which waits for the account's lane.
    let second = env.spawn("oidc-token", &["-s", "openid", "acct"]);
    env.wait_agent_log("'acct': a refresh waits for the refresh under way");
    let pid = env.agent_pid().expect("agent");
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
    env.wait_agent_log("SIGTERM: stopping");
    held.release();
    ok(&first.finish());
    let err = fails(&second.finish(), 3);
    assert!(err.contains("the agent is stopping"), "{err}");
    env.stop_agent();
    assert_eq!(op.refreshes(), refreshes, "a refresh started after SIGTERM");
    the_file_holds_the_live_token(&op, &env, "acct");
}

/// `oidc-agent -k` while a refresh waits for the provider: it waits too
/// (saying so after 10 s, the program's own deadline, waited out once
/// here) until the agent has saved the rotation and exited, as
/// `oidc-agent-service stop` does. It said "killed" after 10 s with the
/// agent still there, and a new agent then replayed the file's old token
/// (tester7 F9).
#[test]
fn kill_waits_for_a_refresh_under_way() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let held = op.hold_next_refresh();
    let _token = env.spawn("oidc-token", &["-f", "acct"]);
    held.arrived();
    let pid = env.agent_pid().expect("agent");
    let mut kill = env.cmd("oidc-agent");
    kill.arg("-k").env("OIDCD_PID", pid.to_string());
    let mut kill = Env::spawn_cmd(kill);
    kill.wait_line("the note that -k goes on waiting", |l| {
        l.contains("still finishing a refresh")
    });
    held.release();
    let out = ok(&kill.finish());
    assert!(out.contains(&format!("Agent pid {pid} killed")), "{out}");
    // Gone, or a zombie its parent (this test's environment) has not reaped.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "-k said killed with the agent still there: {state}"
    );
    the_file_holds_the_live_token(&op, &env, "acct");
}

/// `oidc-gen --rename` while `oidc-add` loads the account (its check
/// refresh held at the provider): the rename waits for the load, then has
/// the agent rename the loaded account, so the new file gets the rotated
/// token. Before, it moved the file under the load: the agent saved the
/// rotation to the old name (or not at all), the new file kept the dead one.
#[test]
fn a_rename_during_a_load_waits_and_keeps_the_rotation() {
    let (op, env, held, add) = a_load_held_at_the_provider();
    let mut rename = env.spawn("oidc-gen", &["--pw-env", "acct", "--rename", "moved"]);
    rename.wait_line("the rename waiting for the load", |l| {
        l.contains("waiting for it")
    });
    held.release();
    ok(&add.finish());
    ok(&rename.finish());
    assert!(!env.config_dir().join("acct").exists());
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "moved\n");
    the_file_holds_the_live_token(&op, &env, "moved");
}

/// The lifetime of an account ends while its rotated refresh token cannot
/// be saved: it stays loaded until the save succeeds, then goes, the token
/// in the file. Meanwhile the save is retried every 10 s, not at every
/// tick of the lifetime timer, which wrote a "NOT SAVED" line a second
/// (tester7 F5). Two retries are waited out here.
#[test]
fn a_lifetime_ends_only_once_the_rotation_is_saved() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    ok(&env.run("oidc-add", &["-f", "-t", "100", "--pw-env", "acct"]));
    let (dir, away) = (env.config_dir(), env.dir.path().join("accounts.away"));
    std::fs::rename(&dir, &away).expect("move dir");
    std::fs::write(&dir, "not a directory").expect("block");
    ok(&env.run("oidc-token", &["-f", "acct"]));
    env.wait_agent_log("'acct': NOT SAVED");
    env.advance_clock(200);
    // Two retries after the lifetime ended, by the agent's log times.
    let stamps: Vec<chrono::DateTime<chrono::FixedOffset>> = (0..2)
        .map(|_| {
            let line = env.wait_agent_log("'acct': NOT SAVED");
            let stamp = line.split_whitespace().next().unwrap_or_default();
            chrono::DateTime::parse_from_rfc3339(stamp).expect("an RFC 3339 time first")
        })
        .collect();
    let gap = stamps[1] - stamps[0];
    assert!(gap.num_seconds() >= 5, "retried after {gap}");
    std::fs::remove_file(&dir).expect("unblock");
    std::fs::rename(&away, &dir).expect("restore");
    env.wait_agent_log("'acct': lifetime over; unloaded");
    the_file_holds_the_live_token(&op, &env, "acct");
}

/// Two requests wait for one refresh and stop waiting (their deadline, 1 s
/// here, passes while the provider holds the answer): the refresh is sent
/// once. When the waiter that had started it stopped waiting, the next one
/// started it again: a second refresh nobody asked for, one more rotation
/// (tester9 F6).
#[test]
fn waiters_that_give_up_start_no_second_refresh() {
    let op = FakeOp::start();
    op.set(|c| c.rotate = true);
    let mut env = Env::new();
    env.start_agent(&["--request-timeout", "1"]);
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    let held = op.hold_next_refresh();
    let first = env.spawn("oidc-token", &["-f", "acct"]);
    held.arrived();
    let refreshes = op.refreshes();
    let second = env.run("oidc-token", &["-f", "acct"]);
    fails(&second, 6);
    fails(&first.finish(), 6);
    env.wait_agent_log("'acct': the refresh has not ended within 1 s");
    held.release();
    // Unloading takes the account's lane after any refresh queued for it.
    ok(&env.run("oidc-add", &["-r", "acct"]));
    assert_eq!(op.refreshes(), refreshes, "a second refresh was sent");
}

/// Account `name`'s file holds the one refresh token the provider still
/// accepts.
#[track_caller]
fn the_file_holds_the_live_token(op: &FakeOp, env: &Env, name: &str) {
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let saved = oidc_agent::account::open(&store, name, &PASSWORD.into()).expect("open");
    let valid: Vec<String> = op.valid_rts().into_iter().collect();
    assert_eq!(valid, [saved.config.refresh_token.expose().to_owned()]);
}
