//! Taking and removing a WLCG bearer-token file (see `ahead`, which writes
//! them): used by both the state (an unloaded account's file goes with it)
//! and the refresh-ahead loop, and using neither (only the log).
//!
//! One agent per file: while an agent keeps a token file it holds an
//! exclusive `flock` on a hidden file beside it (`.bt_u1000.lock`, holding
//! its pid, socket and account, which the refusal names), so a second
//! agent of the same user (the service's and a shell's
//! `eval "$(oidc-agent)"`, both with the default path) is refused instead
//! of writing its tokens over the first one's and removing the file the
//! first one keeps. The kernel drops the lock with the agent, also on
//! SIGKILL.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::log::log;
use crate::error::kind::ErrorKind;

/// The token files this agent has claimed, with their lock files open.
static CLAIMS: Mutex<BTreeMap<PathBuf, File>> = Mutex::new(BTreeMap::new());

/// `path`'s lock file: hidden, beside it.
fn lock_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.lock"))
}

/// Who keeps a token file, as its lock file says: for the message that
/// refuses it to another agent, which names how to reach the keeper.
struct Keeper {
    pid: u32,
    socket: Option<PathBuf>,
    account: String,
}

impl Keeper {
    /// The lock file's text: pid, socket (empty when unknown), account.
    fn text(&self) -> String {
        let socket = self.socket.as_deref().unwrap_or(Path::new(""));
        format!("{}\n{}\n{}\n", self.pid, socket.display(), self.account)
    }

    /// Writes [`Self::text`] into the held lock `file`, over what it said
    /// before (for the other agent's message only).
    fn label(&self, file: &File) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt as _;
        file.set_len(0)?;
        file.write_all_at(self.text().as_bytes(), 0)
    }

    /// Why `path` is refused, from its lock file's text (whatever of it is
    /// there: an earlier version wrote the pid alone).
    fn refusal(path: &Path, text: &str) -> String {
        let mut lines = text.lines().map(str::trim);
        let pid = lines.next().filter(|p| !p.is_empty());
        let socket = lines.next().filter(|s| !s.is_empty());
        let account = lines.next().filter(|a| !a.is_empty());
        let by = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        let stop = match (socket, account) {
            (Some(sock), Some(account)) => format!(
                "stop that there with `OIDC_SOCK={sock} oidc-add --no-token-file {account}`"
            ),
            (Some(sock), None) => {
                format!("stop that there with `OIDC_SOCK={sock} oidc-add --no-token-file NAME`")
            }
            _ => "stop that with `oidc-add --no-token-file NAME` against that agent".to_owned(),
        };
        let of = account.map(|a| format!(" for '{a}'")).unwrap_or_default();
        format!(
            "{} is kept by another agent{by}{of}; {stop}, or name another file \
             (--token-file=PATH)",
            path.display()
        )
    }
}

/// Claims `path` for this agent's account `account` (see the module's
/// documentation); a file claimed already stays claimed. Refused only when
/// another agent holds it: a lock file that cannot be made (no such
/// directory, no write permission) leaves the file unclaimed, and writing
/// it says what is wrong in the words a token file's write failure has.
pub fn claim(path: &Path, account: &str, socket: Option<&Path>) -> Result<(), String> {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    if claims.contains_key(path) {
        return Ok(());
    }
    let lock = lock_path(path);
    let keeper = Keeper {
        pid: std::process::id(),
        socket: socket.map(Path::to_owned),
        account: account.to_owned(),
    };
    match lock_file(&lock, &keeper) {
        Ok(Some(file)) => {
            claims.insert(path.to_owned(), file);
            Ok(())
        }
        Ok(None) => Err(Keeper::refusal(
            path,
            &std::fs::read_to_string(&lock).unwrap_or_default(),
        )),
        // A link or another user's file where the lock goes: planted, so
        // the token file is not taken either.
        Err(_) if planted(&lock) => Err(format!(
            "the token file {} is not taken: its lock {} is a link or another user's file \
             (planted there?); remove it if it is yours, or name another file \
             (--token-file=PATH)",
            path.display(),
            lock.display()
        )),
        Err(e) => {
            log!(
                "no lock for the token file {}: {}: {e}",
                path.display(),
                lock.display()
            );
            Ok(())
        }
    }
}

/// Whether what is at `path` is a link, or a file of another user.
fn planted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.file_type().is_symlink() || m.uid() != rustix::process::getuid().as_raw())
}

/// Opens and locks `lock`, writing `keeper` into it; `None` when another
/// process holds it.
fn lock_file(lock: &Path, keeper: &Keeper) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::MetadataExt as _;
    // Twice at most: the last holder removes the lock file as it lets go,
    // and a file opened just before that is no longer the lock.
    for _ in 0..2 {
        // Not through a link, and only a file of ours: the lock sits beside
        // the token file, in /tmp without $XDG_RUNTIME_DIR, where another
        // user could plant a link to a file of ours for us to truncate.
        let Some(file) = crate::files::try_lock(lock).map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other(format!(
                    "{} is a link (another user's?); remove it",
                    lock.display()
                ))
            } else {
                e
            }
        })?
        else {
            return Ok(None);
        };
        if file.metadata()?.uid() != rustix::process::getuid().as_raw() {
            return Err(std::io::Error::other(format!(
                "{} belongs to another user; remove it, or name another file (--token-file=PATH)",
                lock.display()
            )));
        }
        let locked = file.metadata()?;
        if std::fs::metadata(lock)
            .is_ok_and(|now| (now.dev(), now.ino()) == (locked.dev(), locked.ino()))
        {
            let _ = keeper.label(&file);
            return Ok(Some(file));
        }
    }
    Err(std::io::Error::other(
        "the lock file changed hands meanwhile",
    ))
}

/// The account this agent keeps `path` for was renamed: its lock file says
/// the new name, which another agent's refusal repeats.
pub fn relabel(path: &Path, account: &str, socket: Option<&Path>) {
    let claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(file) = claims.get(path) {
        let keeper = Keeper {
            pid: std::process::id(),
            socket: socket.map(Path::to_owned),
            account: account.to_owned(),
        };
        let _ = keeper.label(file);
    }
}

/// Gives up this agent's claim on `path`: the lock file goes first, while
/// still locked, so no other agent can lock a file no longer there.
pub fn release(path: &Path) {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(file) = claims.remove(path) {
        let _ = std::fs::remove_file(lock_path(path));
        drop(file);
    }
}

/// Whether the agent may take `path` as a token file: nothing there, or a
/// regular file holding what a token file holds (one line, no spaces; a
/// token file of an earlier agent). Anything else (a person's notes, a
/// link, a directory) would be overwritten, and removed at the unload.
/// Those are refused as the choice of path ([`ErrorKind::Usage`]); a file
/// that cannot be looked at or read is a [`ErrorKind::Failure`].
pub fn may_take(path: &Path) -> Result<(), (ErrorKind, String)> {
    let refuse = |what: &str| {
        Err((
            ErrorKind::Usage,
            format!(
                "{} {what}: it would be overwritten with a token and removed when the account is \
             unloaded; remove it, or name another file (--token-file=PATH)",
                path.display()
            ),
        ))
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err((ErrorKind::Failure, format!("{}: {e}", path.display()))),
    };
    if meta.is_dir() {
        // Not "remove it": the directory is often /tmp or the runtime dir.
        return Err((
            ErrorKind::Usage,
            format!(
                "{} is a directory; name a file in it (--token-file={}/NAME)",
                path.display(),
                path.display()
            ),
        ));
    }
    if !meta.is_file() {
        return refuse("exists and is not a regular file");
    }
    if meta.len() > 64 * 1024 {
        return refuse("exists and is larger than a token");
    }
    let text = std::fs::read(path)
        .map_err(|e| (ErrorKind::Failure, format!("{}: {e}", path.display())))?;
    let line = text.strip_suffix(b"\n").unwrap_or(&text);
    if line.iter().any(|b| b.is_ascii_whitespace()) {
        return refuse("exists and does not hold a token");
    }
    Ok(())
}

/// Removes a token file and gives up the claim on it (an account
/// unloaded, its file no longer kept, the agent stopping).
pub fn remove(name: &str, path: &Path) {
    withdraw(name, path);
    release(path);
}

/// Removes a token file, keeping the claim on it (the agent locked: the
/// file is written again at the unlock).
pub fn withdraw(name: &str, path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => log!("'{name}': removed token file {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log!("'{name}': token file {} NOT removed: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path the person chose badly is a usage error; a file that cannot
    /// be read is a failure (exit 1), not a usage error (exit 2).
    #[test]
    fn a_file_that_cannot_be_read_is_a_failure() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(may_take(&dir.path().join("bt")), Ok(()));
        assert_eq!(
            may_take(dir.path()).map_err(|(k, _)| k),
            Err(ErrorKind::Usage)
        );
        let notes = dir.path().join("notes");
        std::fs::write(&notes, "my notes\n").expect("write");
        assert_eq!(may_take(&notes).map_err(|(k, _)| k), Err(ErrorKind::Usage));
        // A regular file whose read fails (EIO).
        let unreadable = Path::new("/proc/self/mem");
        assert_eq!(
            may_take(unreadable).map_err(|(k, _)| k),
            Err(ErrorKind::Failure)
        );
    }

    /// The refusal names what the lock file says: all of it as this version
    /// writes it, the pid alone as an earlier one did, nothing when empty.
    #[test]
    fn the_refusal_names_the_keeper_as_far_as_known() {
        let path = Path::new("/run/user/1/bt_u1");
        let keeper = Keeper {
            pid: 42,
            socket: Some(PathBuf::from("/run/user/1/oidc-agent/agent.sock")),
            account: "kit".into(),
        };
        let said = Keeper::refusal(path, &keeper.text());
        assert!(
            said.contains("(pid 42) for 'kit'")
                && said.contains(
                    "`OIDC_SOCK=/run/user/1/oidc-agent/agent.sock oidc-add --no-token-file kit`"
                ),
            "{said}"
        );
        let said = Keeper::refusal(path, "42\n");
        assert!(
            said.contains("(pid 42);") && said.contains("NAME` against that agent"),
            "{said}"
        );
        let said = Keeper::refusal(path, "");
        assert!(said.contains("kept by another agent; stop"), "{said}");
    }
}
