//! Process set-up for the agent: hardening, the socket, daemonizing.
//!
//! Daemonizing re-executes the binary (never `fork()` after threads exist):
//! the child calls `setsid`, binds the socket, says `READY` on its stdout,
//! then points stdout and stderr at /dev/null (or a log file). The parent
//! prints the eval lines only after that, so `OIDC_SOCK` is always usable.

use std::io::{self, BufRead as _, BufReader};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::account::store::ensure_private_dir;
use crate::error::{Error, Result};

/// Environment variable marking the re-executed daemon child.
pub const CHILD_ENV: &str = "OIDC_AGENT_RS_DAEMON_CHILD";
/// The child's readiness line.
pub const READY: &str = "READY";

/// Makes the process non-dumpable and disables core files, so that neither
/// another process of the same user (ptrace, /proc/PID/mem) nor a crash dump
/// can read the refresh tokens held in memory.
pub fn harden() {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        super::log!("warning: cannot make the process non-dumpable: {e}");
    }
    let _ = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    );
}

/// File descriptors below which the agent does not start: its socket,
/// log and runtime take some, and each client and provider connection one.
const FEWEST_FILES: u64 = 16;
/// What the soft limit on open files is raised to, as far as the hard one
/// allows: room for every connection the agent serves at once.
const WANTED_FILES: u64 = 4096;

/// The soft limit on open files the agent can have: the current one,
/// raised towards [`WANTED_FILES`] as far as the hard one allows.
fn files_possible() -> (u64, rustix::process::Rlimit) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let soft = limit.current.unwrap_or(u64::MAX);
    (WANTED_FILES.min(hard).max(soft), limit)
}

/// Refuses to start the agent where it could not have [`FEWEST_FILES`]
/// open files: it would start but never take a connection (every client
/// waited for it, then said it may be hung). Checked before it starts; the
/// agent itself raises its limit ([`raise_files`]), not the programs
/// `oidc-agent -- COMMAND` runs.
pub fn enough_files() -> Result<()> {
    let (possible, _) = files_possible();
    if possible < FEWEST_FILES {
        return Err(Error::Failure(format!(
            "only {possible} open files are allowed (ulimit -n), and the agent needs \
             {FEWEST_FILES} or more; raise the limit (`ulimit -n 1024`) and start it again"
        )));
    }
    Ok(())
}

/// Raises the agent's soft limit on open files towards [`WANTED_FILES`]:
/// room for every connection it serves at once.
pub fn raise_files() {
    let (possible, limit) = files_possible();
    if limit.current.is_some_and(|soft| soft < possible) {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(possible),
                maximum: limit.maximum,
            },
        );
    }
}

/// Set for the daemon child to the fresh directory made for its socket,
/// which it removes when it exits (never a directory it was only given).
pub const DIR_ENV: &str = "OIDC_AGENT_RS_SOCKET_DIR";

/// `--socket-path PATH` as oidc-agent reads it: a trailing `/` names a
/// directory, and the socket is `oidc-agent.<ppid>` in it; a directory
/// whose name ends in `XXXXXX` is made fresh (0700) with those six
/// characters random; missing directories are created (0700). Returns the
/// socket and the fresh directory, if one was made.
pub fn socket_path_from(given: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let text = given.to_string_lossy();
    let (dir_part, file) = if text.ends_with('/') {
        (given, format!("oidc-agent.{}", parent_pid()))
    } else {
        let file = given.file_name().map(|f| f.to_string_lossy().into_owned());
        (
            given.parent().unwrap_or(Path::new("")),
            file.unwrap_or_default(),
        )
    };
    let mut dir = PathBuf::new();
    let mut fresh = None;
    for part in dir_part.components() {
        let template = part
            .as_os_str()
            .to_str()
            .and_then(|n| n.strip_suffix("XXXXXX"));
        match template {
            Some(prefix) if fresh.is_none() => {
                let base = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    &dir
                };
                crate::account::store::ensure_private_dir(base)?;
                let made = tempfile::Builder::new()
                    .prefix(prefix)
                    .rand_bytes(6)
                    .permissions(std::fs::Permissions::from_mode(0o700))
                    .tempdir_in(base)
                    .map_err(|e| Error::io("create a socket directory in", base, e))?
                    .keep();
                dir = made.clone();
                fresh = Some(made);
            }
            _ => dir.push(part),
        }
    }
    if !dir.as_os_str().is_empty() {
        crate::account::store::ensure_private_dir(&dir)?;
    }
    let shown = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &dir
    };
    refuse_shared_dir(shown)?;
    Ok((dir.join(file), fresh))
}

/// Refuses a socket directory another user can change: theirs (not root's),
/// or one others may write without the sticky bit (which, as in /tmp, keeps
/// them from renaming what is ours). There they could move the agent's
/// socket aside and put theirs in its place, to receive what `oidc-add`
/// sends (our clients check who listens; oidc-agent's do not).
fn refuse_shared_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let real = dir
        .canonicalize()
        .map_err(|e| Error::io("inspect", dir, e))?;
    let uid = rustix::process::getuid().as_raw();
    // Each directory above too: one who may rename in any of them can swap
    // the whole branch below it (as ssh's checks of a path go).
    for dir in real.ancestors() {
        let meta = std::fs::metadata(dir).map_err(|e| Error::io("inspect", dir, e))?;
        let theirs = meta.uid() != uid && meta.uid() != 0;
        let open = meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0;
        if !theirs && !open {
            continue;
        }
        return Err(Error::Failure(format!(
            "{} {}: they could replace the agent's socket there and receive what oidc-add \
             sends; put the socket in a directory only you can write (mode 0700, such as \
             $XDG_RUNTIME_DIR), or leave out -a",
            dir.display(),
            if theirs {
                "belongs to another user"
            } else {
                "can be written by other users"
            }
        )));
    }
    Ok(())
}

fn parent_pid() -> i32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
}

/// oidc-agent's default socket: `$TMPDIR/oidc-XXXXXX/oidc-agent.<ppid>` in a
/// fresh 0700 directory. Returns (directory, socket).
pub fn default_socket_path() -> Result<(PathBuf, PathBuf)> {
    let base = crate::paths::tmp_dir();
    remove_dead_socket_dirs(&base, LEFTOVER_MIN_AGE);
    let ppid = parent_pid();
    // tempfile makes the directory 0700 under a fresh random name, retrying
    // names that exist, so there is no window in which others can enter it.
    let dir = tempfile::Builder::new()
        .prefix("oidc-")
        .rand_bytes(6)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .map_err(|e| Error::io("create a socket directory in", &base, e))?
        .keep();
    let sock = dir.join(format!("oidc-agent.{ppid}"));
    Ok((dir, sock))
}

/// Removes the socket directories that agents killed without clean-up
/// (kill -9, a crash) left in `base`: ours (`oidc-XXXXXX`, owned by us, mode
/// 0700) whose entries are all sockets named `oidc-agent.<pid>` that refuse
/// connections and are at least `min_age` old. Nothing else is touched: an
/// empty directory or a socket younger than that may belong to an agent that
/// is just starting (between `bind` and `listen` a live socket refuses too),
/// a busy socket to a live agent.
pub fn remove_dead_socket_dirs(base: &Path, min_age: std::time::Duration) {
    let uid = rustix::process::getuid().as_raw();
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for dir in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        use std::os::unix::fs::MetadataExt as _;
        let named = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("oidc-"))
            .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let ours = std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o777 == 0o700);
        if !named || !ours {
            continue;
        }
        let Ok(inner) = std::fs::read_dir(&dir) else {
            continue;
        };
        let sockets: Option<Vec<PathBuf>> = inner
            .map(|e| {
                let e = e.ok()?;
                let name = e.file_name();
                let pid = name.to_str()?.strip_prefix("oidc-agent.")?;
                let dead = pid.bytes().all(|b| b.is_ascii_digit())
                    && e.file_type().ok()?.is_socket()
                    && e.metadata().ok()?.modified().ok()?.elapsed().ok()? >= min_age
                    // Once, without waiting: a full queue is a live agent.
                    && crate::client::connect(&e.path(), std::time::Duration::ZERO)
                        .is_err_and(|err| err.kind() == io::ErrorKind::ConnectionRefused);
                dead.then(|| e.path())
            })
            .collect();
        if let Some(sockets) = sockets.filter(|s| !s.is_empty()) {
            for s in &sockets {
                let _ = std::fs::remove_file(s);
            }
            if std::fs::remove_dir(&dir).is_ok() {
                super::log!("removed {}, left by an agent that is gone", dir.display());
            }
        }
    }
}

/// See [`remove_dead_socket_dirs`].
const LEFTOVER_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(2);

/// Binds the socket 0600, creating its directory 0700 if missing. A stale
/// socket (nobody listening) is replaced; a live one is an error.
pub fn bind(path: &Path) -> Result<UnixListener> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        ensure_private_dir(dir)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::Failure(format!(
                "{} exists and is not a socket; choose another --socket-path",
                path.display()
            )));
        }
        // A full queue is a live agent too.
        let live = crate::client::connect(path, std::time::Duration::ZERO)
            .map_or_else(|e| e.kind() == io::ErrorKind::WouldBlock, |_| true);
        if live {
            return Err(Error::Failure(format!(
                "an agent is already listening at {}; use it, or stop it with `oidc-agent -k`",
                path.display()
            )));
        }
        let _ = std::fs::remove_file(path);
    }
    // umask 0177 during bind: the socket is created 0600, with no window in
    // which another user could connect.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let listener = UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = listener.map_err(|e| Error::io("bind socket", path, e))?;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Ok(listener)
}

/// In the daemon child: detach from the terminal's session.
pub fn detach() {
    let _ = rustix::process::setsid();
}

/// Opens `--log-file` for appending, before the daemon says it is ready:
/// a log that cannot be opened fails the start, where the person sees it.
/// A new log is 0600 (it names accounts, issuers and paths); the open does
/// not block on a FIFO with no reader.
pub fn open_log(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| Error::io("open the log file", path, e))
}

/// In the daemon child, after `READY`: stdout to /dev/null, stderr to the
/// log file [`open_log`] opened (or /dev/null), stdin from /dev/null.
pub fn redirect_stdio(log: Option<std::fs::File>) -> io::Result<()> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let err = match log {
        Some(file) => file,
        None => null.try_clone()?,
    };
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&err)?;
    Ok(())
}

/// In the parent: starts the daemon child with the same arguments and waits
/// for `READY`. Returns the child's pid. On failure, the child's stderr is the
/// error.
pub fn spawn_child(args: &[String], fresh_dir: Option<&Path>) -> Result<u32> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locate", "current executable", e))?;
    let mut command = Command::new(exe);
    if let Some(dir) = fresh_dir {
        command.env(DIR_ENV, dir);
    }
    let mut child: Child = command
        .args(args)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io("start", "the agent process", e))?;
    let pid = child.id();
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim() == READY {
        return Ok(pid);
    }
    let mut err = String::new();
    if let Some(e) = child.stderr.take() {
        use io::Read as _;
        let _ = e.take(64 * 1024).read_to_string(&mut err);
    }
    let _ = child.wait();
    let err = err.trim();
    let err = err.strip_prefix("oidc-agent: ").unwrap_or(err);
    Err(Error::Failure(if err.is_empty() {
        "the agent process exited during start-up".to_owned()
    } else {
        err.to_owned()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// oidc-agent's documented `--socket-path` forms (its options page).
    #[test]
    fn socket_paths_read_as_oidc_agent_documents_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().display().to_string();
        let ppid = parent_pid();
        let resolve =
            |given: &str| socket_path_from(Path::new(&format!("{base}/{given}"))).expect(given);
        let rel = |p: &Path| {
            p.strip_prefix(tmp.path())
                .expect("inside")
                .display()
                .to_string()
        };

        let (sock, fresh) = resolve("oidc-agent");
        assert_eq!((rel(&sock), fresh), ("oidc-agent".to_owned(), None));
        let (sock, fresh) = resolve("made/on/demand/");
        assert_eq!(rel(&sock), format!("made/on/demand/oidc-agent.{ppid}"));
        assert!(fresh.is_none() && tmp.path().join("made/on/demand").is_dir());
        for (given, file) in [
            ("oidc-agent-XXXXXX/", format!("oidc-agent.{ppid}")),
            ("oidc-agent-XXXXXX/socket", "socket".to_owned()),
            (
                "oidc-agent-XXXXXX/socket/",
                format!("socket/oidc-agent.{ppid}"),
            ),
        ] {
            let (sock, fresh) = resolve(given);
            let fresh = fresh.expect("a fresh directory");
            let name = rel(&fresh);
            assert!(
                name.starts_with("oidc-agent-") && name.len() == 17 && !name.ends_with("XXXXXX"),
                "{name}"
            );
            assert_eq!(sock, fresh.join(&file), "{given}");
            let mode = std::fs::metadata(&fresh)
                .expect("made")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let (sock, fresh) = resolve("XXXXXX-agent/");
        assert_eq!(
            (rel(&sock), fresh),
            (format!("XXXXXX-agent/oidc-agent.{ppid}"), None)
        );
    }

    #[test]
    fn only_dead_agent_socket_dirs_are_removed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mk = |name: &str| {
            let d = tmp.path().join(name);
            crate::account::store::ensure_private_dir(&d).expect("mkdir");
            d
        };
        // Dead: the listener is gone, the socket file stays (as after kill -9).
        let dead = mk("oidc-AAAAAA");
        drop(UnixListener::bind(dead.join("oidc-agent.42")).expect("bind"));
        let live = mk("oidc-BBBBBB");
        let _listening = UnixListener::bind(live.join("oidc-agent.43")).expect("bind");
        let starting = mk("oidc-CCCCCC");
        let other = mk("oidc-DDDDDD");
        std::fs::write(other.join("oidc-agent.44"), b"not a socket").expect("write");
        let misnamed = mk("oidc-sock");
        drop(UnixListener::bind(misnamed.join("oidc-agent.45")).expect("bind"));
        remove_dead_socket_dirs(tmp.path(), std::time::Duration::from_secs(3600));
        assert!(
            dead.exists(),
            "a socket of a just-starting agent was removed"
        );
        remove_dead_socket_dirs(tmp.path(), std::time::Duration::ZERO);
        assert!(!dead.exists(), "the dead agent's directory stays");
        for kept in [&live, &starting, &other, &misnamed] {
            assert!(kept.exists(), "{} was removed", kept.display());
        }
    }
}
