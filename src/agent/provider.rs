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

/// Discovery (cached per issuer) plus one refresh grant.
pub(super) async fn refresh_with(
    ctx: &Ctx,
    snap: &Snapshot,
    scopes: &[String],
    audiences: &[String],
) -> Result<TokenSet, OidcError> {
    if ctx.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(OidcError::Stopping);
    }
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
