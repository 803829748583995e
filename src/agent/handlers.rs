//! One handler per request: `(context, request) -> reply`.
//!
//! Errors become a `failure` reply here, once, at the dispatch boundary. The
//! state lock is taken briefly to read or update; every provider call runs
//! with no lock held, so one slow provider never delays another account.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use super::lock::{lock, unlock};
use super::refresh::{PersistJob, refresh_flight, refresh_with, snapshot};
use super::state::{FlightKey, FlightResult, Persist, State, Token};
use crate::crypt::KdfParams;
use crate::error::ErrorKind;
use crate::oidc::OidcError;
use crate::protocol::{AddRequest, Request, Response, TokenRequest, strings};
use crate::store::Store;

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
pub use crate::oidc::token::unix_now as now;

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

pub(super) fn fail(kind: ErrorKind, msg: impl Into<String>) -> Response {
    Response::failure(kind, msg)
}

pub(super) fn oidc_failure(e: &OidcError) -> (ErrorKind, String) {
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
async fn add_account(ctx: &Arc<Ctx>, add: AddRequest) -> Response {
    // Parsed with the request (protocol::strict), either JSON form.
    let mut config = add.config;
    if let Err(e) = config.validate() {
        return fail(ErrorKind::BadFile, e);
    }
    let persist = match (add.data_key, add.account_file) {
        (Some(k), Some(path)) => match Persist::from_base64(path, &k, add.convert_to.as_deref()) {
            Some(p) => Some(p),
            None => {
                return fail(
                    ErrorKind::Usage,
                    "Bad Request: data_key is not 32 bytes of base64",
                );
            }
        },
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
