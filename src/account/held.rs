//! Which agent holds an account's newest refresh token while the account
//! file does not (the save failed: a full disk, a read-only directory).
//!
//! Another agent refreshing that account, or an `oidc-add` loading it into
//! another agent, would spend the file's older token, a replay that a
//! rotating provider answers by revoking the whole login, the holder's
//! newest token with it (RFC 6819 §5.2.2.3). So the holder leaves a note
//! naming itself (pid, socket, account) outside the account directory, which
//! may be the full disk: in the per-user runtime directory. The others read
//! it and refuse, naming the holder. A note whose process is gone counts
//! for nothing, so a killed holder never blocks anyone.

use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::store;

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
}

impl Holder {
    fn text(&self) -> String {
        format!("{}\n{}\n{}\n", self.pid, self.socket, self.account)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        Some(Self {
            pid: lines.next()?.trim().parse().ok()?,
            socket: lines.next()?.to_owned(),
            account: lines.next()?.to_owned(),
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

/// Notes that this process holds `account_file`'s newest refresh token.
pub fn note(account_file: &Path, socket: &Path, account: &str) -> crate::Result<()> {
    let path = note_path(account_file);
    if let Some(dir) = path.parent() {
        store::ensure_private_dir(dir)?;
    }
    let holder = Holder {
        pid: std::process::id(),
        socket: socket.display().to_string(),
        account: account.to_owned(),
    };
    store::write_atomic(&path, holder.text().as_bytes())
}

/// Takes back this process's note for `account_file` (the file holds the
/// newest token again, or the token is dead); another's stays.
pub fn withdraw(account_file: &Path) {
    let path = note_path(account_file);
    let ours = read(&path).is_some_and(|h| h.pid == std::process::id());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// Another running process that holds `account_file`'s newest token.
pub fn elsewhere(account_file: &Path) -> Option<Holder> {
    let holder = read(&note_path(account_file))?;
    let pid = rustix::process::Pid::from_raw(i32::try_from(holder.pid).ok()?)?;
    let running = match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // Someone else's process: not an agent of this user.
        Err(e) => e != rustix::io::Errno::SRCH && e != rustix::io::Errno::PERM,
    };
    (holder.pid != std::process::id() && running).then_some(holder)
}

fn read(path: &Path) -> Option<Holder> {
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
        };
        assert_eq!(Holder::parse(&holder.text()), Some(holder.clone()));
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
    }
}
