//! What `--help` shows besides the clap definition: the summary line of
//! the command's manual page ([`manual`]) and the exit-code list, from the
//! one table in `error.rs`. The man pages (`docs`) show the same.

use super::manual;
use crate::error::ErrorKind;

/// The exit-code list of `--help`, from the one table in `error.rs`.
pub fn exit_codes_help() -> String {
    let mut s = String::from("Exit status:\n  0   success\n");
    for (kind, meaning) in ErrorKind::TABLE {
        s.push_str(&format!("  {:<3} {meaning}\n", kind.exit_code()));
    }
    s
}

/// The command as `--help` shows it: the summary line from [`manual`] and
/// the exit-code list.
pub fn for_help(cmd: clap::Command) -> clap::Command {
    let cmd = match manual::page(cmd.get_name()) {
        Some(page) => cmd.about(page.about),
        None => cmd,
    };
    cmd.after_help(exit_codes_help())
}
