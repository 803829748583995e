//! The transitions of a loaded account: add, remove, remove-all, lifetime
//! expiry, the recording of a rotation and its save, and the retries of a
//! save that failed (rename: `rename`).
//!
//! Each transition runs holding the account's lane (see `state`), so it
//! cannot overlap a refresh of the same account (whose rotated refresh token
//! would otherwise be dropped or spent twice), and checks the lock state
//! once it owns the lane: `lock` waits for every lane, including the lane of
//! an account being added, so nothing lands in a locked agent.

use std::sync::Arc;

use super::ctx::{Ctx, fail, locked};
use super::log::{fingerprint, log};
use super::provider::{refresh_with, snapshot};
use super::save::{SaveJob, record_save, save_pending};
use super::state::{CacheKey, Loaded, Persist, Token};
use crate::account::config::AccountConfig;
use crate::error::ErrorKind;
use crate::protocol::{Response, strings};
use crate::secret::SecretString;

/// Records a successful refresh of `name` and, when the provider rotated
/// the refresh token, keeps the new one and saves it. Call holding the lane.
pub(super) async fn record_refresh(ctx: &Ctx, name: &str, new_rt: Option<&SecretString>) {
    let job = {
        let mut st = ctx.state();
        let Some(a) = st.accounts.get_mut(name) else {
            return;
        };
        a.last_refresh = Some(ctx.clock.now());
        a.refused = None;
        let Some(rt) = new_rt.filter(|rt| !rt.is_empty() && **rt != a.config.refresh_token) else {
            return;
        };
        let old = fingerprint(&a.config.refresh_token);
        a.rotated.rotate(&mut a.config.refresh_token, rt.clone());
        let Some(persist) = a.persist.clone() else {
            log!(
                "'{name}': refresh token rotated ({old} -> {}); the account has no file, \
                 the new token is kept in memory only",
                fingerprint(rt)
            );
            return;
        };
        log!(
            "'{name}': refresh token rotated ({old} -> {})",
            fingerprint(rt)
        );
        SaveJob {
            persist,
            config: a.config.clone(),
            expected: a.file_rt.clone(),
            rotated: a.rotated.clone(),
        }
    };
    let rt = job.config.refresh_token.clone();
    let result = job.run().await;
    let _ = record_save(ctx, name, &rt, result);
}

/// Records that the provider refused `name`'s refresh token. An unsaved
/// one is no longer worth keeping: the mark goes, so unloading and
/// `oidc-agent -k` no longer wait for a save that would keep nothing.
pub(super) fn record_refusal(ctx: &Ctx, name: &str, why: &str) {
    let mut st = ctx.state();
    if let Some(a) = st.accounts.get_mut(name) {
        a.refused = Some(why.to_owned());
        if a.unsaved.take().is_some() {
            super::note::withdraw_note(a);
            log!("'{name}': the unsaved refresh token was refused; no longer kept for a save");
        }
        // Its access tokens go too: the login is dead (a provider that
        // revoked it ended them, RFC 7009 §2.1), and one served on would
        // meet a 401 where `oidc-token` can say what to do (exit 7).
        st.forget_tokens(name);
    }
    log!("'{name}': the provider refused the refresh token: {why}");
}

/// What `add` loads.
pub(super) struct NewAccount {
    pub config: AccountConfig,
    pub persist: Option<Persist>,
    pub lifetime: Option<u64>,
    pub skip_check: bool,
    /// An access token the client just got with this refresh token, and its
    /// expiry: cached as if the check refresh had returned it.
    pub fresh: Option<(SecretString, i64, Option<String>)>,
    /// The client could not write the account file (why): the agent writes
    /// it (from the persist's template) as it writes an unsaved rotation.
    pub unsaved: Option<String>,
}

/// Loads an account: with a check refresh unless skipped or the same
/// account is loaded already; a rotated token from the check is saved first.
pub(super) async fn add(ctx: &Arc<Ctx>, new: NewAccount) -> Response {
    let name = new.config.name.clone();
    // Its file renamed from one loaded here under the old name: the same
    // account, which may hold a newer token than the file (checking the
    // file's would be a replay), so it is loaded again as below.
    if let Some(p) = &new.persist {
        super::rename::adopt_renamed(ctx, &name, &p.path).await;
        if let Some(other) = super::rename::same_file_loaded(ctx, &name, &p.path) {
            return fail(
                ErrorKind::Usage,
                format!(
                    "{} is the file of account '{other}', loaded already under that name: ask \
                     for '{other}' (one login held twice would have each copy spend the other's \
                     refresh tokens, which revokes it)",
                    p.path.display()
                ),
            );
        }
    }
    let lane = {
        let mut st = ctx.state();
        if st.is_locked() {
            return locked();
        }
        st.lane(&name)
    };
    let reply = {
        let _lane = take_lane(&lane, &name, "load").await;
        add_in_lane(ctx, new).await
    };
    drop(lane);
    ctx.state().prune_lane(&name);
    reply
}

async fn add_in_lane(ctx: &Arc<Ctx>, new: NewAccount) -> Response {
    let NewAccount {
        mut config,
        persist,
        lifetime,
        skip_check,
        fresh,
        unsaved,
    } = new;
    let name = config.name.clone();
    // Not given: the agent's default; 0: never (oidc-add -t 0 overrides
    // oidc-agent --lifetime, as with oidc-agent).
    let lifetime = lifetime.or(ctx.default_lifetime).filter(|l| *l > 0);
    let ends =
        |now: i64| lifetime.map(|l| now.saturating_add(i64::try_from(l).unwrap_or(i64::MAX)));
    let expires_at = ends(ctx.clock.now());
    // The client decrypted the file before we got the lane; a refresh of
    // the loaded account may have rotated the token into the file since.
    // Only our processes write it, under its lock, each time with a newer
    // token: the file's token is the one to use.
    let mut persist = persist;
    // Not for an account whose client brought a newer token than the file's
    // (one left in a stopped agent's note, a file oidc-gen could not write).
    let stored = match unsaved {
        None => super::follow::stored(persist.as_ref()).await,
        Some(_) => None,
    };
    if let Some((stored, file)) = stored {
        config.refresh_token = stored.refresh_token;
        // The file as it is now: what a deleted file is written again from.
        if let Some(p) = persist.as_mut() {
            p.convert_to.get_or_insert(file);
        }
    }
    let snap = 'snap: {
        let mut st = ctx.state();
        // A lock that got this lane before us has sealed the agent by now.
        if st.is_locked() {
            return locked();
        }
        // The same account again (same file, and the file still holds what
        // we last saw there): keep what we hold — it may be newer than the
        // file — and only take the new lifetime and key.
        // So also when the file holds a token this account has rotated
        // away from (an older copy put back): checking that one would be a
        // replay (`rotated::Rotated`), and the next save overwrites the copy.
        if let Some(a) = st.accounts.get_mut(&name)
            && let (Some(old), Some(new)) = (&a.persist, &persist)
            && old.path == new.path
            && (a.file_rt.as_ref() == Some(&config.refresh_token)
                || a.rotated.contains(&config.refresh_token))
        {
            if a.file_rt.as_ref() != Some(&config.refresh_token) {
                log!(
                    "'{name}': {} holds a refresh token the account has rotated away from \
                     (an older copy); kept the newer one, which the next save writes there",
                    new.path.display()
                );
            }
            a.persist = Some(new.clone());
            a.expires_at = expires_at;
            log!("'{name}': loaded again; lifetime renewed");
            break 'snap Err(None);
        }
        if let Some(save) = attach_file(&mut st, &name, &config, persist.as_ref(), expires_at) {
            break 'snap Err(save);
        }
        match snapshot(&mut st, config.clone()) {
            Ok(s) => Ok(s),
            Err(e) => return fail(e.kind(), e.to_string()),
        }
    };
    let snap = match snap {
        Ok(snap) => snap,
        // Loaded already: kept as held, a newer token written to the file.
        Err(save) => return loaded_reply(ctx, &name, save).await,
    };
    // Check the account with one refresh before accepting it, so a dead
    // refresh token is reported now and not at the first `oidc-token`.
    let checked = if skip_check {
        None
    } else {
        match refresh_with(ctx, &snap, &[], &[]).await {
            Ok(set) => Some(set),
            Err(e) => return fail(e.kind(), e.to_string()),
        }
    };
    // What the file holds: nothing yet when the client could not write it.
    let file_rt = persist
        .as_ref()
        .filter(|_| unsaved.is_none())
        .map(|_| config.refresh_token.clone());
    let mut save = None;
    let mut rotated = super::rotated::Rotated::default();
    if let Some(rt) = checked
        .as_ref()
        .and_then(|s| s.refresh_token.as_ref())
        .filter(|rt| !rt.is_empty() && **rt != config.refresh_token)
    {
        rotated.rotate(&mut config.refresh_token, rt.clone());
        save = persist.clone().map(|persist| SaveJob {
            persist,
            config: config.clone(),
            expected: file_rt.clone(),
            rotated: rotated.clone(),
        });
    }
    let issuer = config.issuer_url.clone();
    let fp = fingerprint(&config.refresh_token);
    {
        let mut st = ctx.state();
        let lane = st.lane(&name);
        // The lifetime starts when the account is loaded, after the check
        // (which may have taken seconds): by one reading of the clock, so
        // `--status` shows the lifetime asked for.
        let now = ctx.clock.now();
        let mut loaded = Loaded::new(config, persist, lane, now);
        loaded.file_rt = file_rt;
        loaded.rotated = rotated;
        loaded.expires_at = ends(now);
        if let Some(error) = &unsaved {
            log!("'{name}': its file is not written yet ({error}); the agent retries the write");
            loaded.unsaved = Some(super::state::Unsaved {
                since: ctx.clock.now(),
                error: error.clone(),
                noted: None,
            });
            super::note::note_holder(ctx, &name, &mut loaded);
        }
        if checked.is_some() {
            loaded.last_refresh = Some(ctx.clock.now());
        }
        st.insert(loaded);
        let first = match checked {
            // Its refresh token kept (above); an unusable access token not.
            Some(set) if !set.access_token_usable() => None,
            Some(set) => Some((set.access_token, set.id_token, set.expires_at, set.scope)),
            None => fresh.map(|(at, exp, scope)| (at, None, Some(exp), scope)),
        };
        if let Some((access_token, id_token, expires_at, scope)) = first.filter(|f| f.2.is_some()) {
            let obtained_at = ctx.clock.now();
            let token = Token {
                access_token,
                id_token,
                issuer,
                expires_at,
                obtained_at,
                scope,
            };
            let key = CacheKey::new(&name, None, None);
            super::cache::keep(&mut st.cache, key, token, obtained_at);
        }
    }
    log!("'{name}': loaded (refresh token {fp})");
    loaded_reply(ctx, &name, save).await
}

/// The reply to a load, once `save` (a rotation the load brought: its
/// check refresh, a newer token held than the file's) is written; when it
/// could not be, with the warning `oidc-token` gives too.
async fn loaded_reply(ctx: &Ctx, name: &str, save: Option<SaveJob>) -> Response {
    let mut reply = Response::success().with_info(format!("Account '{name}' loaded"));
    if let Some(job) = save {
        let rt = job.config.refresh_token.clone();
        let result = job.run().await;
        if record_save(ctx, name, &rt, result).is_err() {
            reply.warning = super::save::unsaved_warning(&ctx.state(), name);
        }
    }
    reply
}

/// Attaches the file `persist` to account `name` loaded before without a
/// file the agent can write (oidc-agent's oidc-add sent no password), when
/// the file holds its token or one it has rotated away from: the same
/// login. The file's older token would be a replay, so the account keeps
/// its own, and the returned job writes it there. `None`: not that case.
fn attach_file(
    st: &mut super::state::State,
    name: &str,
    config: &AccountConfig,
    persist: Option<&Persist>,
    expires_at: Option<i64>,
) -> Option<Option<SaveJob>> {
    let a = st.accounts.get_mut(name)?;
    let new = persist?;
    if a.persist.is_some()
        || (a.config.refresh_token != config.refresh_token
            && !a.rotated.contains(&config.refresh_token))
    {
        return None;
    }
    a.persist = Some(new.clone());
    a.file_rt = Some(config.refresh_token.clone());
    a.expires_at = expires_at;
    let newer = a.config.refresh_token != config.refresh_token;
    log!(
        "'{name}': loaded again, now with its file {}{}",
        new.path.display(),
        if newer {
            "; the newer refresh token held here is written to it"
        } else {
            ""
        }
    );
    Some(newer.then(|| SaveJob {
        persist: new.clone(),
        config: a.config.clone(),
        expected: a.file_rt.clone(),
        rotated: a.rotated.clone(),
    }))
}

/// Takes `name`'s lane, saying in the log when `what` has to wait for a
/// refresh under way (which also lets a test see the wait begin).
pub(super) async fn take_lane<'a>(
    lane: &'a super::state::Lane,
    name: &str,
    what: &str,
) -> tokio::sync::MutexGuard<'a, ()> {
    match lane.try_lock() {
        Ok(guard) => guard,
        Err(_) => {
            log!("'{name}': {what} waits for the refresh under way");
            lane.lock().await
        }
    }
}

/// Unloads `name` once its pending rotation is saved; refuses while it
/// cannot be, so the newest refresh token is never dropped.
pub(super) async fn remove(ctx: &Ctx, name: &str) -> Response {
    let Some(lane) = ctx.state().accounts.get(name).map(|a| a.lane.clone()) else {
        return fail(ErrorKind::NotLoaded, strings::NOT_LOADED);
    };
    let _lane = take_lane(&lane, name, "unload").await;
    if let Err(e) = save_pending(ctx, name).await {
        return fail(
            ErrorKind::Failure,
            format!("'{name}' not unloaded: its rotated refresh token is not saved yet ({e})"),
        )
        .with_info("free space or fix the account file's directory, then try again");
    }
    let mut st = ctx.state();
    // Loaded without a file it can write (oidc-agent's oidc-add sent no
    // password), rotated since: the agent holds the only live token, and
    // the account file a spent one (loaded again, a replay that revokes the
    // login). Our oidc-add of it lets the agent write the token there.
    if let Some(a) = st.accounts.get(name)
        && a.persist.is_none()
        && !a.rotated.is_empty()
        && ctx.store.path(name).is_ok_and(|p| p.is_file())
    {
        return fail(
            ErrorKind::Failure,
            format!(
                "'{name}' not unloaded: its newest refresh token is only in this agent (it was \
                 loaded without a file it can write, and the provider has rotated the one in the \
                 file); run oidc-agent-rs's `oidc-add {name}` first, which has the agent write it \
                 there, then unload it"
            ),
        );
    }
    if st.remove(name).is_none() {
        return fail(ErrorKind::NotLoaded, strings::NOT_LOADED);
    }
    log!("'{name}': unloaded");
    Response::success()
}

/// Unloads every account that can be (see [`remove`]).
pub(super) async fn remove_all(ctx: &Ctx) -> Response {
    let names = ctx.state().loaded_names();
    let mut kept = Vec::new();
    for name in names {
        let reply = remove(ctx, &name).await;
        if !reply.is_success() && reply.kind != Some(ErrorKind::NotLoaded) {
            kept.push(reply.error.unwrap_or_default());
        }
    }
    if kept.is_empty() {
        Response::success()
    } else {
        fail(ErrorKind::Failure, kept.join("; "))
            .with_info("free space or fix the account files' directory, then try again")
    }
}

/// Unloads accounts whose lifetime is over, each once its lane is free and
/// its pending rotation saved; an account whose save fails stays (not
/// served) until the write succeeds.
pub(super) async fn expire_due(ctx: &Ctx) {
    // One with a rotation not saved yet waits for `retry_unsaved` (every
    // 10 s, not every tick, which flooded the log on a disk still full).
    let due: Vec<(String, super::state::Lane)> = {
        let st = ctx.state();
        st.due(ctx.clock.now())
            .into_iter()
            .filter_map(|n| st.accounts.get(&n).map(|a| (n, a)))
            .filter(|(_, a)| a.unsaved.is_none())
            .map(|(n, a)| (n, a.lane.clone()))
            .collect()
    };
    for (name, lane) in due {
        // A busy lane (a refresh under way) is looked at again next tick.
        let Ok(_lane) = lane.try_lock() else {
            continue;
        };
        if save_pending(ctx, &name).await.is_err() {
            continue;
        }
        let mut st = ctx.state();
        if st.due(ctx.clock.now()).contains(&name) && st.remove(&name).is_some() {
            log!("'{name}': lifetime over; unloaded");
        }
    }
}

/// Retries the saves that failed (on the agent's timer, and on requests for
/// the account); skips an account whose lane is busy.
pub(super) async fn retry_unsaved(ctx: &Ctx, only: Option<&str>) {
    let names: Vec<(String, super::state::Lane)> = ctx
        .state()
        .accounts
        .values()
        .filter(|a| a.unsaved.is_some() && only.is_none_or(|o| o == a.config.name))
        .map(|a| (a.config.name.clone(), a.lane.clone()))
        .collect();
    for (name, lane) in names {
        let Ok(_lane) = lane.try_lock() else {
            continue;
        };
        let _ = save_pending(ctx, &name).await;
    }
}

/// At shutdown: waits for refreshes under way (each lane), then writes every
/// pending rotation; logs what could not be saved.
pub(super) async fn save_all(ctx: &Ctx) {
    // Every lane, also those of accounts being loaded: `oidc-add`'s check
    // refresh may be rotating the token, which its save must land.
    let lanes: Vec<(String, super::state::Lane)> = ctx
        .state()
        .lanes
        .iter()
        .map(|(name, lane)| (name.clone(), lane.clone()))
        .collect();
    for (name, lane) in lanes {
        let _lane = lane.lock().await;
        if let Err(e) = save_pending(ctx, &name).await {
            log!(
                "'{name}': newest refresh token not written at shutdown ({e}); the next \
                 `oidc-add {name}` takes it from its note in the runtime directory"
            );
        }
    }
}
