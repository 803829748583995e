//! One account loaded in two agents (two shells' `eval "$(oidc-agent)"`, or
//! a shell's agent beside the service's): with a provider that rotates
//! refresh tokens, each agent refreshes with the token the other saved, so
//! neither replays one the provider has already replaced. And an account
//! changed on disk from a shell that does not reach the agent holding it
//! (renamed, logged in again) is followed by that agent, not clobbered.

use std::process::{Output, Stdio};

use crate::r#gen::no_violations;
use crate::support::*;

/// A second agent on the same account directory (another shell's).
struct Second<'a> {
    env: &'a Env,
    sock: std::path::PathBuf,
    agent: std::process::Child,
}

impl<'a> Second<'a> {
    fn start(env: &'a Env) -> Self {
        let sock = env.dir.path().join("tmp").join("second.sock");
        let agent = env
            .cmd("oidc-agent")
            .args(["--console", "--socket-path"])
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("second agent");
        let second = Self { env, sock, agent };
        let deadline = std::time::Instant::now() + PROCESS_WAIT;
        while second.run("oidc-add", &["-a"]).status.code() != Some(0) {
            assert!(
                std::time::Instant::now() < deadline,
                "the second agent never served"
            );
        }
        second
    }

    /// `name` with `args` in the second agent's shell.
    fn run(&self, name: &str, args: &[&str]) -> Output {
        self.env
            .cmd(name)
            .args(args)
            .env("OIDC_SOCK", &self.sock)
            .output()
            .expect("run")
    }
}

impl Drop for Second<'_> {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
    }
}

#[test]
fn two_agents_with_one_account_take_turns_without_a_replay() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let b = Second::start(&env);
    // B's load checks the account with a refresh: rotated, saved to the file.
    ok(&b.run("oidc-add", &["--pw-env", "acct"]));
    for _ in 0..3 {
        ok(&env.run("oidc-token", &["-f", "acct"]));
        ok(&b.run("oidc-token", &["-f", "acct"]));
    }
    one_live_login(&op);
}

/// Two agents holding one account refresh it one at a time: while one
/// waits for a slow provider, the other waits for that answer too, then
/// refreshes with the token saved, instead of sending the same one (a
/// replay: a rotating provider revokes the login). Their refreshes ahead of
/// expiry come at nearly the same moment, so one slow answer was enough
/// (tester7 F10).
#[test]
fn two_agents_refresh_one_at_a_time() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let b = Second::start(&env);
    ok(&b.run("oidc-add", &["--pw-env", "acct"]));
    let held = op.hold_next_refresh();
    let mut slow = env.cmd("oidc-token");
    slow.args(["-f", "acct"]).env("OIDC_SOCK", &b.sock);
    let slow = Env::spawn_cmd(slow);
    held.arrived();
    let here = env.spawn("oidc-token", &["-f", "acct"]);
    env.wait_agent_log("'acct': another agent is refreshing it; waiting for its answer");
    held.release();
    ok(&slow.finish());
    ok(&here.finish());
    one_live_login(&op);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    ok(&b.run("oidc-token", &["-f", "acct"]));
    one_live_login(&op);
}

/// `name` with `args` in a shell that reaches no agent.
fn elsewhere(env: &Env, name: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = env.cmd(name);
    cmd.env_remove("OIDC_SOCK").args(args);
    for (var, value) in vars {
        cmd.env(var, value);
    }
    cmd.output().expect("run")
}

/// The refresh token account file `name` holds.
fn on_disk(env: &Env, name: &str) -> String {
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let opened = oidc_agent::account::open(&store, name, &PASSWORD.into()).expect("account");
    opened.config.refresh_token.expose().to_owned()
}

/// The name written inside account file `name`.
fn name_inside(env: &Env, name: &str) -> String {
    let bytes = std::fs::read(env.config_dir().join(name)).expect("read");
    let (plain, _) =
        oidc_agent::account::format::open(&bytes, PASSWORD.as_bytes()).expect("decrypt");
    let json: serde_json::Value = serde_json::from_slice(&plain).expect("json");
    json["name"].as_str().expect("a name").to_owned()
}

/// `oidc-gen --rename` where the agent holding the account is not reached
/// (it keeps the data key): the agent saves its next rotation into the
/// renamed file, not into a file of the old name written again, so a load
/// of the new name gets the live token; and a rotation saved there by
/// another agent is taken before the next refresh, not replayed.
#[test]
fn a_rename_in_another_shell_is_followed_by_the_agent() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    rename_elsewhere(&env);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    assert!(!env.config_dir().join("acct").exists(), "written again");
    let live = op.valid_rts();
    assert!(live.contains(&on_disk(&env, "moved")), "{live:?}");
    assert_eq!(name_inside(&env, "moved"), "moved");

    // Another agent loads the new name and rotates it; ours follows.
    let b = Second::start(&env);
    ok(&b.run("oidc-add", &["--pw-env", "moved"]));
    ok(&b.run("oidc-token", &["-f", "moved"]));
    ok(&env.run("oidc-token", &["-f", "acct"]));
    no_violations(&op);
    assert!(op.valid_rts().contains(&on_disk(&env, "moved")));
}

/// `oidc-gen --rename` through an agent after another agent holding the
/// same account saved a rotation: the agent renaming takes that newer
/// token from the file first, so the rename is done (it was refused as a
/// file changed by another program, with a remedy naming the new name,
/// which did not exist yet), and both agents go on without a replay.
#[test]
fn a_rename_takes_the_rotation_another_agent_saved() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let b = Second::start(&env);
    ok(&b.run("oidc-add", &["--pw-env", "--skip-check", "acct"]));
    ok(&b.run("oidc-token", &["-f", "acct"]));
    ok_saying(
        &env.run("oidc-gen", &["--rename", "moved", "acct"]),
        "Renamed account 'acct' to 'moved'",
    );
    assert!(op.valid_rts().contains(&on_disk(&env, "moved")));
    ok(&env.run("oidc-token", &["-f", "moved"]));
    ok(&b.run("oidc-token", &["-f", "acct"]));
    ok(&env.run("oidc-token", &["-f", "moved"]));
    one_live_login(&op);
}

/// After such a rename, asking the agent for the new name serves the
/// account it holds under that name from then on (it used to be "not
/// loaded": a second load of the same file, with a password prompt).
#[test]
fn the_new_name_is_served_by_the_agent_holding_the_account() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let cached = ok(&env.run("oidc-token", &["acct"]));
    let refreshes = op.refreshes();
    rename_elsewhere(&env);
    // With its cached token: no refresh (a rotation) it does not need.
    assert_eq!(ok(&env.run("oidc-token", &["moved"])), cached);
    assert_eq!(op.refreshes(), refreshes);
    let out = env.run("oidc-token", &["-f", "moved"]);
    ok(&out);
    let loaded = env.run("oidc-add", &["-a"]);
    assert_eq!(stdout(&loaded).trim(), "moved", "{}", stderr(&loaded));
    env.wait_agent_log("'moved': saved refresh token");
    assert!(!env.config_dir().join("acct").exists(), "written again");
    assert!(op.valid_rts().contains(&on_disk(&env, "moved")));
    no_violations(&op);
}

/// The same once the agent has followed the renamed file for a save: it
/// serves the new name as the account it holds (it said "not loaded", and
/// the `oidc-add NEW` it advised made a second copy of the login whose
/// refreshes replayed the first's tokens).
#[test]
fn the_new_name_is_served_after_the_agent_followed_the_file() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    rename_elsewhere(&env);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    env.wait_agent_log("(oidc-gen --rename elsewhere)");
    ok(&env.run("oidc-token", &["-f", "moved"]));
    ok(&env.run("oidc-add", &["--pw-env", "moved"]));
    let loaded = env.run("oidc-add", &["-a"]);
    assert_eq!(stdout(&loaded).trim(), "moved", "{}", stderr(&loaded));
    one_live_login(&op);
}

/// One account file under a second name (a link to it): not loaded a
/// second time into the agent holding it, whose two copies would each
/// spend the other's refresh tokens.
#[test]
fn an_alias_of_a_loaded_file_is_not_loaded_twice() {
    let (_op, env) = agent_with_account_where(|c| c.rotate = true);
    let dir = env.config_dir();
    std::os::unix::fs::symlink(dir.join("acct"), dir.join("alias")).expect("link");
    let err = fails(&env.run("oidc-add", &["--pw-env", "alias"]), 2);
    assert!(
        err.contains("is the file of account 'acct', loaded already"),
        "{err}"
    );
}

/// The same while the agent holds a rotation it could not save: `oidc-add
/// NEW` in its shell loads the account again, keeping that newest token
/// (checking the file's older one was a replay that revokes the login).
#[test]
fn loading_the_new_name_keeps_the_holders_newest_token() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    holding_an_unsaved_rotation(&env);
    rename_elsewhere(&env);
    ok(&env.run("oidc-add", &["--pw-env", "moved"]));
    ok(&env.run("oidc-token", &["-f", "moved"]));
    env.wait_agent_log("'moved': saved refresh token");
    one_live_login(&op);
    assert!(op.valid_rts().contains(&on_disk(&env, "moved")));
}

/// A file whose name is not the one inside it (renamed by hand, or written
/// by an agent that followed a rename under the name it serves): a new
/// login is saved to that file, the account the person named, not to a
/// file of the name inside, which made a second account.
#[test]
fn a_new_login_is_saved_under_the_file_name() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let dir = env.config_dir();
    std::fs::rename(dir.join("acct"), dir.join("moved")).expect("rename by hand");
    op.accept_rt("rt-new-login");
    let args = ["--reauthenticate", "moved", "--rt-env", "--pw-env"];
    let vars = [("OIDC_REFRESH_TOKEN", "rt-new-login")];
    ok_saying(&elsewhere(&env, "oidc-gen", &args, &vars), "'moved'");
    assert!(!dir.join("acct").exists(), "saved under the name inside");
    assert!(op.valid_rts().contains(&on_disk(&env, "moved")));
}

/// `oidc-gen --reauthenticate` where the agent holding the account is not
/// reached: the new login keeps the file's data key, so the agent reads it
/// there and refreshes with it (it used to find a file it could not open,
/// call it damaged and keep the old login unsaved).
#[test]
fn a_new_login_in_another_shell_is_taken_by_the_agent() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    op.accept_rt("rt-new-login");
    let args = ["--reauthenticate", "acct", "--rt-env", "--pw-env"];
    let vars = [("OIDC_REFRESH_TOKEN", "rt-new-login")];
    ok(&elsewhere(&env, "oidc-gen", &args, &vars));
    let saved = on_disk(&env, "acct");
    let out = env.run("oidc-token", &["-f", "acct"]);
    ok(&out);
    assert!(!stderr(&out).contains("not saved"), "{}", stderr(&out));
    let refresh = op.calls();
    let last = refresh.last().expect("a refresh");
    assert_eq!(last.form("refresh_token").as_deref(), Some(saved.as_str()));
    no_violations(&op);
    assert!(op.valid_rts().contains(&on_disk(&env, "acct")));
}

/// `oidc-gen -d` where the agent holding the account is not reached: the
/// token is revoked and the file gone, so the agent's refusal says to
/// unload the account, not to re-authenticate one that no longer exists.
#[test]
fn a_deletion_in_another_shell_is_said_as_such() {
    let (_op, env) = agent_with_account();
    ok(&elsewhere(
        &env,
        "oidc-gen",
        &["-d", "-y", "acct", "--pw-env"],
        &[],
    ));
    let err = fails(&env.run("oidc-token", &["-f", "acct"]), 7);
    assert!(
        err.contains("account 'acct' was deleted") && err.contains("`oidc-add -r acct`"),
        "{err}"
    );
}

/// Agent A holds a rotation it cannot save (here its file was re-keyed
/// behind its back, which it cannot open; a full disk does the same). Its
/// newest token is then only in A: loading the file's older one into
/// another agent, or refreshing with it there, would be a replay that
/// revokes the login, A's token with it. Both are refused, naming A.
#[test]
fn a_token_held_unsaved_by_one_agent_is_not_replayed_by_another() {
    use oidc_agent::account::format::KdfParams;
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let b = Second::start(&env);
    // B holds the file's token too (loaded without spending it).
    ok(&b.run("oidc-add", &["--pw-env", "--skip-check", "acct"]));
    let store = oidc_agent::account::store::Store::new(env.config_dir());
    let opened = oidc_agent::account::open(&store, "acct", &PASSWORD.into()).expect("open");
    oidc_agent::account::save(
        &store,
        &opened.config,
        &PASSWORD.into(),
        KdfParams::TESTING,
        oidc_agent::account::Existing::Replace,
    )
    .expect("re-key");
    let out = env.run("oidc-token", &["-f", "acct"]);
    ok(&out);
    assert!(stderr(&out).contains("not saved"), "{}", stderr(&out));

    let err = fails(&b.run("oidc-token", &["-f", "acct"]), 1);
    assert!(
        err.contains("held by the agent at") && err.contains("oidc-token acct`"),
        "{err}"
    );
    ok(&b.run("oidc-add", &["-r", "acct"]));
    let err = fails(&b.run("oidc-add", &["--pw-env", "acct"]), 1);
    assert!(err.contains("held by the agent at"), "{err}");
    no_violations(&op);
    // A's newest token is alive, and A still serves.
    ok(&env.run("oidc-token", &["-f", "acct"]));
}

/// The same with the account directory unusable (a file where it was) and
/// both agents holding the account: B's refresh is refused while A holds
/// the newest token unsaved; once A has written it, B takes it from the
/// file and refreshes with it.
#[test]
fn the_holder_lets_go_once_it_has_saved() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    let b = Second::start(&env);
    ok(&b.run("oidc-add", &["--pw-env", "--skip-check", "acct"]));
    let away = block_account_dir(&env);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    let err = fails(&b.run("oidc-token", &["-f", "acct"]), 1);
    assert!(err.contains("held by the agent at"), "{err}");

    unblock_account_dir(&env, &away);
    // A request retries the write.
    ok(&env.run("oidc-token", &["acct"]));
    env.wait_agent_log("'acct': saved refresh token");
    ok(&b.run("oidc-token", &["-f", "acct"]));
    one_live_login(&op);
}

/// An agent killed (or stopped on a disk still full) while it holds a
/// rotation it could not write: the token is not lost with it. Its note
/// keeps it sealed, and the next `oidc-add` takes it instead of the file's
/// older one (a replay that would revoke the login); that agent writes it
/// to the file.
#[test]
fn a_token_left_by_a_killed_agent_is_taken_by_the_next_load() {
    let (op, mut env) = agent_with_account_where(|c| c.rotate = true);
    killed_holding_an_unsaved_rotation(&mut env);
    env.start_agent(&[]);
    next_load_takes_the_newest(&op, &env, "acct");
}

/// The same with the account renamed (`oidc-gen --rename`, no agent
/// reached) before the next load: the note follows the file, so the load
/// of the new name still takes the newest token (it used to find no note
/// under the new path and replay the file's older token).
#[test]
fn a_token_left_behind_follows_a_rename() {
    let (op, mut env) = agent_with_account_where(|c| c.rotate = true);
    killed_holding_an_unsaved_rotation(&mut env);
    rename_elsewhere(&env);
    env.start_agent(&[]);
    next_load_takes_the_newest(&op, &env, "moved");
}

/// The agent refreshes `acct` on an account directory it cannot write (a
/// file where it was), so the rotation is only in memory and in its note;
/// then it is killed, and the directory is back.
fn killed_holding_an_unsaved_rotation(env: &mut Env) {
    let away = block_account_dir(env);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    env.sigkill_agent();
    unblock_account_dir(env, &away);
}

/// `oidc-add NAME` takes the token a killed agent left, and the agent it
/// loads it into refreshes with it and saves the rotation: no replay, one
/// live token, in the file.
fn next_load_takes_the_newest(op: &crate::support::fake_op::FakeOp, env: &Env, name: &str) {
    let out = env.run("oidc-add", &["--pw-env", name]);
    ok_saying(&out, "took the newest refresh token");
    ok(&env.run("oidc-token", &["-f", name]));
    env.wait_agent_log(&format!("'{name}': saved refresh token"));
    one_live_login(op);
    assert!(op.valid_rts().contains(&on_disk(env, name)));
}

/// Agent A holds a rotation it could not save; the account is renamed in
/// a shell that does not reach A. Loading the new name into another agent
/// is still refused while A runs (the note went with the file), and A
/// saves into the renamed file once it can.
#[test]
fn a_holders_note_follows_a_rename_in_another_shell() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    holding_an_unsaved_rotation(&env);
    rename_elsewhere(&env);

    let b = Second::start(&env);
    let err = fails(&b.run("oidc-add", &["--pw-env", "moved"]), 1);
    assert!(err.contains("held by the agent at"), "{err}");
    // A request retries A's write, into the renamed file.
    ok(&env.run("oidc-token", &["acct"]));
    env.wait_agent_log("(oidc-gen --rename elsewhere): saved refresh token");
    ok(&b.run("oidc-add", &["--pw-env", "moved"]));
    ok(&b.run("oidc-token", &["-f", "moved"]));
    one_live_login(&op);
}

/// Renamed through the agent that holds an unsaved rotation, the account's
/// new file gets that newest token, and the agent's note goes: a new
/// account made under the old name is then loaded elsewhere, not refused
/// as held by this agent.
#[test]
fn a_rename_through_the_holder_leaves_no_note_behind() {
    let (op, env) = agent_with_account_where(|c| c.rotate = true);
    holding_an_unsaved_rotation(&env);
    ok(&env.run("oidc-gen", &["--rename", "moved", "acct"]));
    assert!(op.valid_rts().contains(&on_disk(&env, "moved")));

    env.login_made_elsewhere(&op, "moved", "acct", "rt-other-login");
    let b = Second::start(&env);
    ok(&b.run("oidc-add", &["--pw-env", "acct"]));
}

/// Puts a file where the account directory was (no account file can be
/// written there, as on a full disk); returns where the directory went.
fn block_account_dir(env: &Env) -> std::path::PathBuf {
    let away = env.dir.path().join("accounts.away");
    std::fs::rename(env.config_dir(), &away).expect("move dir");
    std::fs::write(env.config_dir(), "not a directory").expect("block");
    away
}

/// Puts the account directory back.
fn unblock_account_dir(env: &Env, away: &std::path::Path) {
    crate::lifecycle::swap(away, &env.config_dir());
    std::fs::remove_file(away).expect("unblock");
}

/// No replay reached the provider, and one login is alive: every agent
/// ended on the same newest token.
#[track_caller]
fn one_live_login(op: &crate::support::fake_op::FakeOp) {
    no_violations(op);
    assert_eq!(op.valid_rts().len(), 1, "one live token");
}

/// The agent refreshes `acct` while no account file can be written, so it
/// holds the rotation unsaved (and notes so); then the directory is back.
fn holding_an_unsaved_rotation(env: &Env) {
    let away = block_account_dir(env);
    ok(&env.run("oidc-token", &["-f", "acct"]));
    unblock_account_dir(env, &away);
}

/// `oidc-gen --rename moved acct` in a shell that does not reach the agent.
fn rename_elsewhere(env: &Env) {
    let args = ["--rename", "moved", "acct", "--pw-env"];
    ok(&elsewhere(env, "oidc-gen", &args, &[]));
}
