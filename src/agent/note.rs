//! The agent's side of `account::held`: while it holds a rotation it
//! could not write, it leaves a note saying so (with the token, sealed as
//! the file would hold it) outside the account directory, and takes the
//! note back once the file holds the newest token again.

use super::ctx::Ctx;
use super::log::{fingerprint, log};
use crate::account::{format, store};

/// Notes, outside the account directory, that this agent holds the newest
/// refresh token of `a` (`account::held`): other agents and `oidc-add`
/// then refuse to spend the file's older one, and, should this agent stop
/// before it can write the file, the next `oidc-add` takes the token from
/// the note, sealed there as the file would hold it.
pub(super) fn note_holder(ctx: &Ctx, name: &str, a: &mut super::state::Loaded) {
    let (Some(p), Some(socket)) = (&a.persist, ctx.socket.get()) else {
        return;
    };
    let fp = fingerprint(&a.config.refresh_token);
    if a.unsaved
        .as_ref()
        .and_then(|u| u.noted.as_ref())
        .map(|n| &n.fingerprint)
        == Some(&fp)
    {
        return;
    }
    let json = a.config.to_json();
    let sealed = p
        .convert_to
        .as_deref()
        .and_then(|template| format::reseal(template, &p.key, json.expose().as_bytes()).ok());
    // What the file holds: as last seen, else (a load that brought its own
    // token) as it is now.
    let in_file = a.file_rt.clone().or_else(|| {
        let file = store::read_account_file(&p.path).ok()?;
        let config = crate::account::open_with_key(&p.path, &file, &p.key).ok()?;
        Some(config.refresh_token)
    });
    let keeps_token = sealed.is_some();
    match crate::account::held::note(&p.path, socket, name, in_file.as_ref(), sealed) {
        Ok(path) => {
            if let Some(u) = a.unsaved.as_mut() {
                u.noted = Some(super::state::Noted {
                    fingerprint: fp,
                    keeps_token: keeps_token.then_some(path),
                });
            }
        }
        Err(e) => {
            log!("'{name}': could not note that this agent holds its newest refresh token: {e}")
        }
    }
}

/// Takes back [`note_holder`]'s note: the file holds the newest token again
/// (or it is dead).
pub(super) fn withdraw_note(a: &super::state::Loaded) {
    if let Some(p) = &a.persist {
        crate::account::held::withdraw(&p.path);
    }
}
