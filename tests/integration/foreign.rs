//! What another user on the machine can put in our way: a socket at the
//! path `OIDC_SOCK` names, a directory they can write that holds our
//! socket, a link where our token file or its lock goes. The tests that
//! act as that other user are root-only.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;

use crate::support::*;

/// The other user: nobody.
const OTHER: u32 = 65534;

/// `OIDC_SOCK` names a socket another user listens on (made where ours was
/// once our agent ended, its directory in /tmp gone): `oidc-add` refuses
/// before it sends the account's refresh token, client secret and data
/// key, and says why. It sent them, then read "closed the connection".
#[test]
#[ignore = "needs root to act as another uid; tests/run-all runs it when root"]
fn a_socket_of_another_user_is_sent_nothing() {
    needs_root("another uid listens");
    let (_op, env) = agent_with_account();
    let theirs = env.dir_of(OTHER).join("agent.sock");
    let mut other = env
        .cmd("oidc-agent")
        .args(["--console", "--socket-path"])
        .arg(&theirs)
        .uid(OTHER)
        .gid(OTHER)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("their agent");
    // Listening once it says where; its output is held open (a closed
    // pipe would end it at its next line).
    let mut said = BufReader::new(other.stdout.take().expect("stdout")).lines();
    assert!(
        said.next().is_some_and(|l| l.is_ok()),
        "their agent did not start"
    );
    let out = env
        .cmd("oidc-add")
        .env("OIDC_SOCK", &theirs)
        .args(["--pw-env", "acct"])
        .output()
        .expect("run");
    let err = fails(&out, 3);
    assert!(
        err.contains(&format!("is run by another user (uid {OTHER}"))
            && err.contains("nothing was sent to it"),
        "{err}"
    );
    let _ = other.kill();
    let _ = other.wait();
    drop(said);
}

/// `oidc-agent -a PATH` in a directory other users may write: refused,
/// saying why (they could move the socket aside and listen in its place).
/// One they may write but not rename in, as /tmp (the sticky bit), is fine.
#[test]
fn no_socket_where_others_could_swap_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let shared = env.dir.path().join("tmp").join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    let chmod = |mode| {
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    chmod(0o777);
    let sock = shared.join("agent.sock");
    let run = |sock: &std::path::Path| {
        env.cmd("oidc-agent")
            .arg("-a")
            .arg(sock)
            .args(["--", "true"])
            .output()
            .expect("run")
    };
    let err = fails(&run(&sock), 1);
    assert!(
        err.contains("can be written by other users") && err.contains("mode 0700"),
        "{err}"
    );
    chmod(0o1777);
    ok(&run(&sock));
    // Nor in a directory of ours inside one others may write: they could
    // rename ours aside with all in it.
    chmod(0o777);
    let mine = shared.join("mine");
    std::fs::create_dir(&mine).expect("mkdir");
    let err = fails(&run(&mine.join("agent.sock")), 1);
    assert!(
        err.contains("shared can be written by other users"),
        "{err}"
    );
}

/// A link where the token file's lock goes (another user's, in /tmp
/// without $XDG_RUNTIME_DIR) to a file of ours: the agent neither truncates
/// nor writes that file, and does not take the token file; and once it
/// keeps a token file, a link put where it was (while the agent was
/// locked, say) is replaced, not written through.
#[test]
fn links_where_the_token_file_goes_are_not_written_through() {
    let (_op, env) = agent_with_account();
    let profile = env.dir.path().join("home").join(".profile");
    std::fs::write(&profile, "export FOO=1\n").expect("write");
    let tmp = env.dir.path().join("tmp");
    let (bt, lock) = (tmp.join("bt"), tmp.join(".bt.lock"));
    std::os::unix::fs::symlink(&profile, &lock).expect("plant the lock");
    let flag = format!("--token-file={}", bt.display());
    let err = fails(&env.run("oidc-add", &[&flag, "acct"]), 2);
    assert!(
        err.contains(".bt.lock is a link or another user's file"),
        "{err}"
    );
    assert!(!bt.exists());

    std::fs::remove_file(&lock).expect("rm");
    ok(&env.run("oidc-add", &[&flag, "acct"]));
    env.wait_agent_log("'acct': wrote a fresh access token");
    ok(&env.run_lock("-x", "l"));
    assert!(!bt.exists(), "the token file stayed while locked");
    std::os::unix::fs::symlink(&profile, &bt).expect("plant the file");
    ok(&env.run_lock("-X", "l"));
    env.wait_agent_log("'acct': wrote a fresh access token");
    assert_eq!(
        std::fs::read_to_string(&profile).expect("read"),
        "export FOO=1\n"
    );
    assert!(!std::fs::symlink_metadata(&bt).expect("bt").is_symlink());
}

/// Another user who read the login URL (a browser's command line is public
/// in /proc) logs in as themselves and hands the code to the person's
/// oidc-gen: it is refused, and oidc-gen keeps waiting for the person's
/// own redirect, which it takes (it used to save the other user's login as
/// the person's account).
#[test]
#[ignore = "needs root to act as another uid; tests/run-all runs it when root"]
fn another_users_redirect_is_not_taken() {
    needs_root("another uid sends the redirect");
    let (op, env) = provider_and_home();
    env.open_tmp_to_other_users();
    let args = crate::r#gen::confidential_args("mine", &op.issuer, "code");
    let mut oidc_gen = env.spawn("oidc-gen", &args);
    let landed = crate::support::browser::authorize(&oidc_gen.auth_url());
    let theirs = env
        .cmd("oidc-gen")
        .arg(format!("--codeExchange={landed}"))
        .uid(OTHER)
        .gid(OTHER)
        .output()
        .expect("run as another user");
    let err = fails(&theirs, 1);
    assert!(err.contains("no oidc-gen waits at its port"), "{err}");
    ok_saying(
        &env.run("oidc-gen", &[&format!("--codeExchange={landed}")]),
        "Handed the address",
    );
    ok(&oidc_gen.finish());
    assert!(env.config_dir().join("mine").exists());
}
