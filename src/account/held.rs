//! Which agent holds an account's newest refresh token while the account
//! file does not (the save failed: a full disk, a read-only directory).
//!
//! Another agent refreshing that account, or an `oidc-add` loading it into
//! another agent, would spend the file's older token, a replay that a
//! rotating provider answers by revoking the whole login, the holder's
//! newest token with it (RFC 6819 §5.2.2.3). So the holder leaves a note
//! naming itself (pid, socket, account) outside the account directory, which
//! may be the full disk: in the per-user runtime directory. The others read
//! it and refuse, naming the holder.
//!
//! The note also carries the newest token itself, sealed as the account file
//! would be (the same data key and header, so the same password opens it),
//! and which file token it replaces. A holder that is gone (stopped on a
//! disk still full, killed, crashed) blocks no one: the next `oidc-add` of
//! the account takes the token from its note instead of the file's older
//! one, and the agent it loads it into writes it to the file when it can.
//! The runtime directory lasts until the user's last session ends.

use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::store;
use crate::secret::SecretString;

/// Whether `dir` and its parent are directories of this user that no one
/// else may enter: notes are written and believed only there (in a `/tmp`
/// without `$XDG_RUNTIME_DIR`, another user could have made the directory
/// first, to read the sealed token or plant a note).
pub(super) fn private(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let uid = rustix::process::getuid().as_raw();
    [Some(dir), dir.parent()].into_iter().all(|d| {
        d.and_then(|d| std::fs::symlink_metadata(d).ok())
            .is_some_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
    })
}

/// Where the note for `account_file` is: one file per account file path.
fn note_path(account_file: &Path) -> PathBuf {
    let digest = sha2::Sha256::digest(account_file.as_os_str().as_encoded_bytes());
    crate::paths::service_dir()
        .join("unsaved")
        .join(format!("{}.holder", hex::encode(&digest[..12])))
}

/// The agent that holds an account's newest refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its socket (for `OIDC_SOCK=...`).
    pub socket: String,
    /// The account's name there.
    pub account: String,
    /// [`digest`] of the refresh token the file holds, which this one
    /// replaces; empty when unknown.
    pub replaces: String,
    /// The account with the newest token, sealed as its file would be.
    pub sealed: Option<Vec<u8>>,
}

/// What a note records of the file's token: a hash, never the token.
pub fn digest(rt: &SecretString) -> String {
    hex::encode(sha2::Sha256::digest(rt.expose().as_bytes()))
}

impl Holder {
    fn text(&self) -> String {
        let sealed = self
            .sealed
            .as_deref()
            .map(super::format::encode_file)
            .unwrap_or_default();
        format!(
            "{}\n{}\n{}\n{}\n{sealed}\n",
            self.pid, self.socket, self.account, self.replaces
        )
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        Some(Self {
            pid: lines.next()?.trim().parse().ok()?,
            socket: lines.next()?.to_owned(),
            account: lines.next()?.to_owned(),
            replaces: lines.next().unwrap_or_default().to_owned(),
            sealed: lines
                .next()
                .filter(|l| !l.is_empty())
                .and_then(super::format::decode_file),
        })
    }

    /// Why `name` (its file `path`) is not loaded or refreshed here.
    pub fn refusal(&self, name: &str, path: &Path) -> String {
        format!(
            "the newest refresh token of '{name}' is held by the agent at {} (pid {}), which \
             could not write it to {}; the file's older token would be a replay that revokes \
             the login. Free space there (that agent then saves it), or use that agent: \
             `OIDC_SOCK={} oidc-token {}`",
            self.socket,
            self.pid,
            path.display(),
            self.socket,
            self.account
        )
    }
}

/// Notes that this process holds `account_file`'s newest refresh token:
/// `sealed`, which replaces the file's (`replaces`, when known).
pub fn note(
    account_file: &Path,
    socket: &Path,
    account: &str,
    replaces: Option<&SecretString>,
    sealed: Option<Vec<u8>>,
) -> crate::Result<PathBuf> {
    let path = note_path(account_file);
    if let Some(dir) = path.parent() {
        store::ensure_private_dir(dir)?;
        if !private(dir) {
            return Err(crate::Error::Failure(format!(
                "{} (or the directory it is in) is not private to this user; the note is not \
                 written there",
                dir.display()
            )));
        }
    }
    let holder = Holder {
        pid: std::process::id(),
        socket: socket.display().to_string(),
        account: account.to_owned(),
        replaces: replaces.map(digest).unwrap_or_default(),
        sealed,
    };
    store::write_atomic(&path, holder.text().as_bytes())?;
    Ok(path)
}

/// The newest token of `account_file` that a holder no longer running left
/// in its note, sealed, when it replaces `file_rt` (what the file holds
/// now). A note the file has moved past since is removed.
pub fn left_behind(account_file: &Path, file_rt: &SecretString) -> Option<(Holder, Vec<u8>)> {
    let path = note_path(account_file);
    let holder = read(&path)?;
    if running(holder.pid) {
        return None;
    }
    if holder.replaces != digest(file_rt) {
        let _ = std::fs::remove_file(path);
        return None;
    }
    let sealed = holder.sealed.clone()?;
    Some((holder, sealed))
}

/// Removes the note of `holder` (no longer running) once its token is
/// handed on; a note written since by another holder stays.
pub fn handed_on(account_file: &Path, holder: &Holder) {
    remove_by(account_file, holder.pid);
}

/// Takes back this process's note for `account_file` (the file holds the
/// newest token again, or the token is dead); another's stays.
pub fn withdraw(account_file: &Path) {
    remove_by(account_file, std::process::id());
}

/// Removes the note for `account_file` if process `pid` wrote it.
fn remove_by(account_file: &Path, pid: u32) {
    let path = note_path(account_file);
    if read(&path).is_some_and(|h| h.pid == pid) {
        let _ = std::fs::remove_file(path);
    }
}

/// The account file `old` was renamed to `new`: its note (whoever wrote
/// it) goes with it. Left under the old path it would be read by no one: a
/// load of the new name would take the file's older token, or refresh with
/// it in another agent, a replay that revokes the login.
pub fn moved(old: &Path, new: &Path) {
    let from = note_path(old);
    if read(&from).is_some() {
        let _ = std::fs::rename(from, note_path(new));
    }
}

/// Another running process that holds `account_file`'s newest token.
pub fn elsewhere(account_file: &Path) -> Option<Holder> {
    let holder = read(&note_path(account_file))?;
    (holder.pid != std::process::id() && running(holder.pid)).then_some(holder)
}

/// Whether process `pid` runs (as this user: another user's process with a
/// reused pid is no agent of ours).
fn running(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => !dead(pid) && an_agent(pid),
        Err(e) => e != rustix::io::Errno::SRCH && e != rustix::io::Errno::PERM,
    }
}

/// Whether `pid` runs an agent, as far as Linux's `/proc/PID/comm` tells:
/// the pid of a holder long gone may have been given to another program.
fn an_agent(pid: rustix::process::Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{}/comm", pid.as_raw_nonzero()))
        .map_or(true, |comm| comm.starts_with("oidc-agent"))
}

/// A process that has ended but not been reaped yet (a zombie) still takes
/// signals: Linux's `/proc/PID/stat` says it is dead.
fn dead(pid: rustix::process::Pid) -> bool {
    let stat =
        std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('Z' | 'X'))
}

fn read(path: &Path) -> Option<Holder> {
    if !path.parent().is_some_and(private) {
        return None;
    }
    Holder::parse(&std::fs::read_to_string(path).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_names_its_holder_and_a_dead_one_counts_for_nothing() {
        let holder = Holder {
            pid: 42,
            socket: "/run/user/1/oidc-agent/agent.sock".into(),
            account: "kit".into(),
            replaces: digest(&SecretString::new("rt-file".into())),
            sealed: Some(b"OIDCRS sealed".to_vec()),
        };
        assert_eq!(Holder::parse(&holder.text()), Some(holder.clone()));
        assert!(!holder.text().contains("rt-file"));
        assert_eq!(Holder::parse("42\n"), None);
        let said = holder.refusal("kit", Path::new("/home/u/.config/oidc-agent/kit"));
        assert!(
            said.contains("(pid 42)")
                && said.contains("`OIDC_SOCK=/run/user/1/oidc-agent/agent.sock oidc-token kit`"),
            "{said}"
        );
        assert_ne!(
            note_path(Path::new("/a/kit")),
            note_path(Path::new("/b/kit"))
        );
        // A pid that runs, but no agent (this test): not a holder.
        assert!(!running(std::process::id()));
    }

    #[test]
    fn notes_live_only_in_a_private_directory() {
        use std::os::unix::fs::PermissionsExt as _;
        let base = tempfile::tempdir().expect("tempdir");
        let parent = base.path().join("service");
        let dir = parent.join("unsaved");
        store::ensure_private_dir(&dir).expect("mkdir");
        assert!(private(&dir));
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(!private(&dir), "a parent others may enter");
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o733)).expect("chmod");
        assert!(!private(&dir), "a directory others may write");
    }
}
