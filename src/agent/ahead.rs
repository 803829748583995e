//! Refresh ahead and WLCG bearer-token files: tokens ready before anyone
//! waits for them.
//!
//! On the agent's 1 s tick, an account in active use (a token was served in
//! the last [`ACTIVE_FOR`] seconds, or a token file is kept for it) whose
//! default access token nears its expiry is refreshed in the background,
//! through the same single flight as a client's request (`refresh_flight`,
//! holding the account's lane): never two refreshes of one account at once,
//! and the rotated refresh token is recorded and saved by
//! `accounts::record_refresh` like any other. A failed background refresh
//! leaves the cached token alone (it is served until it expires) and is
//! retried with exponential backoff.
//!
//! A token file (WLCG Bearer Token Discovery) holds the token and a newline,
//! written atomically with mode 0600 while holding the account's lane, and is
//! removed whenever the account is unloaded (`State::remove`, also under the
//! lane), the agent is locked or stops: no write can land after a removal.
//! A reload, a rename and an unlock keep it (`State::insert`, `rename`,
//! `unlock`), so it is written again with the token now loaded.

use std::path::PathBuf;
use std::sync::Arc;

use super::ctx::Ctx;
use super::log::log;
use super::state::{Ahead, CacheKey, FlightKey, FlightResult, State};
use crate::error::ErrorKind;

/// An account counts as in active use this long after a token was served.
pub const ACTIVE_FOR: i64 = 600;

impl Ahead {
    /// In active use at `now`: a token file is kept, or a token was served
    /// in the last [`ACTIVE_FOR`] seconds. Only such accounts are refreshed
    /// ahead. A token served after `now` does not count: the clock was set
    /// back, and the account would be refreshed for as long as the step (as
    /// `cache::Token::valid_for` serves no token obtained after `now`).
    pub fn active(&self, now: i64) -> bool {
        self.token_file.is_some()
            || self
                .last_served
                .is_some_and(|t| (0..=ACTIVE_FOR).contains(&(now - t)))
    }
}
/// The longest pause between background retries.
const MAX_BACKOFF: i64 = 60;

/// How long before its expiry a token of `lifetime` seconds is renewed: a
/// third of its lifetime and at least 60 s, but never more than half of it
/// (a 10 s token is renewed with 5 s left, not on every tick).
pub fn threshold(lifetime: i64) -> i64 {
    (lifetime / 3).max(60.min(lifetime / 2))
}

/// Backoff after `failures` failed background refreshes in a row.
fn backoff(failures: u32) -> i64 {
    1i64.checked_shl(failures.min(6))
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// One tick: starts the background refreshes that are due and the token
/// file writes that are pending; never waits for either.
pub(super) async fn tick(ctx: &Arc<Ctx>) {
    let now = ctx.clock.now();
    let mut due = Vec::new();
    let mut files = Vec::new();
    {
        let mut st = ctx.state();
        if st.is_locked() {
            return;
        }
        // Only accounts in active use: idle ones (most of many loaded) cost
        // one look each, no key is built and no name copied for them.
        let names: Vec<String> = st
            .accounts
            .iter()
            .filter(|(_, a)| a.ahead.active(now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            if !st.is_live(&name, now) {
                continue;
            }
            let key = CacheKey::new(&name, None, None);
            let Some(a) = st.accounts.get(&name) else {
                continue;
            };
            let tok = st.cache.get(&key).filter(|t| t.valid_for(now, 0));
            if a.ahead.token_file.is_some()
                && let Some(t) = tok
                && a.ahead.written_exp != t.expires_at
            {
                files.push(name.clone());
            }
            if now < a.ahead.next_try || a.refused.is_some() {
                continue;
            }
            let renew = tok.is_none_or(|t| {
                let exp = t.expires_at.unwrap_or(i64::MAX);
                exp - now <= threshold(exp - t.obtained_at)
            });
            let fk = FlightKey {
                key,
                id_token: false,
            };
            if !renew || st.flights.contains_key(&fk) {
                continue;
            }
            let left = tok.and_then(|t| t.expires_at).map(|e| e - now);
            let flight = super::refresh::flight(ctx, &mut st, &fk);
            due.push((name, flight, left));
        }
    }
    for (name, flight, left) in due {
        match left {
            Some(s) => log!("'{name}': refreshing ahead (the token expires in {s} s)"),
            None => log!("'{name}': refreshing ahead (no valid token cached)"),
        }
        let ctx = ctx.clone();
        super::task::spawn(async move {
            let result = super::refresh::join(flight).await;
            record_outcome(&ctx, &name, &result);
            if result.is_ok() {
                let _ = write_token_file(&ctx, &name).await;
            }
        });
    }
    for name in files {
        let ctx = ctx.clone();
        super::task::spawn(async move {
            let _ = write_token_file(&ctx, &name).await;
        });
    }
}

/// Keeps the backoff of background refreshes of `name`.
fn record_outcome(ctx: &Ctx, name: &str, result: &FlightResult) {
    let mut st = ctx.state();
    let Some(a) = st.accounts.get_mut(name) else {
        return;
    };
    match result {
        Ok(tok) => {
            a.ahead.failures = 0;
            // A token without an expiry is never cached: refreshing it
            // ahead would repeat on every tick.
            a.ahead.next_try = if tok.expires_at.is_some() {
                0
            } else {
                ctx.clock.now() + MAX_BACKOFF
            };
        }
        Err((kind, e)) => {
            a.ahead.failures = a.ahead.failures.saturating_add(1);
            let wait = backoff(a.ahead.failures);
            a.ahead.next_try = ctx.clock.now() + wait;
            // A refused token is not tried again (`tick` skips the account
            // until a new login); anything else is, after the backoff.
            if *kind == ErrorKind::RefreshTokenRejected {
                log!("'{name}': refresh ahead failed ({e}); not tried again until a new login");
            } else {
                log!("'{name}': refresh ahead failed ({e}); retry in {wait} s");
            }
        }
    }
}

/// Writes `name`'s cached access token to its token file unless the file
/// holds it already; waits for the account's lane.
pub(super) async fn write_token_file(ctx: &Ctx, name: &str) -> Result<(), String> {
    let Some(lane) = ctx.state().accounts.get(name).map(|a| a.lane.clone()) else {
        return Ok(());
    };
    let _lane = lane.lock().await;
    let (path, body, exp) = {
        let st = ctx.state();
        if st.is_locked() {
            return Ok(());
        }
        let Some(path) = st
            .accounts
            .get(name)
            .and_then(|a| a.ahead.token_file.clone())
        else {
            return Ok(());
        };
        let Some(tok) = st
            .cache
            .get(&CacheKey::new(name, None, None))
            .filter(|t| t.valid_for(ctx.clock.now(), 0))
        else {
            return Err(format!(
                "no access token with a known expiry to write to {} (the provider must say when \
                 its access tokens expire)",
                path.display()
            ));
        };
        if st.accounts.get(name).and_then(|a| a.ahead.written_exp) == tok.expires_at {
            return Ok(());
        }
        let mut body =
            zeroize::Zeroizing::new(Vec::with_capacity(tok.access_token.expose().len() + 1));
        body.extend_from_slice(tok.access_token.expose().as_bytes());
        body.push(b'\n');
        (path, body, tok.expires_at)
    };
    let target = path.clone();
    let written =
        tokio::task::spawn_blocking(move || crate::account::store::write_replacing(&target, &body))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
    // Also after a failure: tried again with the next token, so a failure
    // is logged once per token, not on every tick.
    if let Some(a) = ctx.state().accounts.get_mut(name) {
        a.ahead.written_exp = exp;
    }
    match written {
        Ok(()) => {
            log!("'{name}': wrote a fresh access token to {}", path.display());
            Ok(())
        }
        Err(e) => {
            log!("'{name}': token file {} NOT written: {e}", path.display());
            Err(e)
        }
    }
}

/// Forgets every token file, so no new write starts, and returns them.
pub(super) fn take_token_files(st: &mut State) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for (name, a) in &mut st.accounts {
        if let Some(path) = a.ahead.token_file.take() {
            files.push((name.clone(), path));
        }
        a.ahead.written_exp = None;
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_threshold() {
        assert_eq!(threshold(3600), 1200, "a third of an hour");
        assert_eq!(threshold(120), 60, "at least 60 s");
        assert_eq!(threshold(10), 5, "never more than half");
        assert_eq!(threshold(0), 0);
    }

    #[test]
    fn active_use_is_a_token_served_in_the_last_ten_minutes() {
        let served = |t| Ahead {
            last_served: Some(t),
            ..Ahead::default()
        };
        assert!(served(1000).active(1000) && served(1000).active(1000 + ACTIVE_FOR));
        assert!(!served(1000).active(1001 + ACTIVE_FOR));
        assert!(!Ahead::default().active(1000));
        // Served "later" than now: the clock was set back (tester12 F2).
        assert!(!served(1000 + 86_400).active(1000));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), 2);
        assert_eq!(backoff(3), 8);
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
