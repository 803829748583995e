//! What the flow tests of `authcode` and `device` share: the client they act
//! as, and the checks of what the token endpoint was sent and answered.

use super::fake_op::Recorded;
use super::token::{Credentials, TokenSet};
use crate::secret::SecretString;

/// The confidential client's secret; its `:` must be form-encoded before
/// Basic encoding (RFC 6749 §2.3.1).
pub(crate) const SECRET: &str = "s3cr:et";

/// Client `client-1`, public when `secret` is `None`; with `post` the
/// secret goes in the form body instead of HTTP Basic.
pub(crate) fn client(secret: Option<&SecretString>, post: bool) -> Credentials<'_> {
    Credentials {
        client_id: "client-1",
        client_secret: secret,
        post,
    }
}

/// Client `client-1` without a secret.
pub(crate) fn public_client() -> Credentials<'static> {
    client(None, false)
}

/// Asserts that `sent` authenticated `client-1` with [`SECRET`] by HTTP
/// Basic, id and secret form-encoded first (RFC 6749 §2.3.1), and kept the
/// secret out of the body.
pub(crate) fn assert_basic_auth(sent: &Recorded) {
    assert_eq!(
        sent.header("authorization"),
        Some("Basic Y2xpZW50LTE6czNjciUzQWV0")
    );
    assert_eq!(sent.form("client_secret"), None);
}

/// Asserts the access, refresh and ID tokens of `tokens`.
pub(crate) fn assert_tokens(tokens: &TokenSet, access: &str, refresh: &str, id: &str) {
    assert_eq!(tokens.access_token.expose(), access);
    assert_eq!(
        tokens.refresh_token.as_ref().map(SecretString::expose),
        Some(refresh)
    );
    assert_eq!(tokens.id_token.as_ref().map(SecretString::expose), Some(id));
}
