//! Refreshing a loaded account: discovery (cached per issuer), the refresh
//! grant, single flight, and saving a rotated refresh token to the file.
//!
//! Refreshes of one account run one at a time (its `lane`); the state lock is
//! never held across a provider call.

use std::path::PathBuf;
use std::sync::Arc;

use super::handlers::{Ctx, now, oidc_failure};
use super::state::{FlightKey, FlightResult, Persist, State, Token};
use crate::account::AccountConfig;
use crate::crypt;
use crate::error::ErrorKind;
use crate::oidc::discovery::{self, Metadata};
use crate::oidc::token::{self, TokenSet};
use crate::oidc::{OidcError, http};
use crate::protocol::strings;
use crate::secret::SecretString;
use crate::store;

/// What a refresh needs, copied out of the state.
pub(super) struct Snapshot {
    pub(super) config: AccountConfig,
    http: reqwest::Client,
    metadata: Option<Arc<Metadata>>,
}

fn http_client(st: &mut State, cert_path: &str) -> Result<reqwest::Client, OidcError> {
    if let Some(c) = st.http.get(cert_path) {
        return Ok(c.clone());
    }
    let c = http::client(Some(std::path::Path::new(cert_path)))?;
    st.http.insert(cert_path.to_owned(), c.clone());
    Ok(c)
}

pub(super) fn snapshot(st: &mut State, config: AccountConfig) -> Result<Snapshot, OidcError> {
    let http = http_client(st, &config.cert_path)?;
    let metadata = st
        .metadata
        .get(&(config.issuer_url.clone(), config.config_endpoint.clone()))
        .cloned();
    Ok(Snapshot {
        config,
        http,
        metadata,
    })
}

/// Discovery (cached per issuer) plus one refresh grant.
pub(super) async fn refresh_with(
    ctx: &Ctx,
    snap: &Snapshot,
    scopes: &[String],
    audiences: &[String],
) -> Result<TokenSet, OidcError> {
    let cfg = &snap.config;
    let meta = match &snap.metadata {
        Some(m) => m.clone(),
        None => {
            let endpoint = Some(cfg.config_endpoint.as_str()).filter(|s| !s.is_empty());
            let m = Arc::new(discovery::discover(&snap.http, &cfg.issuer_url, endpoint).await?);
            ctx.state().metadata.insert(
                (cfg.issuer_url.clone(), cfg.config_endpoint.clone()),
                m.clone(),
            );
            m
        }
    };
    token::refresh_account(&snap.http, &meta.token_endpoint, cfg, scopes, audiences).await
}

/// A pending write of a rotated refresh token.
pub(super) struct PersistJob {
    persist: Persist,
    config: AccountConfig,
}

impl PersistJob {
    pub(super) fn new(persist: &Persist, config: &AccountConfig) -> Self {
        Self {
            persist: persist.clone(),
            config: config.clone(),
        }
    }

    pub(super) async fn run(self) {
        let name = self.config.name.clone();
        let path = self.persist.path.clone();
        let result =
            tokio::task::spawn_blocking(move || persist(&self.persist, &self.config)).await;
        match result {
            Ok(Ok(None)) => super::log!(
                "saved the rotated refresh token of '{name}' to {}",
                path.display()
            ),
            Ok(Ok(Some(backup))) => super::log!(
                "converted '{name}' to the oidc-agent-rs format to save its rotated refresh token; \
                 the oidc-agent file is kept as {}",
                backup.display()
            ),
            Ok(Err(e)) => super::log!("could not save the rotated refresh token of '{name}': {e}"),
            Err(e) => super::log!("saving '{name}' failed: {e}"),
        }
    }
}

/// Re-seals the account file with the new configuration (data key only).
/// A file still in oidc-agent's format is first backed up, then replaced by
/// the conversion template; returns the backup's path in that case.
fn persist(p: &Persist, config: &AccountConfig) -> Result<Option<PathBuf>, String> {
    let path = &p.path;
    let file = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let json = config.to_json();
    let (base, backup) = match &p.convert_to {
        Some(template) if !crypt::is_ours(&file) => {
            let mut backup = path.with_file_name(format!(
                "{}.bak",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            if backup.exists() {
                backup.set_extension(format!("bak.{}", now()));
            }
            store::write_atomic(&backup, &file).map_err(|e| e.to_string())?;
            (template.as_slice(), Some(backup))
        }
        _ => (file.as_slice(), None),
    };
    let sealed = crypt::reseal(base, &p.key, json.expose().as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    store::write_atomic(path, &sealed).map_err(|e| e.to_string())?;
    Ok(backup)
}

/// Applies a rotated refresh token to the account the refresh started from;
/// returns the write to do. The file is written even when the account was
/// unloaded meanwhile (`oidc-add -r`, its lifetime ended): the provider has
/// already retired the old token, so the file must not keep it.
pub(super) fn apply_rotation(
    st: &mut State,
    name: &str,
    started_from: &AccountConfig,
    persist: Option<&Persist>,
    new_rt: Option<&SecretString>,
) -> Option<PersistJob> {
    let new_rt = new_rt.filter(|rt| !rt.is_empty() && **rt != started_from.refresh_token)?;
    let mut config = started_from.clone();
    config.refresh_token = new_rt.clone();
    if let Some(acct) = st.accounts.get_mut(name)
        && acct.config.refresh_token == started_from.refresh_token
    {
        acct.config.refresh_token = new_rt.clone();
    }
    persist.map(|p| PersistJob::new(p, &config))
}

pub(super) async fn refresh_flight(ctx: Arc<Ctx>, fk: FlightKey) -> FlightResult {
    let result = refresh_flight_inner(&ctx, &fk).await;
    // Leave the flight only now, so that requests arriving meanwhile joined it.
    ctx.state().flights.remove(&fk);
    result
}

async fn refresh_flight_inner(ctx: &Ctx, fk: &FlightKey) -> FlightResult {
    let name = &fk.key.account;
    let lane = ctx
        .state()
        .accounts
        .get(name)
        .map(|a| a.lane.clone())
        .ok_or((ErrorKind::NotLoaded, strings::NOT_LOADED.to_owned()))?;
    let _lane = lane.lock().await;
    // Read the account only once we own its lane: a refresh just before us
    // may have rotated the refresh token.
    let (snap, persist) = {
        let mut st = ctx.state();
        // `lock` waits for every lane before sealing; a refresh that got its
        // lane after that must not start, or its rotation would miss the vault.
        if st.is_locked() {
            return Err((ErrorKind::Locked, strings::LOCKED.to_owned()));
        }
        let (config, persist) = st
            .accounts
            .get(name)
            .map(|a| (a.config.clone(), a.persist.clone()))
            .ok_or((ErrorKind::NotLoaded, strings::NOT_LOADED.to_owned()))?;
        (
            snapshot(&mut st, config).map_err(|e| oidc_failure(&e))?,
            persist,
        )
    };
    let set = refresh_with(ctx, &snap, &fk.key.scopes, &fk.key.audiences)
        .await
        .map_err(|e| oidc_failure(&e))?;
    let tok = Token {
        access_token: set.access_token.clone(),
        id_token: set.id_token.clone(),
        issuer: snap.config.issuer_url.clone(),
        expires_at: set.expires_at,
    };
    let job = {
        let mut st = ctx.state();
        if tok.expires_at.is_some() && st.accounts.contains_key(name) {
            st.cache.insert(fk.key.clone(), tok.clone());
        }
        apply_rotation(
            &mut st,
            name,
            &snap.config,
            persist.as_ref(),
            set.refresh_token.as_ref(),
        )
    };
    // Written while we still own the lane, so writes land in refresh order.
    if let Some(job) = job {
        job.run().await;
    }
    Ok(tok)
}
