//! The agent following its account file as other programs change it:
//! before a refresh it takes a newer refresh token (or a new login) another
//! agent or `oidc-gen` saved there, and it finds the file again after an
//! `oidc-gen --rename` it was not told of. Both keep the data key, which is
//! how the agent recognises the file.

use std::path::{Path, PathBuf};

use super::ctx::Ctx;
use super::log::{fingerprint, log};
use super::state::Persist;
use crate::account::config::AccountConfig;
use crate::account::format;
use crate::account::store;
use crate::secret::{SecretKey, SecretString};

/// The account in the file `persist` names, when it is one of ours that
/// its key opens, and the file.
pub(super) async fn stored(persist: Option<&Persist>) -> Option<(AccountConfig, Vec<u8>)> {
    let p = persist?.clone();
    tokio::task::spawn_blocking(move || open_at(&p.path, &p.key))
        .await
        .ok()
        .flatten()
}

/// The account in file `path`, which `key` opens, and the file.
fn open_at(path: &Path, key: &SecretKey) -> Option<(AccountConfig, Vec<u8>)> {
    let file = store::read_account_file(path).ok()?;
    let config = crate::account::open_with_key(path, &file, key).ok()?;
    Some((config, file))
}

/// Before a refresh: when the account file holds a refresh token the agent
/// neither saw there last nor has rotated away from, another process saved
/// it since (another agent with the same account loaded, a new login): it
/// is the newest, and refreshing with ours would be a replay that a
/// rotating provider answers by revoking the login (RFC 6819 §5.2.2.3). So
/// the agent takes it, with the rest of the account as the file has it (a
/// new login by `oidc-gen -m` may have changed the client or the scopes;
/// `--reauthenticate` keeps the file's data key so that the agent can read
/// it). An account with an unsaved rotation keeps its own (the save says
/// why the file differs). Call holding the account's lane.
///
/// Refused (the error says why) while another agent holds a newer token
/// than the file's, which it could not save (`account::held`): refreshing
/// with ours would be a replay.
pub(super) async fn follow_file(ctx: &Ctx, name: &str) -> Result<(), String> {
    let (persist, seen) = {
        let st = ctx.state();
        let Some(a) = st.accounts.get(name).filter(|a| a.unsaved.is_none()) else {
            return Ok(());
        };
        let (Some(p), Some(seen)) = (a.persist.clone(), a.file_rt.clone()) else {
            return Ok(());
        };
        (p, seen)
    };
    if let Some(holder) = crate::account::held::elsewhere(&persist.path) {
        return Err(holder.refusal(name, &persist.path));
    }
    follow(ctx, name, persist, seen).await;
    Ok(())
}

/// [`follow_file`] once it may refresh.
async fn follow(ctx: &Ctx, name: &str, persist: Persist, seen: SecretString) {
    let (mut file, moved) = match stored(Some(&persist)).await {
        Some((file, _)) => (file, None),
        None => {
            // Gone: renamed elsewhere, perhaps, and refreshed there since.
            let gone = persist.clone();
            let found = tokio::task::spawn_blocking(move || {
                let moved = moved_to(&gone.path, &gone.key)?;
                open_at(&moved, &gone.key).map(|(config, _)| (config, moved))
            })
            .await
            .ok()
            .flatten();
            let Some((file, moved)) = found else {
                return;
            };
            (file, Some(moved))
        }
    };
    let on_disk = file.refresh_token.clone();
    let mut st = ctx.state();
    let Some(a) = st.accounts.get_mut(name) else {
        return;
    };
    if let (Some(moved), Some(p)) = (moved, a.persist.as_mut()) {
        log!(
            "'{name}': {} was renamed to {} (oidc-gen --rename elsewhere); following it",
            p.path.display(),
            moved.display()
        );
        p.path = moved;
    }
    if on_disk == seen || a.config.refresh_token == on_disk || a.rotated.contains(&on_disk) {
        return;
    }
    log!(
        "'{name}': {} holds refresh token {}, saved there by another program (another agent, \
         a new login); refreshing with it instead of {}",
        persist.path.display(),
        fingerprint(&on_disk),
        fingerprint(&a.config.refresh_token)
    );
    a.rotated
        .rotate(&mut a.config.refresh_token, on_disk.clone());
    a.file_rt = Some(on_disk);
    // A new token: the provider's refusal of the old one says nothing of it.
    a.refused = None;
    // The agent's name for it stays (the file may have been renamed).
    file.name = a.config.name.clone();
    file.refresh_token = a.config.refresh_token.clone();
    let changed = file.to_json() != a.config.to_json();
    if changed {
        log!("'{name}': took the account's other settings from the file too");
        a.config = file;
        st.forget_tokens(name);
    }
}

/// The one other account file in the directory of `gone` that `key`
/// opens: where `oidc-gen --rename` (which keeps the data key) put it. Two
/// or more (copies) are not guessed between.
pub(super) fn moved_to(gone: &Path, key: &SecretKey) -> Option<PathBuf> {
    let dir = gone.parent()?;
    let names = store::Store::new(dir).list().ok()?;
    let mut opened = names.into_iter().map(|n| dir.join(n)).filter(|p| {
        store::read_account_file(p)
            .ok()
            .filter(|file| format::is_ours(file))
            .is_some_and(|file| format::open_with_key(&file, key).is_ok())
    });
    let first = opened.next()?;
    opened.next().is_none().then_some(first)
}
