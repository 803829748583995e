//! One handler per request: `(context, request) -> reply`.
//!
//! Errors become a `failure` reply here, once, at the dispatch boundary. The
//! state lock is taken briefly to read or update; every provider call runs
//! with no lock held, so one slow provider never delays another account.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::state::{FlightKey, FlightResult, LockState, Persist, SealedAccount, State, Token};
use crate::account::{AccountConfig, split_list};
use crate::crypt::{self, KdfParams};
use crate::error::ErrorKind;
use crate::oidc::discovery::{self, Metadata};
use crate::oidc::token::{self, Credentials, RefreshParams, TokenSet};
use crate::oidc::{OidcError, http};
use crate::protocol::{AddRequest, Request, Response, TokenRequest, strings};
use crate::secret::{SecretKey, SecretString};
use crate::store::{self, Store};

/// Shared by every connection.
#[derive(Debug)]
pub struct Ctx {
    state: Mutex<State>,
    /// The account directory (for "configured but not loaded" and issuer.config).
    pub store: Store,
    /// Lifetime for accounts added without one (seconds; `None`: forever).
    pub default_lifetime: Option<u64>,
    /// The agent's command line, for `status_json`.
    pub command_line: Vec<String>,
    /// Argon2 parameters for the lock vault.
    pub lock_kdf: KdfParams,
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Ctx {
    /// A fresh agent context.
    pub fn new(store: Store, default_lifetime: Option<u64>, command_line: Vec<String>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            store,
            default_lifetime,
            command_line,
            lock_kdf: KdfParams::DEFAULT,
        }
    }

    /// The state, recovering from a poisoned lock (a panicked handler must
    /// not take the whole agent down with it).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn fail(kind: ErrorKind, msg: impl Into<String>) -> Response {
    Response::failure(kind, msg)
}

fn oidc_failure(e: &OidcError) -> (ErrorKind, String) {
    (e.kind(), e.to_string())
}

/// Dispatches one request.
pub async fn handle(ctx: &Arc<Ctx>, request: Request) -> Response {
    if ctx.state().is_locked()
        && !matches!(
            request,
            Request::Check
                | Request::Unlock { .. }
                | Request::Status
                | Request::StatusJson
                | Request::Lock { .. }
        )
    {
        return fail(ErrorKind::Locked, strings::LOCKED).with_info("unlock it with `oidc-add -X`");
    }
    match request {
        Request::AccessToken(t) => token_request(ctx, t, false).await,
        Request::IdToken(t) => token_request(ctx, t, true).await,
        Request::Add(add) => add_account(ctx, *add).await,
        Request::Remove { account } => {
            if ctx.state().remove(&account) {
                Response::success()
            } else {
                fail(ErrorKind::NotLoaded, strings::NOT_LOADED)
            }
        }
        Request::RemoveAll => {
            let mut st = ctx.state();
            let names: Vec<String> = st.accounts.keys().cloned().collect();
            for n in names {
                st.remove(&n);
            }
            Response::success()
        }
        Request::LoadedAccounts => {
            let mut st = ctx.state();
            st.expire(now());
            Response::info(st.loaded_names())
        }
        Request::AccountInfo => account_info(ctx),
        Request::Lock { password } => lock(ctx, password).await,
        Request::Unlock { password } => unlock(ctx, password).await,
        Request::Check => Response::success(),
        Request::Status => {
            let (names, locked) = status(ctx);
            let text = format!(
                "oidc-agent-rs {}\nLocked: {}\nLoaded accounts: {}\n",
                env!("CARGO_PKG_VERSION"),
                if locked { "yes" } else { "no" },
                if names.is_empty() {
                    "(none)".to_owned()
                } else {
                    names.join(", ")
                }
            );
            Response::info(text)
        }
        Request::StatusJson => {
            let (names, locked) = status(ctx);
            Response::info(json!({
                "version": env!("CARGO_PKG_VERSION"),
                "implementation": "oidc-agent-rs",
                "protocol_version": crate::protocol::PROTOCOL_VERSION,
                "command_line_options": ctx.command_line,
                "locked": locked,
                "loaded_accounts": names,
            }))
        }
    }
}

fn status(ctx: &Ctx) -> (Vec<String>, bool) {
    let mut st = ctx.state();
    st.expire(now());
    (st.loaded_names(), st.is_locked())
}

fn account_info(ctx: &Ctx) -> Response {
    let st = ctx.state();
    let mut info = serde_json::Map::new();
    for name in st.loaded_names() {
        let Some(a) = st.accounts.get(&name) else {
            continue;
        };
        let entry = info
            .entry(a.config.issuer_url.clone())
            .or_insert_with(|| json!({"pubclient": false, "accounts": {}}));
        if let Some(accts) = entry.get_mut("accounts").and_then(Value::as_object_mut) {
            accts.insert(name, Value::Bool(true));
        }
    }
    Response::info(Value::Object(info))
}

/// Finds the account a token request is for, or the failure reply.
fn resolve(ctx: &Ctx, st: &State, t: &TokenRequest) -> Result<String, Box<Response>> {
    let not_loaded =
        |msg: String, info: String| Box::new(fail(ErrorKind::NotLoaded, msg).with_info(info));
    if let Some(name) = &t.account {
        if st.accounts.contains_key(name) {
            return Ok(name.clone());
        }
        let configured = ctx.store.path(name).map(|p| p.is_file()).unwrap_or(false);
        return Err(if configured {
            not_loaded(
                strings::NOT_LOADED.into(),
                format!("load it with `oidc-add {name}`"),
            )
        } else {
            not_loaded(
                strings::NO_ACCOUNT.into(),
                format!("create it with `oidc-gen {name}`"),
            )
        });
    }
    if let Some(issuer) = &t.issuer {
        let default = crate::issuers::default_account(ctx.store.dir(), issuer);
        return st
            .account_for_issuer(issuer, default.as_deref())
            .ok_or_else(|| {
                not_loaded(
                    format!("No account loaded for issuer {issuer}"),
                    "load one with `oidc-add NAME`".into(),
                )
            });
    }
    Err(Box::new(fail(
        ErrorKind::Usage,
        "Bad Request: account or issuer required",
    )))
}

fn token_reply(tok: &Token, id_token: bool) -> Response {
    if id_token {
        return match &tok.id_token {
            Some(id) => Response {
                id_token: Some(id.clone()),
                issuer: Some(tok.issuer.clone()),
                ..Response::success()
            },
            None => fail(
                ErrorKind::ProviderError,
                "the provider returned no ID token",
            )
            .with_info("the account needs the `openid` scope"),
        };
    }
    Response {
        access_token: Some(tok.access_token.clone()),
        issuer: Some(tok.issuer.clone()),
        expires_at: Some(tok.expires_at.unwrap_or(0)),
        ..Response::success()
    }
}

async fn token_request(ctx: &Arc<Ctx>, t: TokenRequest, id_token: bool) -> Response {
    let now = now();
    let flight = {
        let mut st = ctx.state();
        st.expire(now);
        let name = match resolve(ctx, &st, &t) {
            Ok(n) => n,
            Err(reply) => return *reply,
        };
        let key = super::state::CacheKey::new(&name, t.scope.as_deref(), t.audience.as_deref());
        // min_valid_period -1 forces a new token (oidc-agent's `-f`).
        if !id_token
            && t.min_valid_period >= 0
            && let Some(tok) = st
                .cache
                .get(&key)
                .filter(|tok| tok.valid_for(now, t.min_valid_period))
        {
            return token_reply(tok, false);
        }
        let fk = FlightKey { key, id_token };
        let cell = st.flights.entry(fk.clone()).or_default().clone();
        (fk, cell)
    };
    let (fk, cell) = flight;
    // Single flight: the first waiter runs the refresh, the others await its
    // result. If that waiter goes away, the next one takes over.
    let result: FlightResult = cell
        .get_or_init(|| refresh_flight(ctx.clone(), fk.clone()))
        .await
        .clone();
    match result {
        Ok(tok) => token_reply(&tok, id_token),
        Err((kind, msg)) => fail(kind, msg),
    }
}

/// What a refresh needs, copied out of the state.
struct Snapshot {
    config: AccountConfig,
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

fn snapshot(st: &mut State, config: AccountConfig) -> Result<Snapshot, OidcError> {
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
async fn refresh_with(
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
    let default_scopes;
    let scopes = if scopes.is_empty() {
        default_scopes = cfg.refresh_scopes();
        &default_scopes
    } else {
        scopes
    };
    let default_aud;
    let audiences = if audiences.is_empty() {
        default_aud = split_list(&cfg.audience);
        &default_aud
    } else {
        audiences
    };
    let params = RefreshParams {
        account: &cfg.name,
        token_endpoint: &meta.token_endpoint,
        creds: Credentials {
            client_id: &cfg.client_id,
            client_secret: Some(&cfg.client_secret),
        },
        refresh_token: &cfg.refresh_token,
        scopes,
        audiences,
    };
    token::refresh(&snap.http, params, now()).await
}

/// A pending write of a rotated refresh token.
struct PersistJob {
    persist: Persist,
    config: AccountConfig,
}

impl PersistJob {
    fn new(persist: &Persist, config: &AccountConfig) -> Self {
        Self {
            persist: persist.clone(),
            config: config.clone(),
        }
    }

    async fn run(self) {
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

/// Applies a rotated refresh token to a loaded account; returns the write to do.
fn apply_rotation(st: &mut State, name: &str, new_rt: Option<&SecretString>) -> Option<PersistJob> {
    let new_rt = new_rt.filter(|rt| !rt.is_empty())?;
    let acct = st.accounts.get_mut(name)?;
    if acct.config.refresh_token == *new_rt {
        return None;
    }
    acct.config.refresh_token = new_rt.clone();
    acct.persist
        .as_ref()
        .map(|p| PersistJob::new(p, &acct.config))
}

async fn refresh_flight(ctx: Arc<Ctx>, fk: FlightKey) -> FlightResult {
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
    let snap = {
        let mut st = ctx.state();
        let config = st
            .accounts
            .get(name)
            .map(|a| a.config.clone())
            .ok_or((ErrorKind::NotLoaded, strings::NOT_LOADED.to_owned()))?;
        snapshot(&mut st, config).map_err(|e| oidc_failure(&e))?
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
        apply_rotation(&mut st, name, set.refresh_token.as_ref())
    };
    // Written while we still own the lane, so writes land in refresh order.
    if let Some(job) = job {
        job.run().await;
    }
    Ok(tok)
}

async fn add_account(ctx: &Arc<Ctx>, add: AddRequest) -> Response {
    // oidc-agent 4.x sends the account as a JSON string, 5.x as an object.
    let config_value = match add.config {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
        v => v,
    };
    let mut config: AccountConfig = match serde_json::from_value(config_value) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                ErrorKind::BadFile,
                format!("Bad Request: invalid account config: {e}"),
            );
        }
    };
    if let Err(e) = config.validate() {
        return fail(ErrorKind::BadFile, e);
    }
    let persist = match (add.data_key, add.account_file) {
        (Some(k), Some(path)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(k.expose())
                .ok();
            match bytes.as_deref().and_then(SecretKey::from_slice) {
                Some(key) => Some(Persist {
                    path,
                    key,
                    convert_to: add
                        .convert_to
                        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok()),
                }),
                None => {
                    return fail(
                        ErrorKind::Usage,
                        "Bad Request: data_key is not 32 bytes of base64",
                    );
                }
            }
        }
        _ => None,
    };
    let snap = {
        let mut st = ctx.state();
        match snapshot(&mut st, config.clone()) {
            Ok(s) => s,
            Err(e) => return fail(e.kind(), e.to_string()),
        }
    };
    // Check the account with one refresh before accepting it, so a dead
    // refresh token is reported now and not at the first `oidc-token`.
    let checked = if add.skip_check {
        None
    } else {
        match refresh_with(ctx, &snap, &[], &[]).await {
            Ok(set) => Some(set),
            Err(e) => return fail(e.kind(), e.to_string()),
        }
    };
    let lifetime = add.lifetime.or(ctx.default_lifetime);
    let expires_at = lifetime.map(|l| now().saturating_add(i64::try_from(l).unwrap_or(i64::MAX)));
    let name = config.name.clone();
    let job = {
        let mut st = ctx.state();
        if let Some(set) = &checked
            && let Some(rt) = set.refresh_token.as_ref().filter(|rt| !rt.is_empty())
        {
            config.refresh_token = rt.clone();
        }
        let issuer = config.issuer_url.clone();
        let rotated = checked
            .as_ref()
            .and_then(|s| s.refresh_token.as_ref())
            .is_some_and(|rt| *rt != snap.config.refresh_token && !rt.is_empty());
        let job = persist
            .as_ref()
            .filter(|_| rotated)
            .map(|p| PersistJob::new(p, &config));
        st.insert(config, persist, expires_at);
        if let Some(set) = checked.filter(|s| s.expires_at.is_some()) {
            st.cache.insert(
                super::state::CacheKey::new(&name, None, None),
                Token {
                    access_token: set.access_token,
                    id_token: set.id_token,
                    issuer,
                    expires_at: set.expires_at,
                },
            );
        }
        job
    };
    if let Some(job) = job {
        job.run().await;
    }
    Response::success().with_info(format!("Account '{name}' loaded"))
}

async fn lock(ctx: &Arc<Ctx>, password: SecretString) -> Response {
    if password.is_empty() {
        return fail(ErrorKind::Usage, "empty lock password");
    }
    let sealed: Vec<SealedAccount> = {
        let mut st = ctx.state();
        if st.is_locked() {
            return fail(ErrorKind::Locked, "Agent already locked");
        }
        st.lock = LockState::Sealing;
        st.cache.clear();
        st.flights.clear();
        std::mem::take(&mut st.accounts)
            .into_values()
            .map(|a| SealedAccount {
                key: a.persist.as_ref().map(|p| {
                    SecretString::new(
                        base64::engine::general_purpose::STANDARD.encode(p.key.expose()),
                    )
                }),
                convert_to: a
                    .persist
                    .as_ref()
                    .and_then(|p| p.convert_to.as_ref())
                    .map(|t| base64::engine::general_purpose::STANDARD.encode(t)),
                path: a.persist.map(|p| p.path),
                config: a.config,
                expires_at: a.expires_at,
                seq: a.seq,
            })
            .collect()
    };
    let kdf = ctx.lock_kdf;
    let result = tokio::task::spawn_blocking(move || {
        let json = zeroize::Zeroizing::new(serde_json::to_vec(&sealed).unwrap_or_default());
        drop(sealed);
        crypt::seal_new(password.expose().as_bytes(), &json, kdf).map(|(vault, _)| vault)
    })
    .await;
    let mut st = ctx.state();
    match result {
        Ok(Ok(vault)) => {
            st.lock = LockState::Locked(vault);
            Response::info("Agent locked")
        }
        _ => {
            // Sealing failed: the accounts are gone from memory; stay locked
            // with nothing to unlock rather than pretend.
            st.lock = LockState::Unlocked;
            fail(
                ErrorKind::Failure,
                "locking failed; the loaded accounts were unloaded, load them again with `oidc-add`",
            )
        }
    }
}

async fn unlock(ctx: &Arc<Ctx>, password: SecretString) -> Response {
    let vault = match &ctx.state().lock {
        LockState::Locked(v) => v.clone(),
        LockState::Sealing => {
            return fail(ErrorKind::Locked, "the agent is being locked; try again");
        }
        LockState::Unlocked => return fail(ErrorKind::Failure, strings::NOT_LOCKED),
    };
    let opened =
        tokio::task::spawn_blocking(move || crypt::open(&vault, password.expose().as_bytes()))
            .await;
    let plain = match opened {
        Ok(Ok((plain, _))) => plain,
        _ => {
            // Slow down guessing (oidc-agent delays failed attempts too).
            tokio::time::sleep(Duration::from_secs(1)).await;
            return fail(ErrorKind::WrongPassword, strings::WRONG_PASSWORD);
        }
    };
    let accounts: Vec<SealedAccount> = match serde_json::from_slice(&plain) {
        Ok(a) => a,
        Err(e) => {
            return fail(
                ErrorKind::Failure,
                format!("the lock vault is damaged: {e}"),
            );
        }
    };
    let mut st = ctx.state();
    if !matches!(st.lock, LockState::Locked(_)) {
        return fail(ErrorKind::Failure, strings::NOT_LOCKED);
    }
    st.lock = LockState::Unlocked;
    for a in accounts {
        let persist = match (a.path, a.key) {
            (Some(path), Some(k)) => base64::engine::general_purpose::STANDARD
                .decode(k.expose())
                .ok()
                .and_then(|b| SecretKey::from_slice(&b))
                .map(|key| Persist {
                    path,
                    key,
                    convert_to: a
                        .convert_to
                        .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok()),
                }),
            _ => None,
        };
        let name = a.config.name.clone();
        st.insert(a.config, persist, a.expires_at);
        if let Some(l) = st.accounts.get_mut(&name) {
            l.seq = a.seq;
        }
    }
    st.next_seq = st.accounts.values().map(|a| a.seq).max().unwrap_or(0);
    st.expire(now());
    Response::info("Agent unlocked")
}
