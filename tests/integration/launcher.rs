//! oidc-gen opens the browser through the desktop's launcher (`xdg-open`,
//! then `gio open`, …, as the `open` crate lists them): the launcher gets
//! the URL but none of the secrets oidc-gen was given in its environment,
//! and a launcher that fails is reported, not taken for an open browser.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::mpsc;

use crate::support::fake_op::{FakeOp, PUBLIC_CLIENT};
use crate::support::*;

/// The launchers the `open` crate tries on Linux, in its order.
const LAUNCHERS: [&str; 6] = [
    "xdg-open",
    "gio",
    "gnome-open",
    "kde-open6",
    "kde-open5",
    "kde-open",
];

/// The secrets oidc-gen may hold in its environment, with marker values.
const SECRETS: [(&str, &str); 4] = [
    ("OIDC_ENCRYPTION_PW", PASSWORD),
    ("OIDC_NEW_ENCRYPTION_PW", "new-password-marker"),
    ("OIDC_REFRESH_TOKEN", "rt-marker"),
    ("OIDC_CLIENT_SECRET", "client-secret-marker"),
];

/// A directory of launchers, each running `script` (with `$0` its name),
/// put first on the PATH of an oidc-gen code flow in a graphical session.
fn gen_with_launchers(env: &Env, op: &FakeOp, script: &str) -> Running {
    let bin = env.dir.path().join("launchers");
    std::fs::create_dir(&bin).expect("launcher dir");
    for name in LAUNCHERS {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("launcher");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut cmd = env.cmd("oidc-gen");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .env("DISPLAY", ":99")
        .envs(SECRETS)
        .args(["pub", "--issuer", &op.issuer, "--flow", "code", "--pw-env"])
        .args(["--client-id", PUBLIC_CLIENT, "--pub"]);
    Env::spawn_cmd(cmd)
}

/// What a launcher writes into the FIFO `path`, read on a thread so that a
/// launcher never started fails the test instead of hanging it.
fn read_fifo(path: &Path) -> String {
    let (tx, rx) = mpsc::channel();
    let fifo = path.to_owned();
    std::thread::spawn(move || {
        let mut text = String::new();
        let read = std::fs::File::open(&fifo).and_then(|mut f| f.read_to_string(&mut text));
        let _ = tx.send(read.map(|_| text));
    });
    rx.recv_timeout(PROCESS_WAIT)
        .expect("no launcher started")
        .expect("read the launcher's FIFO")
}

#[test]
fn the_browser_gets_the_url_and_none_of_the_secrets() {
    let (op, env) = provider_and_home();
    let fifo = env.dir.path().join("launched");
    mkfifo(&fifo);
    let script = format!(
        "{{ echo \"launcher $0\"; echo \"url $1\"; env; }} > '{}'",
        fifo.display()
    );
    let mut oidc_gen = gen_with_launchers(&env, &op, &script);
    let printed = oidc_gen.auth_url();
    let launched = read_fifo(&fifo);
    let line = |prefix: &str| {
        launched
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {launched}"))
            .to_owned()
    };
    assert!(line("launcher ").ends_with("/xdg-open"), "{launched}");
    assert_eq!(line("url "), printed, "the launcher opens the printed URL");
    assert_eq!(
        line("DISPLAY="),
        ":99",
        "the rest of the environment is kept"
    );
    for (var, value) in SECRETS {
        assert!(!launched.contains(var), "{var} reached the browser");
        assert!(
            !launched.contains(value),
            "{var}'s value reached the browser"
        );
    }
    assert_eq!(browser::login(&printed).status, 200);
    ok(&oidc_gen.finish());
}

#[test]
fn launchers_that_fail_are_tried_in_turn_and_reported() {
    let (op, env) = provider_and_home();
    let tried = env.dir.path().join("tried");
    let script = format!("echo \"${{0##*/}}\" >> '{}'; exit 3", tried.display());
    let mut oidc_gen = gen_with_launchers(&env, &op, &script);
    let url = oidc_gen.auth_url();
    let note = oidc_gen.wait_line("the launcher failure", |l| {
        l.contains("could not open a browser")
    });
    assert!(note.contains("open the URL above by hand"), "{note}");
    let tried = std::fs::read_to_string(&tried).expect("launchers ran");
    assert_eq!(
        tried.lines().collect::<Vec<_>>(),
        LAUNCHERS,
        "each launcher once, in order"
    );
    // The login still works by hand.
    assert_eq!(browser::login(&url).status, 200);
    ok(&oidc_gen.finish());
}
