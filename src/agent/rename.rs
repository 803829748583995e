//! Renaming a loaded account (`oidc-gen --rename` through the agent, which
//! holds the data key): the newest refresh token written to the new file,
//! the old one removed, and the account served under the new name with what
//! it had (lifetime, rotations, token file), holding both names' lanes.

use std::path::{Path, PathBuf};

use super::ctx::{Ctx, fail, locked};
use super::log::log;
use super::state::{CacheKey, Loaded, State, Token};
use crate::error::ErrorKind;
use crate::protocol::{Response, strings};

/// Renames loaded account `old` to `new`, whose file is `new_path`: writes
/// the account (with the newest refresh token) to the new file under the
/// same data key, removes the old file, and serves it under the new name.
pub(super) async fn rename(ctx: &Ctx, old: &str, new: &str, new_path: PathBuf) -> Response {
    in_both_lanes(ctx, old, new, rename_in_lanes(ctx, old, new, new_path)).await
}

/// A request for `new`, which is not loaded, whose file `new_path` is
/// where the file of loaded account `old` went: `oidc-gen --rename` in a
/// shell that did not reach this agent (it keeps the data key, which is how
/// the file is recognised, as `follow::moved_to` does). The account is
/// served under its new name from then on, with all it had (an unsaved
/// rotation, the token file), rather than loaded a second time from the
/// same file. Returns whether it was.
pub(super) async fn adopt_renamed(ctx: &Ctx, new: &str, new_path: &Path) -> bool {
    if ctx.state().accounts.contains_key(new) || !new_path.is_file() {
        return false;
    }
    // Accounts whose file went: to one the agent may not have found yet, or
    // to `new_path` already (the agent followed it for a save).
    let gone: Vec<_> = ctx
        .state()
        .accounts
        .iter()
        .filter_map(|(name, a)| Some((name.clone(), a.persist.clone()?)))
        .filter(|(_, p)| {
            p.path.parent() == new_path.parent() && (p.path == new_path || !p.path.exists())
        })
        .collect();
    for (old, p) in gone {
        let to = if p.path == new_path {
            Some(p.path)
        } else {
            tokio::task::spawn_blocking(move || super::follow::moved_to(&p.path, &p.key))
                .await
                .ok()
                .flatten()
        };
        if to.as_deref() == Some(new_path) {
            let adopt = adopt_in_lanes(ctx, &old, new, new_path.to_owned());
            return in_both_lanes(ctx, &old, new, adopt).await.is_success();
        }
    }
    false
}

/// Runs `change` of accounts `old` and `new` holding both their lanes.
async fn in_both_lanes(
    ctx: &Ctx,
    old: &str,
    new: &str,
    change: impl std::future::Future<Output = Response>,
) -> Response {
    let (lane, new_lane) = {
        let mut st = ctx.state();
        if st.is_locked() {
            return locked();
        }
        let Some(lane) = st.accounts.get(old).map(|a| a.lane.clone()) else {
            return fail(ErrorKind::NotLoaded, strings::NOT_LOADED);
        };
        (lane, st.lane(new))
    };
    // Two lanes, always taken in name order.
    let (first, second) = if old < new {
        (lane, new_lane)
    } else {
        (new_lane, lane)
    };
    let reply = {
        let _a = first.lock().await;
        let _b = second.lock().await;
        change.await
    };
    drop((first, second));
    let mut st = ctx.state();
    st.prune_lane(old);
    st.prune_lane(new);
    reply
}

async fn rename_in_lanes(ctx: &Ctx, old: &str, new: &str, new_path: PathBuf) -> Response {
    // A newer token another agent saved to the file since is taken first:
    // the rename writes the newest one, and the file is not "changed by
    // another program" to it.
    if let Err(e) = super::follow::follow_file(ctx, old).await {
        return fail(ErrorKind::Failure, e);
    }
    let (mut config, persist, file_rt, rotated) = {
        let st = ctx.state();
        if let Some(no) = cannot_take(&st, new) {
            return no;
        }
        let Some(a) = st.accounts.get(old) else {
            return fail(ErrorKind::NotLoaded, strings::NOT_LOADED);
        };
        let (config, persist) = (a.config.clone(), a.persist.clone());
        (config, persist, a.file_rt.clone(), a.rotated.clone())
    };
    config.name = new.to_owned();
    let mut persist = persist;
    if let Some(p) = persist.as_mut() {
        if new_path.parent() != p.path.parent()
            || new_path.file_name().and_then(|n| n.to_str()) != Some(new)
        {
            return fail(
                ErrorKind::Usage,
                "Bad Request: the new account file must be NEW in the same directory",
            );
        }
        if new_path.exists() {
            return fail(
                ErrorKind::Usage,
                format!("{} exists already", new_path.display()),
            );
        }
        let job = (p.clone(), config.clone(), file_rt, new_path.clone());
        let kept = rotated.clone();
        let written = tokio::task::spawn_blocking(move || {
            let (p, config, file_rt, new_path) = job;
            let dir = new_path.parent().unwrap_or(std::path::Path::new("."));
            let _lock = crate::account::store::lock_dir(dir).map_err(|e| e.to_string())?;
            super::save::write_to(&new_path, &p, &config, file_rt.as_ref(), &kept)?;
            std::fs::remove_file(&p.path)
                .map_err(|e| format!("cannot remove {}: {e}", p.path.display()))?;
            // The new file holds this agent's newest token: a note of its
            // own goes; another holder's follows the file.
            crate::account::held::moved(&p.path, &new_path);
            crate::account::held::withdraw(&new_path);
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = written {
            // The client says "'OLD' not renamed"; this is why.
            return fail(ErrorKind::Failure, e);
        }
        p.path = new_path;
        p.convert_to = None;
    }
    let mut st = ctx.state();
    let Some((prev, moving)) = take_out(&mut st, old) else {
        return fail(ErrorKind::NotLoaded, strings::NOT_LOADED);
    };
    let lane = st.lane(new);
    let file_rt = persist.as_ref().map(|_| config.refresh_token.clone());
    let mut loaded = Loaded::new(config, persist, lane, prev.loaded_at);
    loaded.file_rt = file_rt;
    loaded.rotated = rotated;
    loaded.expires_at = prev.expires_at;
    loaded.last_refresh = prev.last_refresh;
    loaded.ahead.last_served = prev.ahead.last_served;
    put_in(ctx, &mut st, new, loaded, moving);
    log!("'{old}': renamed to '{new}'");
    Response::success().with_info(format!("Account '{old}' renamed to '{new}'"))
}

/// [`adopt_renamed`] holding both lanes: the account moves to its new name
/// and file as it is.
async fn adopt_in_lanes(ctx: &Ctx, old: &str, new: &str, new_path: PathBuf) -> Response {
    let mut st = ctx.state();
    if let Some(no) = cannot_take(&st, new) {
        return no;
    }
    let Some((mut a, moving)) = take_out(&mut st, old) else {
        return fail(ErrorKind::NotLoaded, strings::NOT_LOADED);
    };
    a.config.name = new.to_owned();
    a.lane = st.lane(new);
    if let Some(p) = a.persist.as_mut() {
        p.path = new_path;
    }
    // A note of an unsaved rotation names the account: written again.
    if let Some(u) = a.unsaved.as_mut() {
        u.noted = None;
        super::note::note_holder(ctx, new, &mut a);
    }
    put_in(ctx, &mut st, new, a, moving);
    log!(
        "'{old}': its file was renamed to '{new}' (oidc-gen --rename elsewhere); served as '{new}'"
    );
    Response::success()
}

/// What goes with a loaded account to its new name besides itself.
struct Moving {
    /// Its token file, taken out first so that the removal of the old name
    /// does not delete it.
    token_file: Option<PathBuf>,
    /// Its cached tokens: no refresh (a rotation) it does not need.
    cached: Vec<(CacheKey, Token)>,
}

/// Takes loaded account `old` out of the agent, with what goes along.
fn take_out(st: &mut State, old: &str) -> Option<(Loaded, Moving)> {
    let token_file = st.accounts.get_mut(old)?.ahead.token_file.take();
    let cached = st.take_tokens(old);
    let account = st.remove(old)?;
    Some((account, Moving { token_file, cached }))
}

/// Serves `account` (taken out with [`take_out`]) under its new name `new`.
fn put_in(ctx: &Ctx, st: &mut State, new: &str, mut account: Loaded, moving: Moving) {
    if let Some(path) = &moving.token_file {
        super::token_file::relabel(path, new, ctx.socket.get().map(PathBuf::as_path));
    }
    account.ahead.token_file = moving.token_file;
    st.insert(account);
    st.give_tokens(new, moving.cached);
}

/// Why name `new` cannot take a loaded account now: the agent is locked,
/// or the name is loaded already.
fn cannot_take(st: &State, new: &str) -> Option<Response> {
    if st.is_locked() {
        return Some(locked());
    }
    st.accounts.contains_key(new).then(|| {
        fail(
            ErrorKind::Usage,
            format!("account '{new}' is loaded already"),
        )
    })
}

/// The loaded account other than `name` whose file is the file at `path`
/// under another name (a link to it, a hard link): one login held twice
/// would have its two copies refresh with each other's spent tokens, a
/// replay that revokes it.
pub(super) fn same_file_loaded(ctx: &Ctx, name: &str, path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let this = id(path)?;
    let st = ctx.state();
    st.accounts
        .iter()
        .filter(|(other, _)| other.as_str() != name)
        .find(|(_, a)| {
            a.persist
                .as_ref()
                .is_some_and(|p| id(&p.path) == Some(this))
        })
        .map(|(other, _)| other.clone())
}
