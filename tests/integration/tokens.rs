//! Tokens where tools look for them, against the fake provider: `--json`,
//! `--kube`, `--rejected`, `git-credential-oidc`, and the token file's
//! life (written 0600 with the cached token, gone on unload, lock and stop).

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Stdio;

use crate::support::*;

fn git_helper(env: &Env, args: &[&str], input: &str) -> String {
    let mut child = env
        .cmd("git-credential-oidc")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write request");
    ok(&child.wait_with_output().expect("helper"))
}

#[test]
fn json_kube_rejected_and_git_helper() {
    let (_op, env) = agent_with_account();

    let json: serde_json::Value =
        serde_json::from_str(&ok(&env.run("oidc-token", &["--json", "acct"]))).expect("json");
    let first = json["access_token"].as_str().expect("token").to_owned();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["account"], "acct");
    assert!(json["expires_at"].as_i64().is_some_and(|e| e > 0), "{json}");
    fails(&env.run("oidc-token", &["--json", "-c", "acct"]), 2);

    let kube: serde_json::Value =
        serde_json::from_str(&ok(&env.run("oidc-token", &["--kube", "acct"]))).expect("json");
    assert_eq!(kube["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(kube["status"]["token"].as_str(), Some(first.as_str()));

    // Cached: the same token; rejected: a new one, from a refresh.
    assert_eq!(ok(&env.run("oidc-token", &["acct"])).trim(), first);
    let second = ok(&env.run("oidc-token", &["--rejected", "acct"]));
    assert_ne!(
        second.trim(),
        first,
        "--rejected served the refused token again"
    );

    let request = "protocol=https\nhost=git.example\n\n";
    let got = git_helper(&env, &["acct", "get"], request);
    let mut lines = got.lines();
    assert_eq!(lines.next(), Some("username=oauth2"));
    assert_eq!(
        lines.next(),
        Some(format!("password={}", second.trim()).as_str())
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("password_expiry_utc=")),
        "{got}"
    );
    assert_eq!(git_helper(&env, &["acct", "store"], request), "");
    // Another helper's password refused: the agent's token stays cached.
    let other = "protocol=https\nhost=git.example\nusername=oauth2\npassword=not-ours\n\n";
    assert_eq!(git_helper(&env, &["acct", "erase"], other), "");
    assert!(
        got.contains(&ok(&env.run("oidc-token", &["acct"]))),
        "erase of a password not ours dropped the agent's token"
    );
    let erase = format!(
        "protocol=https\nhost=git.example\nusername=oauth2\npassword={}\n\n",
        second.trim()
    );
    assert_eq!(git_helper(&env, &["acct", "erase"], &erase), "");
    let after = git_helper(&env, &["--username", "bob", "acct", "get"], request);
    assert!(after.starts_with("username=bob\npassword="), "{after}");
    assert!(
        !after.contains(second.trim()),
        "erase did not drop the refused token"
    );
}

#[test]
fn token_file_lives_with_the_account() {
    let (op, mut env) = agent_with_account();
    let path = env.dir.path().join("bt");
    let flag = format!("--token-file={}", path.display());

    let check = |env: &Env| {
        let text = std::fs::read_to_string(&path).expect("token file");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            text,
            ok(&env.run("oidc-token", &["acct"])),
            "not the cached token"
        );
    };
    let said = ok(&env.run("oidc-add", &[&flag, "acct"]));
    assert!(said.contains("export BEARER_TOKEN_FILE="), "{said}");
    check(&env);
    // -t with --token-file on a loaded account renews its lifetime, as a
    // load does (it was dropped without a word).
    ok(&env.run("oidc-add", &["-t", "600", &flag, "--pw-env", "acct"]));
    assert!(
        env.status()["accounts"][0]["lifetime_ends_at"].is_i64(),
        "-t not applied"
    );
    // A relative BEARER_TOKEN_FILE is taken from where oidc-add runs, as
    // a relative --token-file is (the agent refused it).
    let mut relative = env.cmd("oidc-add");
    relative
        .args(["--token-file", "acct"])
        .env("BEARER_TOKEN_FILE", "bt-rel")
        .current_dir(env.dir.path());
    let said = ok(&relative.output().expect("run"));
    assert!(said.contains("($BEARER_TOKEN_FILE)"), "{said}");
    assert!(env.dir.path().join("bt-rel").is_file());
    ok(&env.run("oidc-add", &[&flag, "acct"]));
    // One file, one account: a second is refused, naming the first.
    ok(&env.gen_rt("second", &op.issuer, "rt-initial"));
    let err = fails(&env.run("oidc-add", &[&flag, "second"]), 2);
    assert!(err.contains("'acct'"), "{err}");
    check(&env);
    ok(&env.run("oidc-add", &["-r", "second"]));
    // A file that is not a token (a person's notes) is not taken: it would
    // be overwritten, then removed at the unload.
    let notes = env.dir.path().join("notes.txt");
    std::fs::write(&notes, "my notes\nline two\n").expect("write");
    let err = fails(
        &env.run(
            "oidc-add",
            &[&format!("--token-file={}", notes.display()), "acct"],
        ),
        2,
    );
    assert!(err.contains("does not hold a token"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&notes).expect("notes"),
        "my notes\nline two\n"
    );
    // A directory (BEARER_TOKEN_FILE=/tmp) is named as one, and the remedy
    // is a file in it, not to remove it.
    let dir = env.dir.path().display().to_string();
    let err = fails(
        &env.run("oidc-add", &[&format!("--token-file={dir}"), "acct"]),
        2,
    );
    assert!(
        err.contains(&format!(
            "is a directory; name a file in it (--token-file={dir}/NAME)"
        )) && !err.contains("remove it"),
        "{err}"
    );
    // A new file that cannot be written leaves the one kept so far.
    let err = fails(
        &env.run("oidc-add", &["--token-file=/nonexistent/dir/bt", "acct"]),
        1,
    );
    assert!(err.contains("is still kept"), "{err}");
    check(&env);
    let status = env.status();
    let acct = &status["accounts"][0];
    assert_eq!(acct["token_file"].as_str(), path.to_str(), "{status}");
    assert_eq!(acct["refresh_ahead"], true, "{status}");
    ok(&env.run("oidc-add", &["--no-token-file", "acct"]));
    assert!(!path.exists(), "--no-token-file left the file");
    // A path that cannot be written: said, and not kept for later tries.
    let err = fails(
        &env.run("oidc-add", &["--token-file=/nonexistent/dir/bt", "acct"]),
        1,
    );
    assert!(
        err.contains("token file not written") && !err.contains("expire"),
        "{err}"
    );
    assert!(env.status()["accounts"][0]["token_file"].is_null());

    ok(&env.run("oidc-add", &[&flag, "acct"]));
    ok(&env.run("oidc-add", &["-r", "acct"]));
    assert!(!path.exists(), "the file outlived the unload");

    ok(&env.run("oidc-add", &[&flag, "--pw-env", "acct"]));
    check(&env);
    ok(&env.run_lock("-x", "l"));
    assert!(!path.exists(), "the file outlived the lock");
    ok(&env.run_lock("-X", "l"));

    ok(&env.run("oidc-add", &[&flag, "acct"]));
    check(&env);
    env.stop_agent();
    assert!(!path.exists(), "the file outlived the agent");

    // A relative path is made absolute by oidc-add; the agent takes only absolute ones.
    let sock = env.start_agent(&[]);
    let reply = raw_json(
        &sock,
        r#"{"request":"token_file","account":"acct","path":"rel/bt"}"#,
    );
    assert_failure_reply(&reply, "absolute");
}

/// The token file belongs to the account, not to one load of it: a new
/// login (which replaces the loaded account), a rename and a lock with its
/// unlock keep it written, each time with a token of what is loaded now.
#[test]
fn token_file_outlives_reload_rename_and_lock() {
    let (op, env) = agent_with_account();
    let path = env.dir.path().join("bt");
    let flag = format!("--token-file={}", path.display());
    let file = || std::fs::read_to_string(&path).expect("token file");
    let kept_for = |name: &str| {
        let status = env.status();
        assert_eq!(status["accounts"][0]["name"], name, "{status}");
        assert_eq!(
            status["accounts"][0]["token_file"].as_str(),
            path.to_str(),
            "the agent no longer keeps the token file: {status}"
        );
    };
    ok(&env.run("oidc-add", &[&flag, "acct"]));
    env.wait_agent_log("'acct': wrote a fresh access token");
    let first = file();

    op.accept_rt("rt-second-login");
    env.reauthenticate_with("acct", "rt-second-login");
    kept_for("acct");
    env.wait_agent_log("'acct': wrote a fresh access token");
    assert_ne!(file(), first, "the file still holds the old grant's token");
    assert_eq!(file(), ok(&env.run("oidc-token", &["acct"])));

    ok(&env.run("oidc-gen", &["--rename", "moved", "--pw-env", "acct"]));
    kept_for("moved");
    env.wait_agent_log("'moved': wrote a fresh access token");
    assert_eq!(file(), ok(&env.run("oidc-token", &["moved"])));

    ok(&env.run_lock("-x", "l"));
    assert!(!path.exists(), "a token stayed in the file while locked");
    // Back when `oidc-add -X` returns (`oidc-add -X && gfal-copy …`), not
    // at the agent's next tick.
    ok(&env.run_lock("-X", "l"));
    assert!(
        path.exists(),
        "the token file was not back at the unlock's reply"
    );
    kept_for("moved");
    assert_eq!(file(), ok(&env.run("oidc-token", &["moved"])));

    // A file that cannot be written again is named in the unlock's reply,
    // which still unlocks.
    ok(&env.run_lock("-x", "l"));
    op.revoke_all();
    let said = ok(&env.run_lock("-X", "l"));
    assert!(
        said.contains("Agent unlocked") && said.contains("'moved': token file not written"),
        "{said}"
    );
    assert!(!path.exists(), "a file appeared without a token");
    kept_for("moved");
}

/// While the provider refuses the refresh token the file keeps the last
/// token, past its expiry (README); `oidc-token` says what to do, and the
/// first refresh after a new login writes the file again.
#[test]
fn token_file_keeps_the_last_token_until_a_refresh_works() {
    let (op, env) = agent_with_account();
    let path = env.dir.path().join("bt");
    let file = || std::fs::read_to_string(&path).expect("token file");
    ok(&env.run(
        "oidc-add",
        &[&format!("--token-file={}", path.display()), "acct"],
    ));
    env.wait_agent_log("'acct': wrote a fresh access token");
    let first = file();

    op.revoke_all();
    env.advance_clock(24 * 3600);
    env.wait_agent_log("'acct': refresh ahead failed");
    assert_eq!(file(), first, "the file changed without a new token");
    let err = fails(&env.run("oidc-token", &["acct"]), 7);
    assert!(err.contains("--reauthenticate"), "{err}");

    op.accept_rt("rt-after-refusal");
    env.reauthenticate_with("acct", "rt-after-refusal");
    env.wait_agent_log("'acct': wrote a fresh access token");
    assert_ne!(file(), first, "the file still holds the expired token");
    assert_eq!(file(), ok(&env.run("oidc-token", &["acct"])));
}

/// Two agents of one user (the service's and a shell's) with the default
/// path: the second is refused, naming the first, instead of writing its
/// tokens over the first one's; a SIGKILLed keeper's claim ends with it.
#[test]
fn one_agent_per_token_file() {
    let (_op, mut first) = agent_with_account();
    let (_op2, mut second) = agent_with_account();
    let path = first.dir.path().join("bt");
    let flag = format!("--token-file={}", path.display());
    ok(&first.run("oidc-add", &[&flag, "acct"]));
    let kept = std::fs::read_to_string(&path).expect("token file");
    let pid = first.agent_pid().expect("agent pid");
    // Refused with how to reach the keeper; the account, loaded only for
    // the file, is not left loaded in the second agent.
    ok(&second.run("oidc-add", &["-r", "acct"]));
    let err = fails(&second.run("oidc-add", &[&flag, "--pw-env", "acct"]), 2);
    let stop = format!(
        "`OIDC_SOCK={} oidc-add --no-token-file acct`",
        first.socket().display()
    );
    assert!(
        err.contains("kept by another agent")
            && err.contains(&format!("(pid {pid}) for 'acct'"))
            && err.contains(&stop),
        "{err}"
    );
    assert_eq!(ok(&second.run("oidc-add", &["-a"])), "", "left loaded");
    ok(&second.run("oidc-add", &["--pw-env", "acct"]));
    assert_eq!(
        std::fs::read_to_string(&path).expect("file"),
        kept,
        "overwritten"
    );
    // Its own file stays free to the first agent: unkept, then kept again.
    let said = ok(&first.run("oidc-add", &["--no-token-file", "acct"]));
    assert!(said.contains("no longer keeps"), "{said}");
    let said = ok(&first.run("oidc-add", &["--no-token-file", "acct"]));
    assert_eq!(said.trim(), "No token file was kept for 'acct'.");
    ok(&second.run("oidc-add", &[&flag, "acct"]));
    let err = fails(&first.run("oidc-add", &[&flag, "acct"]), 2);
    assert!(err.contains("kept by another agent"), "{err}");
    // Renamed there, the account is named by its new name.
    ok(&second.run("oidc-gen", &["--rename", "moved", "acct"]));
    let err = fails(&first.run("oidc-add", &[&flag, "acct"]), 2);
    assert!(err.contains("for 'moved'"), "{err}");
    // The kernel ends the claim with the agent, also a SIGKILLed one.
    second.sigkill_agent();
    ok(&first.run("oidc-add", &[&flag, "acct"]));
    second.stop_agent();
    // A clean stop leaves neither the file nor its lock behind.
    first.stop_agent();
    assert!(!path.exists(), "the token file outlived the agent");
    let lock = path.with_file_name(".bt.lock");
    assert!(!lock.exists(), "the lock file outlived the agent");
}

/// `oidc-token NAME | head -c0`: the reader went away before the token was
/// written. Not a failure of ours: exit 0, not an end by SIGPIPE
/// (`cli::start` ignores the signal, `cli::write_stdout` takes the EPIPE
/// as success).
#[test]
fn a_reader_gone_before_the_token_is_success() {
    let (_op, env) = agent_with_account();
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let status = env
        .cmd("oidc-token")
        .arg("acct")
        .stdout(writer)
        .status()
        .expect("run oidc-token");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// git's `GIT_TERMINAL_PROMPT=0` (background fetches, IDEs): the helper
/// does not prompt for the password of an unloaded account, and says why;
/// nor does `oidc-token --kube` when kubectl says nobody can answer.
#[test]
fn git_terminal_prompt_0_and_kubectl_never_mean_no_prompt() {
    let (_op, env) = agent_with_account();
    ok(&env.run("oidc-add", &["-r", "acct"]));
    let mut child = env
        .cmd("git-credential-oidc")
        .args(["acct", "get"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    drop(child.stdin.take());
    let err = fails(&child.wait_with_output().expect("helper"), 4);
    assert!(
        err.contains("no prompt allowed (git's GIT_TERMINAL_PROMPT=0)") && !err.contains("kubectl"),
        "{err}"
    );
    // kubectl's `interactiveMode: Never` (spec.interactive false): the
    // same, naming kubectl.
    let mut kube = env.cmd("oidc-token");
    kube.args(["--kube", "acct"]).env(
        "KUBERNETES_EXEC_INFO",
        r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
    );
    let err = fails(&kube.output().expect("oidc-token"), 4);
    assert!(
        err.contains("no prompt allowed (kubectl's spec.interactive is false")
            && !err.contains("GIT_"),
        "{err}"
    );
}
