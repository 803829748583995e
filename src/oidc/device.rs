//! RFC 8628 device authorization grant: start, poll, and a terminal QR code.
//!
//! The device authorization request goes through oauth2. Polling is a small
//! state machine here, not oauth2's `exchange_device_access_token` loop: that
//! loop retries transport errors silently until the code expires and reports
//! nothing; here every poll outcome is a [`PollEvent`]. The flow ends when
//! its future is dropped. Printing, spinners and Ctrl-C handling belong to
//! the CLI.

use std::time::{Duration, Instant};

use oauth2::{
    DeviceAuthorizationUrl, DeviceCodeErrorResponse, DeviceCodeErrorResponseType,
    StandardDeviceAuthorizationResponse,
};
use url::Url;

use super::OidcError;
use super::authcode::{AudienceMode, audience_params, split_scopes};
use super::registration::DEVICE_GRANT;
use super::token::{self, Endpoint, TokenResponse, TokenSet};
use super::{body_excerpt, printable};
use crate::error::kind::ErrorKind;
use crate::secret::SecretString;

/// How often a wait wakes to report a tick (the CLI's progress line).
const TICK: Duration = Duration::from_millis(100);
/// Upper bound for the back-off after transport errors.
const MAX_BACKOFF_SECS: u64 = 60;

/// Why the device flow ended without tokens.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The user denied the request (RFC 8628 §3.5 `access_denied`).
    #[error("the login was denied at the provider (access_denied{}); run oidc-gen again and approve the request", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    AccessDenied {
        /// The provider's `error_description`.
        description: Option<String>,
    },
    /// The device code expired (`expired_token`, or `expires_in` passed).
    #[error(
        "the device code expired before the login was completed; run oidc-gen again and finish the login in the browser within the time shown"
    )]
    Expired,
    /// A request failed: a provider error, the network, or an unparsable reply.
    #[error(transparent)]
    Oidc(#[from] OidcError),
}

impl DeviceError {
    /// The error class, which decides oidc-gen's exit code: a denial is a
    /// provider error (8); expiry is a plain failure (1).
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            Self::AccessDenied { .. } => ErrorKind::ProviderError,
            Self::Expired => ErrorKind::Failure,
            Self::Oidc(e) => e.kind(),
        }
    }
}

/// Inputs for the device authorization request (RFC 8628 §3.1).
#[derive(Debug)]
pub struct DeviceParams<'a> {
    /// The provider's `device_authorization_endpoint` (or `--dae`).
    pub device_authorization_endpoint: &'a Url,
    /// The provider's `token_endpoint` (oauth2 wants it set on the client)
    /// and the client.
    pub token: Endpoint<'a>,
    /// Scopes to request; entries may hold several space-separated scopes.
    pub scopes: &'a [String],
    /// Audiences to request (empty for none).
    pub audiences: &'a [String],
    /// How to send `audiences`.
    pub audience_mode: AudienceMode,
}

/// The provider's answer to the device authorization request (RFC 8628 §3.2).
#[derive(Debug)]
pub struct DeviceAuthorization {
    device_code: SecretString,
    /// The code the user types at `verification_uri`.
    pub user_code: String,
    /// Where the user goes to enter `user_code`.
    pub verification_uri: String,
    /// The same with the code filled in, for a QR code.
    pub verification_uri_complete: Option<String>,
    /// Lifetime of the codes, as the provider gave it.
    pub expires_in: Duration,
    /// Minimum poll interval (5 s when the provider gave none).
    pub interval: Duration,
    issued_at: Instant,
}

/// Requests a device and user code.
///
/// # Errors
/// [`DeviceError::Oidc`] with the provider's error, a network error or an
/// unparsable reply.
pub async fn start_device_authorization(
    params: &DeviceParams<'_>,
) -> Result<DeviceAuthorization, DeviceError> {
    let endpoint = params.device_authorization_endpoint;
    let oauth = params
        .token
        .oauth()?
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(endpoint.clone()));
    let mut request = oauth
        .exchange_device_code()
        .add_scopes(split_scopes(params.scopes));
    for (name, value) in audience_params(params.audiences, params.audience_mode) {
        request = request.add_extra_param(name, value);
    }
    let issued_at = Instant::now();
    let response: StandardDeviceAuthorizationResponse = request
        .request_async(&super::http::Capped(params.token.http.clone()))
        .await
        .map_err(|e| token::map_error(e, endpoint.as_str()))?;
    Ok(DeviceAuthorization {
        device_code: SecretString::new(response.device_code().secret().clone()),
        user_code: response.user_code().secret().clone(),
        verification_uri: response.verification_uri().to_string(),
        verification_uri_complete: response
            .verification_uri_complete()
            .map(|u| u.secret().clone()),
        expires_in: response.expires_in(),
        interval: response.interval(),
        issued_at,
    })
}

/// What happened at one step of polling, for progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PollEvent {
    /// Emitted about every 100 ms while waiting; `remaining` is the time
    /// until the device code expires.
    Tick {
        /// Time left before the code expires.
        remaining: Duration,
    },
    /// `authorization_pending`: the user has not finished yet.
    Pending,
    /// `slow_down`: the poll interval grew to `interval`.
    SlowDown {
        /// The new wait between polls.
        interval: Duration,
    },
    /// A transport error; polling goes on after `retry_in`.
    NetworkRetry {
        /// The error with its causes.
        error: String,
        /// The wait before the next poll.
        retry_in: Duration,
    },
}

/// Knobs for [`poll_for_token`].
#[derive(Clone, Debug)]
pub struct PollOptions {
    /// The length of one protocol second: 1 s, shorter only in tests.
    pub time_unit: Duration,
    /// Consecutive transport errors tolerated before giving up.
    pub max_network_retries: u32,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            time_unit: Duration::from_secs(1),
            max_network_retries: 5,
        }
    }
}

/// Polls the token endpoint until the user approves, denies or the code
/// expires (RFC 8628 §3.4, §3.5).
///
/// Waits `interval` before each poll, adds 5 s on `slow_down`, backs off
/// exponentially on transport errors, and reports each step to `on_event`.
///
/// # Errors
/// `AccessDenied`, `Expired` (`expired_token` or `expires_in` passed),
/// or `Oidc` for any other provider error, for transport errors
/// beyond `max_network_retries`, and for unparsable replies.
pub async fn poll_for_token(
    at: Endpoint<'_>,
    authorization: &DeviceAuthorization,
    options: &PollOptions,
    mut on_event: impl FnMut(PollEvent),
) -> Result<TokenSet, DeviceError> {
    let unit = options.time_unit;
    let expires_at = {
        let lifetime = scaled(authorization.expires_in.as_secs(), unit);
        let issued = authorization.issued_at;
        issued.checked_add(lifetime).unwrap_or(issued)
    };
    // A zero interval would hammer the provider; one second is the floor.
    let mut interval_secs = authorization.interval.as_secs().max(1);
    let mut wait_secs = interval_secs;
    let mut failures = 0;
    loop {
        wait(scaled(wait_secs, unit), expires_at, &mut on_event).await?;
        let outcome = poll_once(at, authorization).await;
        wait_secs = interval_secs;
        match outcome {
            Poll::Token(tokens) => return Ok(*tokens),
            Poll::Pending => on_event(PollEvent::Pending),
            Poll::SlowDown => {
                // RFC 8628 §3.5: slow_down adds 5 s for this and all later polls.
                interval_secs = interval_secs.saturating_add(5);
                wait_secs = interval_secs;
                on_event(PollEvent::SlowDown {
                    interval: scaled(interval_secs, unit),
                });
            }
            Poll::Denied(description) => return Err(DeviceError::AccessDenied { description }),
            Poll::Expired => return Err(DeviceError::Expired),
            Poll::Failed(err @ OidcError::Unreachable { .. })
                if failures < options.max_network_retries =>
            {
                // RFC 8628 §3.5: back off exponentially on connection timeouts.
                failures += 1;
                wait_secs = interval_secs
                    .saturating_mul(1 << failures.min(6))
                    .min(MAX_BACKOFF_SECS.max(interval_secs));
                on_event(PollEvent::NetworkRetry {
                    error: err.to_string(),
                    retry_in: scaled(wait_secs, unit),
                });
                continue;
            }
            Poll::Failed(err) => return Err(err.into()),
        }
        failures = 0;
    }
}

enum Poll {
    Token(Box<TokenSet>),
    Pending,
    SlowDown,
    Denied(Option<String>),
    Expired,
    Failed(OidcError),
}

/// One device access token request (RFC 8628 §3.4). Built here, not with
/// oauth2, because oauth2 offers this request only inside its polling loop.
async fn poll_once(at: Endpoint<'_>, authorization: &DeviceAuthorization) -> Poll {
    let form = [
        ("grant_type", DEVICE_GRANT),
        ("device_code", authorization.device_code.expose()),
    ];
    let (status, body) = match token::post_form(at, &form).await {
        Ok(reply) => reply,
        Err(e) => return Poll::Failed(e),
    };
    if status.is_success()
        && let Ok(tokens) = serde_json::from_slice::<TokenResponse>(&body)
    {
        return Poll::Token(Box::new(TokenSet::from_response(
            &tokens,
            token::unix_now(),
        )));
    }
    // RFC 8628 §3.5 errors come as HTTP 400; some servers send them with 200.
    match serde_json::from_slice::<DeviceCodeErrorResponse>(&body) {
        Ok(e) => match e.error() {
            DeviceCodeErrorResponseType::AuthorizationPending => Poll::Pending,
            DeviceCodeErrorResponseType::SlowDown => Poll::SlowDown,
            DeviceCodeErrorResponseType::AccessDenied => {
                Poll::Denied(e.error_description().map(|d| printable(d)))
            }
            DeviceCodeErrorResponseType::ExpiredToken => Poll::Expired,
            DeviceCodeErrorResponseType::Basic(other) => Poll::Failed(OidcError::provider(
                at.url,
                other.as_ref(),
                e.error_description().map(String::as_str),
                e.error_uri().map(String::as_str),
            )),
        },
        Err(_) if status.is_success() => Poll::Failed(OidcError::BadResponse {
            url: at.url.to_owned(),
            detail: describe_token_parse_error(&body),
        }),
        Err(_) => Poll::Failed(OidcError::BadResponse {
            url: at.url.to_owned(),
            detail: format!(
                "HTTP {status} without an OAuth error{}",
                body_excerpt(&body)
            ),
        }),
    }
}

fn describe_token_parse_error(body: &[u8]) -> String {
    match serde_json::from_slice::<TokenResponse>(body) {
        Err(e) => format!("not a token response: {e}{}", body_excerpt(body)),
        Ok(_) => "not a token response".to_owned(),
    }
}

/// Sleeps `duration` in ticks, stopping early at expiry.
async fn wait(
    duration: Duration,
    expires_at: Instant,
    on_event: &mut impl FnMut(PollEvent),
) -> Result<(), DeviceError> {
    let until = Instant::now().checked_add(duration).unwrap_or(expires_at);
    loop {
        let now = Instant::now();
        if now >= expires_at {
            return Err(DeviceError::Expired);
        }
        if now >= until {
            return Ok(());
        }
        on_event(PollEvent::Tick {
            remaining: expires_at - now,
        });
        // The poll interval under RFC 8628 §3.5, cut into ticks for the
        // progress line.
        tokio::time::sleep(TICK.min(until - now).min(expires_at - now)).await;
    }
}

fn scaled(secs: u64, unit: Duration) -> Duration {
    unit.saturating_mul(u32::try_from(secs).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests;
