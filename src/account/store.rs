//! Account files on disk: naming, listing, reading, atomic writing.
//!
//! The directory is 0700 and every file 0600. Writes go to a temporary file in
//! the same directory, are fsynced, then renamed over the target, then the
//! directory is fsynced: a crash leaves either the old file or the new one,
//! never half of one. Every read-modify-write of an account file, by any of
//! our processes (the agent saving a rotated refresh token, `oidc-gen -u`,
//! `--rename`, `--reauthenticate`), holds the directory's advisory lock
//! ([`Store::lock`]), so two writers never interleave. Decryption lives in
//! `format` and `legacy`; this module only moves bytes. Its atomic write
//! also serves files outside the directory: backups (`NAME.bak`) and, never
//! through a link, WLCG token files ([`write_replacing`]).

use std::fs::{self, DirBuilder, File};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Files in the account directory that are not accounts (oidc-agent's rule,
/// plus our temporary and backup files).
fn is_account_file(name: &str) -> bool {
    !(name.starts_with('.')
        || name == "config"
        || name.ends_with(".config")
        || name.ends_with(".clientconfig")
        || name.ends_with(".stats")
        || name.ends_with(".log")
        || name.ends_with(".bak")
        || name.ends_with(".d"))
}

/// Checks that `name` is usable as a short name and file name.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.contains('/')
        || name.contains('\0')
        || name.starts_with('.')
        || name.starts_with('-')
        || !is_account_file(name)
    {
        return Err(Error::Usage(format!(
            "'{name}' is not a valid account short name: no '/', no leading '.' or '-', and not a name \
             oidc-agent uses for its own files; use letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

/// The longest short name a new account may have, in bytes: its file and
/// the temporary `.NAME.XXXXXX.tmp` beside it must fit in a file name
/// (255 bytes on Linux file systems).
pub const MAX_NEW_NAME: usize = 200;

/// Checks a short name for a new account (or a rename's target): usable
/// ([`check_name`]), and one that prints on one line and fits in a file
/// name. Existing files with other names (oidc-agent accepts anything)
/// are still read.
pub fn check_new_name(name: &str) -> Result<()> {
    check_name(name)?;
    if name.len() > MAX_NEW_NAME || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let mut shown = name
            .chars()
            .take(40)
            .collect::<String>()
            .escape_debug()
            .to_string();
        if name.chars().count() > 40 {
            shown.push('…');
        }
        return Err(Error::Usage(format!(
            "'{shown}' is not a valid account short name: no white space or control characters, \
             at most {MAX_NEW_NAME} bytes; use letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

/// The account directory with its helpers.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    /// Made for one file a person named by its path: any file name is
    /// taken ([`Store::of_named_file`]).
    any_name: bool,
}

impl Store {
    /// The store at `dir` (nothing is created yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            any_name: false,
        }
    }

    /// The store of the one file at `path`, which a person named by its
    /// path (`oidc-gen -p FILE`, `-u FILE`), and its name there. Any file
    /// name is taken, a backup's (`NAME.bak`) too: the person chose that
    /// file. `None` when `path` names no file (`/`, `..`, not UTF-8).
    pub fn of_named_file(path: &Path) -> Option<(Self, String)> {
        let (dir, name) = (path.parent()?, path.file_name()?.to_str()?);
        let store = Self {
            dir: dir.to_owned(),
            any_name: true,
        };
        Some((store, name.to_owned()))
    }

    /// The store in the default account directory.
    pub fn default_dir() -> Self {
        Self::new(crate::paths::config_dir())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of account `name`.
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        if !self.any_name || name.is_empty() || name.contains(['/', '\0']) {
            check_name(name)?;
        }
        Ok(self.dir.join(name))
    }

    /// The short names of configured accounts, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &self.dir, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_account_file(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Reads account `name`'s file.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.path(name)?;
        read_account_file(&path).map_err(|e| self.read_error(name, &path, e))
    }

    /// The error of reading account `name` at `path`.
    fn read_error(&self, name: &str, path: &Path, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NoSuchAccount {
                name: name.to_owned(),
                dir: self.dir.clone(),
            }
        } else if e.kind() == std::io::ErrorKind::InvalidData {
            Error::UnusableFile {
                path: path.to_owned(),
                what: format!("{e}; put the account file back, or remove this"),
            }
        } else if path.is_dir() {
            // A directory in the file's place: the account file is gone.
            Error::UnusableFile {
                path: path.to_owned(),
                what: "a directory is in its place (account file missing or corrupt); remove \
                       or rename the directory"
                    .into(),
            }
        } else if e.kind() == std::io::ErrorKind::PermissionDenied {
            Error::UnusableFile {
                path: path.to_owned(),
                what: "permission denied (another user's file, or its mode forbids reading); \
                       make it yours and private: chown $USER FILE; chmod 600 FILE"
                    .into(),
            }
        } else {
            Error::io("read", path, e)
        }
    }

    /// A warning when others may write the directory (group or world
    /// writable): they could replace or delete the account files. Not
    /// changed here: the mode is the user's choice (a shared group), and
    /// oidc-agent does not check it either.
    pub fn open_to_others(&self) -> Option<String> {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&self.dir).ok()?.permissions().mode() & 0o777;
        (mode & 0o022 != 0).then(|| {
            format!(
                "the account directory {} is writable by others (mode {mode:04o}): they can \
                 replace or delete account files; `chmod 700 {}` makes it yours alone",
                self.dir.display(),
                self.dir.display()
            )
        })
    }

    /// Creates the directory 0700 if needed.
    pub fn ensure_dir(&self) -> Result<()> {
        ensure_private_dir(&self.dir)
    }

    /// Writes account `name` atomically, mode 0600.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        self.ensure_dir()?;
        let path = self.path(name)?;
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Takes the directory's advisory write lock (`flock` on
    /// `.oidc-agent-rs.lock`), waiting for another holder. Hold it across a
    /// read-modify-write of an account file, never across a prompt or a call
    /// to the agent (the agent takes it while saving).
    pub fn lock(&self) -> Result<Flock> {
        lock_dir(&self.dir)
    }

    /// Takes an advisory lock on account `name`'s file itself, waiting
    /// (after `on_wait`) for another holder: held by a program loading the
    /// account into the agent, so that two loads of one account (two
    /// `oidc-token` autoloads on one terminal) do not both ask for its
    /// password. A save replaces the file; a waiter then holds the old one's
    /// lock, which is enough to come after the load that saved.
    pub fn lock_account(&self, name: &str, on_wait: impl FnOnce()) -> Result<Flock> {
        let path = self.path(name)?;
        let file =
            crate::files::open_to_read(&path).map_err(|e| self.read_error(name, &path, e))?;
        flock_exclusive(&file, &path, on_wait)?;
        Ok(Flock { _file: file })
    }

    /// Fails unless an account file could be written here now: the
    /// directory made, its lock taken, and a temporary file of `size` bytes
    /// written and synced (then removed). For oidc-gen, before a login or an
    /// import spends a refresh token that only the new file would keep.
    pub fn check_writable(&self, size: usize) -> Result<()> {
        let _lock = self.lock()?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".oidc-agent-rs.check.")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| Error::io("create a file in", &self.dir, without_path(e)))?;
        tmp.as_file_mut()
            .write_all(&vec![0; size])
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io("write a file in", &self.dir, e))
    }

    /// Deletes account `name`'s file.
    pub fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        fs::remove_file(&path).map_err(|e| Error::io("delete", &path, e))
    }
}

/// The most an account file may hold: ours are a few KiB, oidc-agent's too.
pub const MAX_ACCOUNT_FILE: u64 = 1 << 20;

/// Reads an account file: a regular file (a symbolic link to one is
/// followed) of at most [`MAX_ACCOUNT_FILE`] bytes. A FIFO, a device or a
/// socket in its place (or a link to `/dev/zero`) is an `InvalidData`
/// error instead of a read that never ends; the open does not block.
pub fn read_account_file(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::files::read_regular(
        path,
        MAX_ACCOUNT_FILE,
        "an account file (those are a few KiB)",
    )
}

/// The name of the lock file in an account directory (a dot file, so never
/// listed as an account).
pub const LOCK_FILE: &str = ".oidc-agent-rs.lock";

/// A held lock, of a directory or of an account file; released on drop
/// (closing the file releases the `flock`).
#[derive(Debug)]
pub struct Flock {
    _file: File,
}

/// Takes the advisory write lock of account directory `dir` (see
/// [`Store::lock`]); creates the directory and the lock file as needed.
pub fn lock_dir(dir: &Path) -> Result<Flock> {
    ensure_private_dir(dir)?;
    let path = dir.join(LOCK_FILE);
    let file = open_lock_file(&path)?;
    flock_exclusive(&file, &path, || {})?;
    Ok(Flock { _file: file })
}

/// Opens (creates, 0600) the lock file at `path`, never through a link.
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    crate::files::open_lock_file(path).map_err(|e| Error::io("open lock file", path, e))
}

/// Takes an exclusive `flock` on `file` (at `path`, for the error), calling
/// `on_wait` first when another holder makes it wait.
fn flock_exclusive(file: &File, path: &Path, on_wait: impl FnOnce()) -> Result<()> {
    use rustix::fs::FlockOperation::{LockExclusive, NonBlockingLockExclusive};
    match rustix::fs::flock(file, NonBlockingLockExclusive) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::WOULDBLOCK) => on_wait(),
        Err(_) => {}
    }
    loop {
        match rustix::fs::flock(file, LockExclusive) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::io("lock", path, e.into())),
        }
    }
}

/// `tempfile`'s error for a file it could not create, without the path it
/// appends (the message names the directory already).
fn without_path(e: std::io::Error) -> std::io::Error {
    use std::io::ErrorKind as K;
    if e.raw_os_error().is_some() {
        return e;
    }
    // tempfile's wrapper hides the OS error's number; its kind gives the
    // system's words back ("No such file or directory", not Rust's
    // "entity not found") for the kinds a directory's write meets.
    let code = match e.kind() {
        K::NotFound => libc::ENOENT,
        K::PermissionDenied => libc::EACCES,
        K::NotADirectory => libc::ENOTDIR,
        K::StorageFull => libc::ENOSPC,
        K::QuotaExceeded => libc::EDQUOT,
        K::ReadOnlyFilesystem => libc::EROFS,
        kind => return std::io::Error::from(kind),
    };
    std::io::Error::from_raw_os_error(code)
}

/// Where symbolic link `link` points, in the end: resolved fully, or, for a
/// link to a file not there yet, its target taken from the link's
/// directory.
fn link_target(link: &Path) -> Result<PathBuf> {
    match fs::canonicalize(link) {
        Ok(target) => Ok(target),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let to = fs::read_link(link).map_err(|e| Error::io("read the link", link, e))?;
            Ok(link.parent().unwrap_or(Path::new(".")).join(to))
        }
        Err(e) => Err(Error::io("resolve the link", link, e)),
    }
}

/// Creates `dir` (and parents) with mode 0700. The mode is given at creation
/// so there is no window in which the directory is readable by others.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// Writes `bytes` to `path` atomically: a 0600 temporary file in the same
/// directory, fsync, rename over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // An account file that is a symbolic link (into a dotfiles repository,
    // a synced folder) is written through: the link stays and its target
    // gets the new contents. Replacing the link would leave the target with
    // a refresh token the provider has replaced, to be put back later.
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return write_replacing(&link_target(path)?, bytes);
    }
    write_replacing(path, bytes)
}

/// Keeps `bytes`, what the file at `path` held, as `NAME.bak` beside it,
/// or `NAME.bak.<time>` when that exists (an earlier backup is never
/// overwritten), written as account files are ([`write_atomic`], 0600).
/// Before a file in oidc-agent's format is replaced by ours.
pub fn backup(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut backup = path.with_file_name(format!("{name}.bak"));
    if backup.exists() {
        // A name on disk: the real time, not the agent's (test) clock.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        backup.set_extension(format!("bak.{now}"));
    }
    write_atomic(&backup, bytes)?;
    Ok(backup)
}

/// [`write_atomic`] that replaces whatever is at `path`, a link too, never
/// writing through it: for files in shared places (a token file in /tmp),
/// where a link may be another user's, planted to have us overwrite a file
/// of ours it points to. In a sticky directory the rename over another
/// user's link fails instead.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("account");
    // A dot name: never listed as an account. tempfile picks a fresh name
    // (a leftover of a crash never blocks the next write), creates it 0600,
    // and deletes it again if we fail before the rename.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, without_path(e)))?;
    tmp.as_file_mut()
        .write_all(bytes)
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("sync", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("replace", path, e.error))?;
    // The rename is durable only once the directory entry is.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Makes an existing file 0600 (for files other tools created 0644).
pub fn make_private(path: &Path) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("chmod", path, e))
}

#[cfg(test)]
mod tests;
