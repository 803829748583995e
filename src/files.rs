//! Reading the files a person names or keeps (accounts, issuer.config, CA
//! bundles, client files, discovery documents): a regular file only, of
//! bounded size, opened without blocking; and the lock files beside them.
//! A leaf: it uses nothing of the crate, so every layer may read through
//! it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The contents of the regular file at `path` (a link to one is followed)
/// of at most `cap` bytes, `what` it should be naming the kind of file in
/// the error for a larger one. A FIFO, a device or a socket in its place
/// (or a link to `/dev/zero`) is an `InvalidData` error instead of an open
/// or a read that never ends: for every file the tools read that a person
/// names or keeps (accounts, issuer.config, CA bundles, client files).
pub fn read_regular(path: &Path, cap: u64, what: &str) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = open_to_read(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
    }
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file (a FIFO, socket or device is in its place)",
        ));
    }
    if meta.len() > cap {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} bytes, not {what}", meta.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Opens `path` for reading without blocking: a FIFO in an account file's
/// place must not hang the open.
pub fn open_to_read(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
}

/// Opens (creates, 0600) the lock file at `path`, never through a link
/// (`ELOOP` when a link is in its place).
pub fn open_lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// [`open_lock_file`], then an exclusive `flock` without waiting: the file
/// holding the lock, or `None` when another process holds it.
pub fn try_lock(path: &Path) -> std::io::Result<Option<File>> {
    let file = open_lock_file(path)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
