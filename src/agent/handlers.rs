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
use super::state::Persist;
use super::tokens::{resolve, token_request};
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
        } => super::rename::rename(ctx, &account, &new_name, account_file).await,
        Request::LoadedAccounts => Response::info(live_names(ctx)),
        Request::AccountInfo => account_info(ctx),
        Request::Lock { password } => lock(ctx, password).await,
        Request::Unlock { password } => unlocked(ctx, password).await,
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

/// `add`: checks the account, then loads it (replacing a loaded one).
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
            fresh: add
                .access_token
                .zip(add.expires_at)
                .map(|(at, exp)| (at, exp, add.scope)),
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
    let previous;
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
            && let Err((kind, e)) = super::token_file::may_take(p).and_then(|()| {
                super::token_file::claim(p, name, ctx.socket.get().map(PathBuf::as_path))
                    .map_err(|e| (ErrorKind::Usage, e))
            })
        {
            return fail(kind, e);
        }
        let old = std::mem::replace(&mut a.ahead.token_file, path.clone());
        a.ahead.written_exp = None;
        a.ahead.next_try = 0;
        // The file kept so far goes once the new one is written (at once
        // when none is named): a new one that fails leaves it in place.
        previous = old.filter(|o| Some(o) != path.as_ref());
        if path.is_none()
            && let Some(old) = &previous
        {
            super::token_file::remove(name, old);
        }
    }
    let Some(path) = path else {
        // The file no longer kept, if there was one (`oidc-add` says which).
        return match previous {
            Some(old) => Response::success().with_info(old.display().to_string()),
            None => Response::success(),
        };
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
    match fresh_token_file(ctx, name).await {
        Err(TokenFileError::Refresh(reply)) => {
            keep_previous(ctx);
            *reply
        }
        Ok(()) => {
            if let Some(old) = &previous {
                super::token_file::remove(name, old);
            }
            log!("'{name}': keeping the token file {}", path.display());
            Response::success().with_info(path.display().to_string())
        }
        Err(TokenFileError::Write(e)) => {
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

/// `unlock`; then the token files, written again before the reply:
/// `oidc-add -X && gfal-copy …` finds them, not only at the next tick. One
/// task each, so a provider slow for one account does not hold up
/// another's file.
async fn unlocked(ctx: &Arc<Ctx>, password: crate::secret::SecretString) -> Response {
    let kept = match unlock(ctx, password).await {
        Ok(kept) => kept,
        Err(reply) => return reply,
    };
    let mut writes = tokio::task::JoinSet::new();
    for name in kept {
        let ctx = ctx.clone();
        writes.spawn(async move {
            let written = fresh_token_file(&ctx, &name).await;
            (name, written)
        });
    }
    let mut missing = Vec::new();
    while let Some(done) = writes.join_next().await {
        if let Ok((name, Err(e))) = done {
            missing.push(format!("'{name}': token file not written: {e}"));
        }
    }
    missing.sort();
    if missing.is_empty() {
        Response::info("Agent unlocked")
    } else {
        // Unlocked all the same: the refresh-ahead loop tries them again.
        Response::info(format!("Agent unlocked; {}", missing.join("; ")))
    }
}

/// Why [`fresh_token_file`] left the file as it was.
pub(super) enum TokenFileError {
    /// No token: the agent's reply to the token request.
    Refresh(Box<Response>),
    /// The token could not be written (the reason).
    Write(String),
}

impl std::fmt::Display for TokenFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refresh(reply) => f.write_str(reply.error.as_deref().unwrap_or("no token")),
            Self::Write(e) => f.write_str(e),
        }
    }
}

/// Gets `name` a valid access token (refreshing when none is cached) and
/// writes it to the account's token file: a file kept anew, or again after
/// an unlock, is there when the reply comes.
pub(super) async fn fresh_token_file(ctx: &Arc<Ctx>, name: &str) -> Result<(), TokenFileError> {
    let t = crate::protocol::TokenRequest {
        account: Some(name.to_owned()),
        application_hint: Some("token file".into()),
        ..Default::default()
    };
    let reply = token_request(ctx, t, false).await;
    if !reply.is_success() {
        return Err(TokenFileError::Refresh(Box::new(reply)));
    }
    super::ahead::write_token_file(ctx, name)
        .await
        .map_err(TokenFileError::Write)
}
