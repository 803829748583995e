//! Removing a WLCG bearer-token file (see `ahead`, which writes them): a
//! leaf both the state (an unloaded account's file goes with it) and the
//! refresh-ahead loop use.

use std::path::Path;

use super::log::log;

/// Removes a token file (an account unloaded, the agent locked or stopping).
pub fn remove(name: &str, path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => log!("'{name}': removed token file {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => log!("'{name}': token file {} NOT removed: {e}", path.display()),
    }
}
