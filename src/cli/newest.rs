//! Our clients' side of `account::held`, before an account is loaded: not
//! into one agent while another holds a newer refresh token than its file
//! (checking the file's with a refresh would be a replay), and with the
//! newest token a stopped agent left in its note rather than the file's.

use std::path::Path;

use crate::account::Opened;
use crate::account::held::{self, Holder};
use crate::account::store::Store;
use crate::client::AgentClient;
use crate::error::Error;

/// Refuses to load `name` into `client`'s agent while another running agent
/// holds its newest token. Before the password is asked.
pub(super) fn refuse_if_held_elsewhere(
    client: &AgentClient,
    store: &Store,
    name: &str,
) -> crate::Result<()> {
    let path = store.path(name)?;
    match held::elsewhere(&path) {
        Some(holder) if Path::new(&holder.socket) != client.path() => {
            Err(Error::Failure(holder.refusal(name, &path)))
        }
        _ => Ok(()),
    }
}

/// A stopped agent's newest token, taken for a load.
pub(super) struct Left {
    holder: Holder,
    /// The account with it, sealed as its file would be: the agent writes
    /// this to the file when it can (`Load::unwritten`).
    pub sealed: Vec<u8>,
    /// Why the file does not hold it yet.
    pub why: String,
}

/// Puts the newest token a stopped agent left for `opened` (one of our
/// files, which its key opens) in its place, saying so.
pub(super) fn take_left_behind(opened: &mut Opened) -> Option<Left> {
    let key = opened.key.as_ref()?;
    let (holder, sealed) = held::left_behind(&opened.path, &opened.config.refresh_token)?;
    let config = crate::account::open_with_key(&opened.path, &sealed, key).ok()?;
    eprintln!(
        "oidc-add: note: '{}': took the newest refresh token, which an agent now stopped \
         (pid {}) could not write to {}; the agent writes it there",
        opened.config.name,
        holder.pid,
        opened.path.display()
    );
    opened.config = crate::account::config::AccountConfig {
        name: opened.config.name.clone(),
        ..config
    };
    let why = format!(
        "left by a stopped agent (pid {}), not in the file yet",
        holder.pid
    );
    Some(Left {
        holder,
        sealed,
        why,
    })
}

impl Left {
    /// The agent has it: the note goes.
    pub(super) fn handed_on(&self, path: &Path) {
        held::handed_on(path, &self.holder);
    }
}
