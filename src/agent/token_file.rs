//! Removing a WLCG bearer-token file (see `ahead`, which writes them): a
//! leaf both the state (an unloaded account's file goes with it) and the
//! refresh-ahead loop use.

use std::path::Path;

use super::log::log;

/// Whether the agent may take `path` as a token file: nothing there, or a
/// regular file holding what a token file holds (one line, no spaces; a
/// token file of an earlier agent). Anything else (a person's notes, a
/// link, a directory) would be overwritten, and removed at the unload.
pub fn may_take(path: &Path) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "{} {what}: it would be overwritten with a token and removed when the account is \
             unloaded; remove it, or name another file (--token-file=PATH)",
            path.display()
        ))
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if !meta.is_file() {
        return refuse("exists and is not a regular file");
    }
    if meta.len() > 64 * 1024 {
        return refuse("exists and is larger than a token");
    }
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let line = text.strip_suffix(b"\n").unwrap_or(&text);
    if line.iter().any(|b| b.is_ascii_whitespace()) {
        return refuse("exists and does not hold a token");
    }
    Ok(())
}

/// Removes a token file (an account unloaded, the agent locked or stopping).
pub fn remove(name: &str, path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => log!("'{name}': removed token file {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log!("'{name}': token file {} NOT removed: {e}", path.display()),
    }
}
