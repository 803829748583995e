//! `access_token` and `id_token` requests: which account (by name, or the
//! issuer's default or first loaded), then the cached token or one refresh
//! flight that every request needing the same token joins.

use std::sync::Arc;

use super::accounts;
use super::ctx::{Ctx, fail};
use super::state::{Flight, FlightKey, FlightResult, State, Token};
use crate::account::config::same_issuer;
use crate::error::ErrorKind;
use crate::protocol::{Response, TokenRequest, strings};

/// Finds the account a token request is for, or the failure reply.
pub(super) fn resolve(ctx: &Ctx, st: &State, t: &TokenRequest) -> Result<String, Box<Response>> {
    let not_loaded =
        |msg: String, info: String| Box::new(fail(ErrorKind::NotLoaded, msg).with_info(info));
    if let Some(name) = &t.account {
        if st.is_live(name, ctx.clock.now()) {
            return Ok(name.clone());
        }
        // A name no account can have: no `oidc-gen NAME` to suggest.
        let configured = match ctx.store.path(name) {
            Ok(path) => path.is_file(),
            Err(e) => return Err(Box::new(fail(ErrorKind::Usage, e.to_string()))),
        };
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
        if url::Url::parse(issuer).map_or(true, |u| u.host_str().is_none_or(str::is_empty)) {
            return Err(Box::new(fail(
                ErrorKind::Usage,
                format!("'{issuer}' is not an issuer URL (https://HOST/...)"),
            )));
        }
        let issuers = crate::account::issuers::read(ctx.store.dir());
        let default = issuers
            .as_ref()
            .ok()
            .and_then(|c| c.default_account_for(issuer));
        return st
            .account_for_issuer(issuer, default, ctx.clock.now())
            .ok_or_else(|| {
                let known = issuers
                    .as_ref()
                    .is_ok_and(|c| c.issuers().iter().any(|i| same_issuer(i, issuer)));
                let mut remedy = match default {
                    Some(name) => format!("load it with `oidc-add {name}`"),
                    None if known => "load one with `oidc-add NAME`".to_owned(),
                    // oidc-gen (ours and oidc-agent's) lists there every
                    // issuer it saved an account for.
                    None => format!(
                        "issuer.config names no account for it; create one with \
                         `oidc-gen --issuer {issuer} NAME`"
                    ),
                };
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
        super::task::spawn(async move { accounts::retry_unsaved(&ctx, Some(&name)).await });
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
            .filter(|tok| tok.serves(now, t.min_valid_period))
    {
        let mut reply = token_reply(tok, false);
        reply.warning = super::save::unsaved_warning(&st, &name);
        reply.account = Some(name);
        return Lookup::Reply(Box::new(reply));
    }
    let fk = FlightKey { key, id_token };
    let flight = super::refresh::flight(ctx, &mut st, &fk);
    Lookup::Flight(fk, flight)
}

/// Answers a token request: from the cache, or by the refresh flight for
/// the token (autoloading a configured account that is not loaded).
pub(super) async fn token_request(ctx: &Arc<Ctx>, t: TokenRequest, id_token: bool) -> Response {
    let mut found = lookup(ctx, &t, id_token, ctx.clock.now());
    // Not loaded under this name, but perhaps renamed elsewhere: then the
    // account loaded from its file is served under it.
    if let Lookup::Missing(reply) = &found
        && reply.kind == Some(ErrorKind::NotLoaded)
        && let Some(name) = &t.account
        && let Ok(path) = ctx.store.path(name)
        && super::rename::adopt_renamed(ctx, name, &path).await
    {
        found = lookup(ctx, &t, id_token, ctx.clock.now());
    }
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
    // Single flight: one refresh, which every waiter awaits (`refresh`).
    // Callers wait `reply_deadline` (`--request-timeout`); the refresh waits
    // for the provider's answer up to `http::ANSWER_DEADLINE`.
    let flight = super::refresh::join(cell);
    // Counted in time the agent ran: one stopped meanwhile (SIGSTOP, a
    // frozen cgroup) answers with what came, not "not answered".
    let waited = super::provider::within_running_time(ctx.reply_deadline, flight).await;
    let result: FlightResult = match waited {
        Some(result) => result,
        None => Err((
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
