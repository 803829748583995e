//! Tests of `store`.

use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt as _;

use super::*;

/// A directory others may write is named, with the fix; a private one
/// is not.
#[test]
fn a_directory_open_to_others_is_warned_about() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::new(tmp.path());
    let chmod =
        |mode| fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).expect("chmod");
    chmod(0o700);
    assert_eq!(store.open_to_others(), None);
    chmod(0o755);
    assert_eq!(store.open_to_others(), None, "readable is not writable");
    chmod(0o775);
    let warning = store.open_to_others().expect("group-writable");
    assert!(
        warning.contains("0775") && warning.contains("chmod 700"),
        "{warning}"
    );
}

/// A file that cannot be created names its path once, and the remedy
/// where there is one.
#[test]
fn write_errors_name_the_path_once() {
    let err = write_atomic(Path::new("/dev/full/acct"), b"x").expect_err("not a directory");
    assert_eq!(err.to_string().matches("/dev/full").count(), 1, "{err}");
    // The system's words, not Rust's ("entity not found").
    let err = write_atomic(Path::new("/nonexistent-dir/acct"), b"x").expect_err("no directory");
    assert!(
        err.to_string().contains("No such file or directory"),
        "{err}"
    );
}

/// A file the user may not read (another user's) is a bad account file
/// (exit 10) whose message says what to do, not a bare OS error.
#[test]
fn an_unreadable_file_names_the_remedy() {
    let store = Store::new("/x");
    let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
    let err = store.read_error("acct", Path::new("/x/acct"), denied);
    assert_eq!(err.kind(), crate::error::ErrorKind::BadFile);
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

/// An account file that is a symbolic link is written through: the
/// link stays, its target gets the contents (also a target not there
/// yet).
#[test]
fn a_linked_account_file_is_written_through() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dots, accounts) = (tmp.path().join("dotfiles"), tmp.path().join("accounts"));
    std::fs::create_dir_all(&dots).expect("mkdir");
    std::fs::create_dir_all(&accounts).expect("mkdir");
    let link = accounts.join("acct");
    std::os::unix::fs::symlink(dots.join("acct"), &link).expect("link");
    for contents in [&b"first"[..], b"second"] {
        write_atomic(&link, contents).expect("write");
        assert!(link.symlink_metadata().expect("stat").is_symlink());
        assert_eq!(std::fs::read(dots.join("acct")).expect("target"), contents);
    }
}

#[test]
fn atomic_write_modes_and_listing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::new(tmp.path().join("acc"));
    store.write("kit", b"one").expect("write");
    store.write("kit", b"two").expect("overwrite");
    store.write("egi", b"x").expect("write");
    fs::write(store.dir().join("issuer.config"), "x").expect("write");
    assert_eq!(store.read("kit").expect("read"), b"two");
    assert_eq!(store.list().expect("list"), vec!["egi", "kit"]);
    let dir_mode = fs::metadata(store.dir()).expect("stat").mode() & 0o777;
    let file_mode = fs::metadata(store.dir().join("kit")).expect("stat").mode() & 0o777;
    assert_eq!((dir_mode, file_mode), (0o700, 0o600));
    // no temporary files left behind
    let all: Vec<_> = fs::read_dir(store.dir()).expect("ls").collect();
    assert_eq!(all.len(), 3);
}

#[test]
fn failed_write_keeps_old_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::new(tmp.path());
    store.write("kit", b"old").expect("write");
    // A directory in the way of the rename target makes the rename fail.
    let target = tmp.path().join("blocked");
    fs::create_dir(&target).expect("mkdir");
    fs::write(target.join("f"), "x").expect("write");
    assert!(write_atomic(&target, b"new").is_err());
    assert_eq!(store.read("kit").expect("read"), b"old");
    let leftovers = fs::read_dir(tmp.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn the_directory_lock_excludes_a_second_holder() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::new(tmp.path().join("acc"));
    let held = store.lock().expect("lock");
    let (tx, rx) = std::sync::mpsc::channel();
    let other = store.clone();
    let waiter = std::thread::spawn(move || {
        let _second = other.lock().expect("lock");
        tx.send(()).expect("send");
    });
    // The second holder cannot get the lock while we hold it...
    let probe = OpenOptions::new()
        .read(true)
        .open(tmp.path().join("acc").join(LOCK_FILE))
        .expect("open");
    assert_eq!(
        rustix::fs::flock(&probe, rustix::fs::FlockOperation::NonBlockingLockExclusive),
        Err(rustix::io::Errno::WOULDBLOCK)
    );
    assert!(rx.try_recv().is_err());
    // ...and gets it once we let go.
    drop(held);
    rx.recv().expect("second holder got the lock");
    waiter.join().expect("join");
    assert_eq!(store.list().expect("list"), Vec::<String>::new());
}

#[test]
fn a_directory_in_place_of_the_file_is_a_bad_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::new(tmp.path());
    fs::create_dir(tmp.path().join("kit")).expect("mkdir");
    let err = store.read("kit").expect_err("a directory");
    assert_eq!(err.kind(), crate::error::ErrorKind::BadFile);
    assert!(
        err.to_string().contains("account file missing or corrupt"),
        "{err}"
    );
}

#[test]
fn bad_names_are_refused() {
    for bad in ["", "../x", "a/b", ".hidden", "-x", "issuer.config", "x.bak"] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
    check_name("my-acct_1").expect("valid");
    // New names also print on one line and fit in a file name; an
    // existing file of oidc-agent's with such a name is still read.
    let long = "x".repeat(MAX_NEW_NAME + 1);
    for bad in [" sp ace", "new\nline", "tab\t", long.as_str(), "../x"] {
        assert!(check_new_name(bad).is_err(), "{bad:?}");
    }
    check_name(" sp ace").expect("readable");
    check_new_name("kit.example-2_b").expect("valid");
    check_new_name(&"x".repeat(MAX_NEW_NAME)).expect("valid");
}

#[test]
fn missing_account_names_the_remedy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = Store::new(tmp.path()).read("nope").expect_err("missing");
    assert!(err.to_string().contains("oidc-gen nope"), "{err}");
}
