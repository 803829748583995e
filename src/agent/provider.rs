//! The agent's calls to providers: an HTTP client per CA bundle and the
//! discovery document per issuer (both cached in the state), and one refresh
//! grant. Used by single-flight refreshes (`refresh`) and by the check
//! refresh of `accounts::add`; it changes no account.

use std::sync::Arc;

use super::ctx::Ctx;
use super::state::State;
use crate::account::config::AccountConfig;
use crate::oidc::discovery::{self, Metadata};
use crate::oidc::token::{self, TokenSet};
use crate::oidc::{OidcError, http};

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

/// Discovery (cached per issuer) plus one refresh grant, waited for up to
/// [`http::UNSTOPPED_ANSWER_DEADLINE`] of the time the agent ran
/// ([`within_running_time`]), or [`http::ANSWER_DEADLINE`] once the agent
/// is stopping.
pub(super) async fn refresh_with(
    ctx: &Ctx,
    snap: &Snapshot,
    scopes: &[String],
    audiences: &[String],
) -> Result<TokenSet, OidcError> {
    if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(OidcError::Stopping);
    }
    let refresh = discover_and_refresh(ctx, snap, scopes, audiences);
    let limit = || answer_deadline(ctx.stopping.load(std::sync::atomic::Ordering::SeqCst));
    within_running_time_by(limit, refresh)
        .await
        .unwrap_or_else(|| {
            Err(OidcError::Unreachable {
                url: snap.config.issuer_url.clone(),
                detail: format!("no answer within {} s", limit().as_secs()),
                timed_out: true,
                proxy: None,
            })
        })
}

/// How long a sent refresh is waited for: long while the agent runs on,
/// so that a frozen provider's late answer is taken; the stop's bound once
/// it is stopping (`oidc-agent -k` and the service's stop wait that long).
fn answer_deadline(stopping: bool) -> std::time::Duration {
    if stopping {
        http::ANSWER_DEADLINE
    } else {
        http::UNSTOPPED_ANSWER_DEADLINE
    }
}

/// How often [`within_running_time`] looks at the clock.
const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// `work`'s output, or `None` once it has waited `limit` of the time this
/// process ran. A tick that took much longer than asked for is time the
/// process was stopped (SIGSTOP, a frozen cgroup, a paused machine): not
/// the provider's, whose answer may be waiting in the socket. Given up
/// then, a refresh's answer would be lost with the rotated refresh token
/// in it (the next refresh a replay), and a client told that the provider
/// had not answered.
pub(super) async fn within_running_time<F: std::future::Future>(
    limit: std::time::Duration,
    work: F,
) -> Option<F::Output> {
    within_running_time_by(|| limit, work).await
}

/// [`within_running_time`] with a limit looked at every tick (it may
/// change meanwhile: the agent began to stop).
async fn within_running_time_by<F: std::future::Future>(
    limit: impl Fn() -> std::time::Duration,
    work: F,
) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut ran = std::time::Duration::ZERO;
    loop {
        let start = tokio::time::Instant::now();
        match tokio::time::timeout(TICK, &mut work).await {
            Ok(done) => return Some(done),
            Err(_) => ran += start.elapsed().min(TICK * 2),
        }
        if ran >= limit() {
            return None;
        }
    }
}

async fn discover_and_refresh(
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
    let now = ctx.clock.now();
    token::refresh_account(
        &snap.http,
        &meta.token_endpoint,
        cfg,
        scopes,
        audiences,
        now,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Time the process did not run does not count: a jump of the clock
    /// (the agent stopped for 400 s) is one tick, and the answer that came
    /// meanwhile is taken. Time it ran does: work that never ends is given
    /// up after the limit.
    #[tokio::test(start_paused = true)]
    async fn only_time_the_agent_ran_counts() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let waiting = tokio::spawn(within_running_time(Duration::from_secs(300), rx));
        tokio::task::yield_now().await;
        // Frozen: the clock jumps past the limit in one go.
        tokio::time::advance(Duration::from_secs(400)).await;
        tx.send(7).expect("send");
        let answer = waiting.await.expect("join").expect("in time");
        assert_eq!(answer.expect("sent"), 7);

        let never = std::future::pending::<u32>();
        let start = tokio::time::Instant::now();
        let given_up = within_running_time(Duration::from_secs(300), never).await;
        assert!(given_up.is_none());
        assert!(start.elapsed() >= Duration::from_secs(300));
    }

    /// A sent refresh is waited for an hour while the agent runs on (a
    /// frozen provider's late answer holds the rotated refresh token), and
    /// given up 5 minutes in once the agent is stopping (tester12 F7).
    #[tokio::test(start_paused = true)]
    async fn a_sent_refresh_is_waited_for_until_the_agent_stops() {
        let stopping = std::sync::atomic::AtomicBool::new(false);
        let limit = || answer_deadline(stopping.load(std::sync::atomic::Ordering::SeqCst));
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let waiting = within_running_time_by(limit, rx);
        let answer = async {
            tokio::time::sleep(Duration::from_secs(11 * 60)).await; // the provider's freeze
            tx.send(7).expect("send");
        };
        let (answer_taken, ()) = tokio::join!(waiting, answer);
        assert_eq!(answer_taken.expect("waited for").expect("sent"), 7);

        let start = tokio::time::Instant::now();
        let never = std::future::pending::<u32>();
        let stop_later = async {
            tokio::time::sleep(Duration::from_secs(20 * 60)).await; // SIGTERM
            stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let (given_up, ()) = tokio::join!(within_running_time_by(limit, never), stop_later);
        assert!(given_up.is_none());
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(20 * 60) && waited < Duration::from_secs(25 * 60));
    }
}
