//! `lock` and `unlock`: while locked, the loaded accounts exist only sealed
//! (in our `account::format`) under a key derived from the lock password,
//! and every plaintext secret has been dropped and so zeroized.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ctx::{Ctx, fail};
use super::log::log;
use super::state::{Loaded, LockState, Persist, Unsaved};
use crate::account::config::AccountConfig;
use crate::account::format;
use crate::error::ErrorKind;
use crate::protocol::{Response, strings};
use crate::secret::{SecretString, json_zeroizing};

/// An account as sealed into the lock vault.
#[derive(Serialize, Deserialize)]
pub struct SealedAccount {
    /// The configuration.
    pub config: AccountConfig,
    /// The account file, if persisted.
    pub path: Option<PathBuf>,
    /// The data key, base64.
    pub key: Option<SecretString>,
    /// The conversion template, base64 (see [`Persist::convert_to`]).
    pub convert_to: Option<String>,
    /// Unload time.
    pub expires_at: Option<i64>,
    /// Load order.
    pub seq: u64,
    /// What the file holds (see [`Loaded::file_rt`]).
    pub file_rt: Option<SecretString>,
    /// A rotation not yet saved.
    pub unsaved: Option<Unsaved>,
    /// What it has rotated away from (see `rotated::Rotated`).
    #[serde(default)]
    pub rotated: super::rotated::Rotated,
    /// The token file, removed while locked and written again after.
    pub token_file: Option<PathBuf>,
}

pub(super) async fn lock(ctx: &Arc<Ctx>, password: SecretString) -> Response {
    if password.is_empty() {
        return fail(ErrorKind::Usage, "empty lock password");
    }
    let lanes: Vec<_> = {
        let mut st = ctx.state();
        if st.is_locked() {
            return fail(ErrorKind::Locked, "Agent already locked");
        }
        // From here on requests fail with "Agent locked"; refreshes already
        // under way finish first (below), so a rotated refresh token lands in
        // the account before it is sealed.
        st.lock = LockState::Sealing;
        st.cache.clear();
        // Every lane, also those of accounts being added: an `add` that
        // began before the lock lands before the accounts are sealed.
        st.lanes.values().cloned().collect()
    };
    // Says that requests are refused from now on (a test waits for it).
    log!("locking; refreshes under way finish first");
    for lane in lanes {
        drop(lane.lock().await);
    }
    // Last chance to write pending rotations while they are in plaintext;
    // what still fails is sealed with its unsaved mark and retried after
    // `oidc-add -X`.
    let names = ctx.state().loaded_names();
    for name in names {
        let _ = super::save::save_pending(ctx, &name).await;
    }
    let sealed: Vec<SealedAccount> = {
        let mut st = ctx.state();
        st.cache.clear();
        st.flights.clear();
        st.sealed_unsaved = super::status::unsaved(&st, ctx.clock.now());
        // No token stays in a file while locked (all lanes were free, so no
        // write is under way); the paths are sealed, and unlocking writes
        // the files again.
        std::mem::take(&mut st.accounts)
            .into_values()
            .map(|a| {
                if let Some(path) = &a.ahead.token_file {
                    super::token_file::withdraw(&a.config.name, path);
                }
                let (key, convert_to) = a.persist.as_ref().map(Persist::to_base64).unzip();
                SealedAccount {
                    token_file: a.ahead.token_file,
                    key,
                    convert_to: convert_to.flatten(),
                    path: a.persist.map(|p| p.path),
                    config: a.config,
                    expires_at: a.expires_at,
                    seq: a.seq,
                    file_rt: a.file_rt,
                    unsaved: a.unsaved,
                    rotated: a.rotated,
                }
            })
            .collect()
    };
    let kdf = ctx.lock_kdf;
    let result = tokio::task::spawn_blocking(move || {
        let json = json_zeroizing(&sealed, 0);
        drop(sealed);
        format::seal_new(password.expose().as_bytes(), &json, kdf).map(|(vault, _)| vault)
    })
    .await;
    let mut st = ctx.state();
    match result {
        Ok(Ok(vault)) => {
            st.lock = LockState::Locked(vault);
            log!("locked");
            Response::info("Agent locked")
        }
        _ => {
            // Sealing failed: the accounts are gone from memory; stay locked
            // with nothing to unlock rather than pretend.
            st.lock = LockState::Unlocked;
            st.sealed_unsaved.clear();
            fail(
                ErrorKind::Failure,
                "locking failed; the loaded accounts were unloaded, load them again with `oidc-add`",
            )
        }
    }
}

/// Restores the sealed accounts; returns those that keep a token file
/// (written again by the caller, `handlers::unlocked`), or the failure.
pub(super) async fn unlock(
    ctx: &Arc<Ctx>,
    password: SecretString,
) -> Result<Vec<String>, Response> {
    let _one_at_a_time = ctx.kdf_turn.lock().await;
    let vault = match &ctx.state().lock {
        LockState::Locked(v) => v.clone(),
        LockState::Sealing => {
            return Err(fail(
                ErrorKind::Locked,
                "the agent is being locked; try again",
            ));
        }
        LockState::Unlocked => return Err(fail(ErrorKind::Failure, strings::NOT_LOCKED)),
    };
    let opened =
        tokio::task::spawn_blocking(move || format::open(&vault, password.expose().as_bytes()))
            .await;
    let plain = match opened {
        Ok(Ok((plain, _))) => plain,
        _ => {
            // Not synchronization: a deliberate delay that slows down
            // guessing (oidc-agent delays failed attempts too).
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Err(fail(ErrorKind::WrongPassword, strings::WRONG_PASSWORD));
        }
    };
    let accounts: Vec<SealedAccount> = match serde_json::from_slice(&plain) {
        Ok(a) => a,
        Err(e) => {
            return Err(fail(
                ErrorKind::Failure,
                format!("the lock vault is damaged: {e}"),
            ));
        }
    };
    let mut st = ctx.state();
    if !matches!(st.lock, LockState::Locked(_)) {
        return Err(fail(ErrorKind::Failure, strings::NOT_LOCKED));
    }
    st.lock = LockState::Unlocked;
    st.sealed_unsaved.clear();
    for a in accounts {
        let persist = match (a.path, a.key) {
            (Some(path), Some(k)) => Persist::from_base64(path, &k, a.convert_to.as_deref()),
            _ => None,
        };
        let name = a.config.name.clone();
        let lane = st.lane(&name);
        let mut loaded = Loaded::new(a.config, persist, lane, ctx.clock.now());
        loaded.expires_at = a.expires_at;
        loaded.file_rt = a.file_rt;
        loaded.unsaved = a.unsaved;
        loaded.rotated = a.rotated;
        // Refreshed (the cache is empty) and written again before the reply.
        loaded.ahead.token_file = a.token_file;
        st.insert(loaded);
        if let Some(l) = st.accounts.get_mut(&name) {
            l.seq = a.seq;
        }
    }
    st.next_seq = st.accounts.values().map(|a| a.seq).max().unwrap_or(0);
    log!("unlocked; {} accounts restored", st.accounts.len());
    // The accounts whose token files the caller writes again.
    Ok(st
        .accounts
        .iter()
        .filter(|(_, a)| a.ahead.token_file.is_some())
        .map(|(n, _)| n.clone())
        .collect())
}
