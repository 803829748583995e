//! The end of every way of getting tokens: `--only-at` prints the access
//! token and saves nothing; otherwise the refresh token goes into the
//! account, which `finish` saves and loads into the agent.

use anyhow::bail;

use super::{Flow, Session, finish};
use crate::account::config::AccountConfig;
use crate::account::store::Store;
use crate::oidc::token::TokenSet;
use crate::secret::SecretString;

/// The rest after a flow returned tokens: `--only-at` prints the access
/// token; otherwise the refresh token goes into the account, which is saved
/// and loaded.
pub(super) fn complete(
    session: &Session<'_>,
    store: &Store,
    mut config: AccountConfig,
    password: Option<SecretString>,
    tokens: TokenSet,
    flow: Flow,
) -> anyhow::Result<()> {
    let args = session.args;
    if args.only_at {
        crate::cli::write_stdout(&zeroize::Zeroizing::new(format!(
            "{}\n",
            tokens.access_token.expose()
        )))?;
        // Nothing is saved, so a client registered for this run is useless.
        super::registration::unregister(session, &config);
        return Ok(());
    }
    match tokens.refresh_token.clone().filter(|t| !t.is_empty()) {
        Some(rt) => config.refresh_token = rt,
        // An imported token that was not rotated stays valid.
        None if flow == Flow::Refresh => {}
        None => bail!(
            "the provider issued no refresh token for '{}'; request the offline_access scope \
             (--scope \"openid offline_access\") or enable refresh tokens for the client",
            config.name
        ),
    }
    finish(args, store, config, password, &tokens)
}
