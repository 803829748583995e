//! Single-flight refreshes: one provider call (see `provider`) shared by all
//! requests for the same token. A rotated refresh token is handed to
//! `accounts`, which keeps and saves it.
//!
//! Refreshes of one account run one at a time (its `lane`), also across this
//! user's agents (`account::refreshing`); the state lock is never held
//! across a provider call.

use std::sync::Arc;

use super::ctx::{Ctx, oidc_failure};
use super::log::log;
use super::provider::{refresh_with, snapshot};
use super::state::{Flight, FlightKey, FlightResult, State, Token};
use crate::error::ErrorKind;
use crate::protocol::strings;

/// The refresh flight for `fk`: the one under way, else a new one, started
/// here (as a task of its own, so that it outlives a waiter that stops
/// waiting: a request the provider has been sent may rotate the refresh
/// token, and an answer not waited for would lose the new one). Started
/// once: a flight started by whichever waiter came first, and started again
/// when that one stopped waiting, ran a second refresh nobody asked for.
pub(super) fn flight(ctx: &Arc<Ctx>, st: &mut State, fk: &FlightKey) -> Flight {
    if let Some(flight) = st.flights.get(fk) {
        return flight.clone();
    }
    let (tx, rx) = tokio::sync::watch::channel(None);
    let flight = Arc::new(rx);
    st.flights.insert(fk.clone(), flight.clone());
    let (ctx, fk) = (ctx.clone(), fk.clone());
    super::task::spawn(async move {
        let mut inner = std::pin::pin!(refresh_flight_inner(&ctx, &fk));
        // Said once, when the waiting clients give up: otherwise the log
        // shows nothing of a provider that hangs.
        let result = match tokio::time::timeout(ctx.reply_deadline, &mut inner).await {
            Ok(result) => result,
            Err(_) => {
                log!(
                    "'{}': the refresh has not ended within {} s (a slow provider, or another \
                     agent's refresh of the account); still waiting for it",
                    fk.key.account,
                    ctx.reply_deadline.as_secs()
                );
                inner.await
            }
        };
        // Leave the flight only now, so that requests arriving meanwhile
        // joined it.
        ctx.state().flights.remove(&fk);
        let _ = tx.send(Some(result));
    });
    flight
}

/// Waits for the result of `flight`.
pub(super) async fn join(flight: Flight) -> FlightResult {
    let mut rx = (*flight).clone();
    let result = match rx.wait_for(Option::is_some).await {
        Ok(result) => result.clone(),
        Err(_) => None,
    };
    result.unwrap_or_else(|| Err((ErrorKind::Failure, "the refresh failed".to_owned())))
}

async fn refresh_flight_inner(ctx: &Ctx, fk: &FlightKey) -> FlightResult {
    let name = &fk.key.account;
    let lane = ctx
        .state()
        .accounts
        .get(name)
        .map(|a| a.lane.clone())
        .ok_or((ErrorKind::NotLoaded, strings::NOT_LOADED.to_owned()))?;
    let _lane = super::accounts::take_lane(&lane, name, "a refresh").await;
    // Held from reading the file to saving what the refresh rotated.
    let _turn = turn_among_agents(ctx, name).await;
    super::follow::follow_file(ctx, name)
        .await
        .map_err(|held| (ErrorKind::Failure, held))?;
    // A refresh token the provider refused is not sent again: the refusal
    // stands until a new login reaches the file (taken just above) or the
    // agent. Sent again it would only be refused again, or, by a slow
    // provider, hidden behind "try again in a moment".
    let refused = ctx
        .state()
        .accounts
        .get(name)
        .and_then(|a| a.refused.clone());
    if let Some(why) = refused {
        return Err(deleted(ctx, name).unwrap_or((ErrorKind::RefreshTokenRejected, why)));
    }
    // Read the account only once we own its lane: a refresh just before us
    // may have rotated the refresh token.
    let snap = {
        let mut st = ctx.state();
        // `lock` waits for every lane before sealing; a refresh that got its
        // lane after that must not start, or its rotation would miss the vault.
        if st.is_locked() {
            return Err((ErrorKind::Locked, strings::LOCKED.to_owned()));
        }
        let config = st
            .accounts
            .get(name)
            .map(|a| a.config.clone())
            .ok_or((ErrorKind::NotLoaded, strings::NOT_LOADED.to_owned()))?;
        snapshot(&mut st, config).map_err(|e| oidc_failure(&e))?
    };
    let set = match refresh_with(ctx, &snap, &fk.key.scopes, &fk.key.audiences).await {
        Ok(set) => set,
        Err(e) => {
            if e.kind() == ErrorKind::RefreshTokenRejected {
                super::accounts::record_refusal(ctx, name, &e.to_string());
                if let Some(gone) = deleted(ctx, name) {
                    return Err(gone);
                }
            }
            return Err(oidc_failure(&e));
        }
    };
    let tok = Token {
        access_token: set.access_token.clone(),
        id_token: set.id_token.clone(),
        issuer: snap.config.issuer_url.clone(),
        expires_at: set.expires_at,
        obtained_at: ctx.clock.now(),
        scope: set.scope.clone(),
    };
    let unusable = set.unusable(&snap.config.issuer_url);
    if tok.expires_at.is_some() && unusable.is_none() {
        let now = ctx.clock.now();
        super::cache::keep(&mut ctx.state().cache, fk.key.clone(), tok.clone(), now);
    }
    // Kept and written while we still own the lane, so writes land in
    // refresh order and no unload or lock can come between. Also when the
    // access token is refused: the rotated refresh token is the live one.
    super::accounts::record_refresh(ctx, name, set.refresh_token.as_ref()).await;
    match unusable {
        Some(e) => Err(oidc_failure(&e)),
        None => Ok(tok),
    }
}

/// Waits while another agent of this user refreshes `name`'s account
/// (`account::refreshing`), as long as a refresh may wait for its answer,
/// then holds the account's refresh lock until dropped. Without an account
/// file, or a private runtime directory to lock in: nothing to wait for.
async fn turn_among_agents(
    ctx: &Ctx,
    name: &str,
) -> Option<crate::account::refreshing::RefreshLock> {
    let path = ctx
        .state()
        .accounts
        .get(name)?
        .persist
        .as_ref()?
        .path
        .clone();
    let deadline = std::time::Instant::now() + crate::oidc::http::ANSWER_DEADLINE;
    let mut said = false;
    loop {
        match crate::account::refreshing::try_lock(&path) {
            Ok(Some(lock)) => return Some(lock),
            Ok(None) => {}
            Err(_) => return None,
        }
        if std::time::Instant::now() > deadline {
            log!("'{name}': another agent has been refreshing it for 5 minutes; refreshing anyway");
            return None;
        }
        if !said {
            log!("'{name}': another agent is refreshing it; waiting for its answer");
            said = true;
        }
        // A poll interval, not synchronization: flock(2) has no
        // asynchronous wait, and a blocking one would hold a thread for as
        // long as the other agent's provider takes.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The answer for refused account `name` whose file is gone: `oidc-gen -d`
/// in a shell that does not reach this agent revoked the token and removed
/// the file, so there is nothing to re-authenticate.
fn deleted(ctx: &Ctx, name: &str) -> Option<(ErrorKind, String)> {
    let file = ctx
        .state()
        .accounts
        .get(name)
        .and_then(|a| a.persist.clone())?;
    // One stat, on a failure path: not worth the pool.
    (!file.path.try_exists().unwrap_or(true)).then(|| {
        (
            ErrorKind::RefreshTokenRejected,
            format!(
                "account '{name}' was deleted ({} is gone) and the provider refused its refresh \
                 token; unload it with `oidc-add -r {name}`",
                file.path.display()
            ),
        )
    })
}
