//! One handler per request: `(context, request) -> reply`.
//!
//! Errors become a `failure` reply here, once, at the dispatch boundary. The
//! state lock is taken briefly to read or update; every provider call runs
//! with no lock held, so one slow provider never delays another account.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use super::accounts::{self, NewAccount};
use super::ctx::{Ctx, fail};
use super::lock::{lock, unlock};
use super::log::log;
use super::refresh::refresh_flight;
use super::state::{Flight, FlightKey, FlightResult, Persist, State, Token};
use crate::error::ErrorKind;
use crate::protocol::{AddRequest, Request, Response, TokenRequest, strings};

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
        Request::Remove { account } => accounts::remove(ctx, &account).await,
        Request::RemoveAll => accounts::remove_all(ctx).await,
        Request::Rename {
            account,
            new_name,
            account_file,
        } => accounts::rename(ctx, &account, &new_name, account_file).await,
        Request::LoadedAccounts => Response::info(live_names(ctx)),
        Request::AccountInfo => account_info(ctx),
        Request::Lock { password } => lock(ctx, password).await,
        Request::Unlock { password } => unlock(ctx, password).await,
        Request::Check => Response::success(),
        Request::Status => super::status::text(ctx),
        Request::StatusJson => super::status::json(ctx),
        Request::DropToken(t) => drop_token(ctx, &t),
        Request::TokenFile { account, path } => set_token_file(ctx, &account, path).await,
    }
}

/// `drop_token`: a server refused the account's access token (revoked
/// before its expiry); the next request refreshes.
fn drop_token(ctx: &Ctx, t: &TokenRequest) -> Response {
    let mut st = ctx.state();
    let name = match resolve(ctx, &st, t) {
        Ok(n) => n,
        Err(reply) => return *reply,
    };
    st.forget_tokens(&name);
    if let Some(a) = st.accounts.get_mut(&name) {
        // Whatever a refresh-ahead backoff said, get a new token now.
        a.ahead.next_try = 0;
    }
    let who = t.application_hint.as_deref().unwrap_or("a client");
    log!("'{name}': cached tokens dropped ({who}: a server refused the access token)");
    Response::success()
}

/// Loaded accounts whose lifetime is not over, in load order.
fn live_names(ctx: &Ctx) -> Vec<String> {
    let st = ctx.state();
    let now = ctx.clock.now();
    st.loaded_names()
        .into_iter()
        .filter(|n| st.is_live(n, now))
        .collect()
}

fn account_info(ctx: &Ctx) -> Response {
    let names = live_names(ctx);
    let st = ctx.state();
    let mut info = serde_json::Map::new();
    for name in names {
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
        if st.is_live(name, ctx.clock.now()) {
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
        let issuers = crate::account::issuers::read(ctx.store.dir());
        let default = issuers
            .as_ref()
            .ok()
            .and_then(|c| c.default_account_for(issuer));
        return st
            .account_for_issuer(issuer, default, ctx.clock.now())
            .ok_or_else(|| {
                let mut remedy = "load one with `oidc-add NAME`".to_owned();
                if let Err(e) = &issuers {
                    // Else the default account named there goes unmentioned.
                    remedy.push_str(&format!(" (the issuer list is unusable: {e})"));
                }
                not_loaded(format!("No account loaded for issuer {issuer}"), remedy)
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
        scope: tok.scope.clone(),
        ..Response::success()
    }
}

/// What a token request finds under the state lock.
enum Lookup {
    /// The answer (a cached token).
    Reply(Box<Response>),
    /// No such account loaded (the failure reply).
    Missing(Box<Response>),
    /// A refresh to join or run.
    Flight(FlightKey, Flight),
}

fn lookup(ctx: &Arc<Ctx>, t: &TokenRequest, id_token: bool, now: i64) -> Lookup {
    let mut st = ctx.state();
    let name = match resolve(ctx, &st, t) {
        Ok(n) => n,
        Err(reply) => return Lookup::Missing(reply),
    };
    if st.accounts.get(&name).is_some_and(|a| a.unsaved.is_some()) {
        // Every request for the account retries the write.
        let (ctx, name) = (ctx.clone(), name.clone());
        super::spawn(async move { accounts::retry_unsaved(&ctx, Some(&name)).await });
    }
    let key = super::state::CacheKey::new(&name, t.scope.as_deref(), t.audience.as_deref());
    // The default token of an account in use is refreshed ahead (see `ahead`).
    if !id_token
        && key.scopes.is_empty()
        && key.audiences.is_empty()
        && let Some(a) = st.accounts.get_mut(&name)
    {
        a.ahead.last_served = Some(now);
    }
    // min_valid_period -1 forces a new token (oidc-agent's `-f`).
    if !id_token
        && t.min_valid_period >= 0
        && let Some(tok) = st
            .cache
            .get(&key)
            .filter(|tok| tok.valid_for(now, t.min_valid_period))
    {
        let mut reply = token_reply(tok, false);
        reply.warning = super::save::unsaved_warning(&st, &name);
        reply.account = Some(name);
        return Lookup::Reply(Box::new(reply));
    }
    let fk = FlightKey { key, id_token };
    let cell = st.flights.entry(fk.clone()).or_default().clone();
    Lookup::Flight(fk, cell)
}

pub(super) async fn token_request(ctx: &Arc<Ctx>, t: TokenRequest, id_token: bool) -> Response {
    let mut found = lookup(ctx, &t, id_token, ctx.clock.now());
    // A configured account that is not loaded: load it from the keyring,
    // if the password is there, then answer as usual.
    if let Lookup::Missing(reply) = &found
        && reply.kind == Some(ErrorKind::NotLoaded)
        && let Some(candidate) = super::autoload::candidate(ctx, &t)
    {
        super::autoload::load(ctx, &candidate).await;
        // Loading may have taken seconds: look again at the time it is now.
        found = lookup(ctx, &t, id_token, ctx.clock.now());
    }
    let (fk, cell) = match found {
        Lookup::Reply(reply) | Lookup::Missing(reply) => return *reply,
        Lookup::Flight(fk, cell) => (fk, cell),
    };
    // Single flight: the first waiter starts the refresh, the others await
    // its result. The refresh runs as a task of its own, so that it outlives
    // a waiter that stops waiting: a request the provider has been sent may
    // rotate the refresh token, and an answer not waited for would lose the
    // new one (and a second try with the old one would be a replay, RFC 6819
    // §5.2.2.3). Callers wait `reply_deadline` (`--request-timeout`); the
    // refresh waits for the provider's answer up to `http::ANSWER_DEADLINE`.
    let flight = cell.get_or_init(|| {
        let task = super::spawn(refresh_flight(ctx.clone(), fk.clone()));
        async move {
            task.await
                .unwrap_or_else(|e| Err((ErrorKind::Failure, format!("the refresh failed: {e}"))))
        }
    });
    let result: FlightResult = match tokio::time::timeout(ctx.reply_deadline, flight).await {
        Ok(result) => result.clone(),
        Err(_) => Err((
            ErrorKind::ProviderUnreachable,
            format!(
                "the provider has not answered the refresh of '{}' within {} s; the agent goes on \
                 waiting for it (a rotated refresh token is saved when it comes): try again in a \
                 moment",
                fk.key.account,
                ctx.reply_deadline.as_secs()
            ),
        )),
    };
    match result {
        Ok(tok) => {
            let mut reply = token_reply(&tok, id_token);
            reply.warning = super::save::unsaved_warning(&ctx.state(), &fk.key.account);
            reply.account = Some(fk.key.account);
            reply
        }
        Err((kind, msg)) => fail(kind, msg),
    }
}
async fn add_account(ctx: &Arc<Ctx>, add: AddRequest) -> Response {
    // Parsed with the request (protocol::strict), either JSON form.
    let config = add.config;
    if let Err(e) = config.validate() {
        return fail(ErrorKind::BadFile, e);
    }
    // Only a file the agent can write (a data key and a template) can be
    // unsaved; otherwise the client's error has nothing to retry.
    let unsaved = add.unsaved.filter(|_| add.convert_to.is_some());
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
    // oidc-agent's own oidc-add sends no key, but may send the password.
    let mut unsaveable = None;
    let persist = match (persist, add.pw_entry) {
        (None, Some(entry)) => {
            match super::foreign::persist_with_password(ctx, &config, entry).await {
                Ok(persist) => Some(persist),
                Err(why) => {
                    unsaveable = why;
                    None
                }
            }
        }
        (persist, _) => persist,
    };
    let persist_given = persist.is_some();
    let mut reply = accounts::add(
        ctx,
        NewAccount {
            config,
            persist,
            lifetime: add.lifetime,
            skip_check: add.skip_check,
            fresh: add.access_token.zip(add.expires_at),
            unsaved: unsaved.filter(|_| persist_given),
        },
    )
    .await;
    // oidc-agent's `oidc-add` prints the reply's info: notes go there.
    let confirm = add.confirm.then_some(
        "note: oidc-agent-rs does not confirm token requests (-c): tokens are given without \
         asking",
    );
    if reply.is_success()
        && let Some(serde_json::Value::String(info)) = &mut reply.info
    {
        for note in [confirm, unsaveable.as_deref()].into_iter().flatten() {
            info.push_str("; ");
            info.push_str(note);
        }
    }
    reply
}

/// `token_file`: keeps (`path`) or stops keeping (`None`) the account's
/// token file; with a path, writes it before answering.
async fn set_token_file(ctx: &Arc<Ctx>, name: &str, path: Option<PathBuf>) -> Response {
    if let Some(p) = &path
        && (!p.is_absolute() || p.file_name().is_none())
    {
        return fail(
            ErrorKind::Usage,
            format!(
                "Bad Request: the token file {} is not an absolute file path",
                p.display()
            ),
        );
    }
    let Some(lane) = ctx.state().accounts.get(name).map(|a| a.lane.clone()) else {
        return fail(ErrorKind::NotLoaded, strings::NOT_LOADED)
            .with_info(format!("load it with `oidc-add {name}`"));
    };
    let mut previous;
    {
        let _lane = lane.lock().await;
        let mut st = ctx.state();
        // One file, one account: two would overwrite each other's tokens,
        // and the first to stop would remove the other's file.
        if let Some(p) = &path
            && let Some((other, _)) = st
                .accounts
                .iter()
                .find(|(n, a)| n.as_str() != name && a.ahead.token_file.as_ref() == Some(p))
        {
            return fail(
                ErrorKind::Usage,
                format!(
                    "the token file {} is kept for account '{other}' already; stop that with \
                     `oidc-add --no-token-file {other}` or name another file (--token-file=PATH)",
                    p.display()
                ),
            );
        }
        let Some(a) = st.accounts.get_mut(name) else {
            return fail(ErrorKind::NotLoaded, strings::NOT_LOADED);
        };
        if let Some(p) = path
            .as_ref()
            .filter(|p| a.ahead.token_file.as_ref() != Some(*p))
            && let Err(e) =
                super::token_file::may_take(p).and_then(|()| super::token_file::claim(p))
        {
            return fail(ErrorKind::Usage, e);
        }
        let old = std::mem::replace(&mut a.ahead.token_file, path.clone());
        a.ahead.written_exp = None;
        a.ahead.next_try = 0;
        // The file kept so far goes once the new one is written (at once
        // when none is named): a new one that fails leaves it in place.
        previous = old.filter(|o| Some(o) != path.as_ref());
        if path.is_none()
            && let Some(old) = previous.take()
        {
            super::token_file::remove(name, &old);
        }
    }
    let Some(path) = path else {
        return Response::success();
    };
    // Back to the file kept before, when the new one is not written.
    let keep_previous = |ctx: &Ctx| {
        if let Some(a) = ctx.state().accounts.get_mut(name)
            && a.ahead.token_file.as_ref() == Some(&path)
        {
            a.ahead.token_file = previous.clone();
            if previous.as_ref() != Some(&path) {
                super::token_file::release(&path);
            }
        }
    };
    let t = crate::protocol::TokenRequest {
        account: Some(name.to_owned()),
        application_hint: Some("token file".into()),
        ..Default::default()
    };
    let reply = token_request(ctx, t, false).await;
    if !reply.is_success() {
        keep_previous(ctx);
        return reply;
    }
    match super::ahead::write_token_file(ctx, name).await {
        Ok(()) => {
            if let Some(old) = &previous {
                super::token_file::remove(name, old);
            }
            log!("'{name}': keeping the token file {}", path.display());
            Response::success().with_info(path.display().to_string())
        }
        Err(e) => {
            // Refused, so not kept either: no retries the person was not
            // told of; the file kept before stays.
            keep_previous(ctx);
            let kept = previous
                .as_ref()
                .map(|p| format!("; {} is still kept", p.display()))
                .unwrap_or_default();
            fail(
                ErrorKind::Failure,
                format!("'{name}': token file not written: {e}{kept}"),
            )
        }
    }
}
