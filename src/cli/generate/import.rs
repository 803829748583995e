//! The import flow (`--rt TOKEN`, `--rt-env`): a refresh token the person
//! already has, so no login. It is checked with one refresh, whose answer
//! (a rotating provider's replacement token) is the [`TokenSet`] that
//! `complete` saves, as the login flows' tokens are.

use super::args::Args;
use super::session::Session;
use crate::account::config::AccountConfig;
use crate::error::Error;
use crate::oidc::OidcError;
use crate::oidc::discovery::Metadata;
use crate::oidc::token::{self, TokenSet};
use crate::secret::SecretString;

/// The refresh token to import, from `--rt` or `--rt-env`; `None`: none.
pub(super) fn given_token(args: &Args) -> anyhow::Result<Option<SecretString>> {
    let rt = if let Some(rt) = &args.rt {
        crate::cli::warn_secret_in_argv("oidc-gen", "--rt", "--rt-env[=VAR]");
        SecretString::new(rt.clone())
    } else if let Some(var) = &args.rt_env {
        crate::cli::secret_from_env("--rt-env", var)?
    } else {
        return Ok(None);
    };
    // Sent as it is, an empty token gets the provider's "missing parameter".
    if rt.expose().trim().is_empty() {
        return Err(Error::Usage(
            "the refresh token to import is empty; check --rt or the --rt-env variable".into(),
        )
        .into());
    }
    Ok(Some(rt))
}

/// The tokens of one refresh with the imported token (in `config`): it
/// works, and a rotating provider has replaced it. Sent once: the caller
/// holds no prompt and no signal while it is under way. A refused token of
/// a new account is said as an import refused (there is no login to
/// re-authenticate yet).
pub(super) fn check(session: &Session<'_>, config: &AccountConfig) -> anyhow::Result<TokenSet> {
    let checked = session.await_answer(refresh_check(&session.tokens, &session.meta, config));
    match checked {
        Err(crate::Error::Oidc(OidcError::RefreshTokenRejected {
            account,
            description,
        })) if !session.args.reauthenticate => Err(Error::from(OidcError::ImportedTokenRejected {
            account,
            description,
        })
        .into()),
        other => Ok(other?),
    }
}

/// One refresh grant to prove the refresh token works.
async fn refresh_check(
    http: &reqwest::Client,
    meta: &Metadata,
    config: &AccountConfig,
) -> crate::Result<TokenSet> {
    Ok(token::refresh_account(
        http,
        &meta.token_endpoint,
        config,
        &[],
        &[],
        token::unix_now(),
    )
    .await?)
}
