//! What a login given up (Ctrl-C, an error before it is saved) leaves
//! undone at the provider: its refresh token revoked (RFC 7009) and the
//! client this run registered deleted. Armed by the flow that gets the
//! tokens and by `complete`, disarmed once the account is saved.

use super::session::Session;
use crate::account::config::AccountConfig;
use crate::oidc::token::{Credentials, Endpoint, TokenSet, revoke_refresh_token};

/// Until the login is saved, a Ctrl-C (at the password prompt, say) or an
/// error revokes it (RFC 7009), which nothing would hold otherwise, rather
/// than leave a live grant at the provider; and deletes the client this run
/// registered for it.
pub(super) fn arm_revocation(
    session: &Session<'_>,
    config: &AccountConfig,
    tokens: &TokenSet,
) -> anyhow::Result<()> {
    let deletion = super::registration::deletion(session, config);
    let Some(rt) = tokens.refresh_token.clone().filter(|t| !t.is_empty()) else {
        return session.arm(deletion);
    };
    let http = session.http.clone();
    let endpoint = session.meta.revocation_endpoint.clone();
    let login = config.clone();
    session.arm(Some(Box::pin(async move {
        let revoked = match endpoint {
            None => "the provider has no revocation endpoint; the new login stays valid there \
                     until it expires"
                .to_owned(),
            Some(url) => {
                let at = Endpoint {
                    http: &http,
                    url: &url,
                    creds: Credentials::of(&login),
                };
                match revoke_refresh_token(at, &rt).await {
                    Ok(()) => "the new login was revoked at the provider".to_owned(),
                    Err(e) => format!(
                        "the new login could not be revoked ({e}); it stays valid at the \
                         provider until it expires"
                    ),
                }
            }
        };
        match deletion {
            Some(deletion) => format!("{revoked}; {}", deletion.await),
            None => revoked,
        }
    })))
}
