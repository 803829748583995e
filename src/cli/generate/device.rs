//! The device flow on the command line: the instructions and QR code, a
//! progress line while polling, and `--timeout`. Ctrl-C while polling ends
//! oidc-gen through the session's handler (`interrupt`): exit 130, one line.

use std::io::IsTerminal as _;
use std::time::Duration;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use url::Url;

use super::{Session, auth_scopes};
use crate::account::config::{AccountConfig, split_list};
use crate::error::Error;
use crate::oidc::OidcError;
use crate::oidc::authcode::AudienceMode;
use crate::oidc::device::{
    DeviceAuthorization, DeviceError, DeviceParams, PollEvent, PollOptions, poll_for_token,
    start_device_authorization,
};
use crate::oidc::token::TokenSet;

/// Runs the device flow for `config`.
pub(super) fn run(session: &Session<'_>, config: &AccountConfig) -> anyhow::Result<TokenSet> {
    let args = session.args;
    let endpoint = args
        .dae
        .as_deref()
        .or(session.meta.device_authorization_endpoint.as_deref())
        .ok_or_else(|| {
            crate::Error::from(OidcError::MissingEndpoint {
                issuer: config.issuer_url.clone(),
                what: "device authorization endpoint",
                remedy: "pass it with --dae URL, or use --flow code",
            })
        })?;
    // A bad --dae is the user's; a bad one in the metadata the provider's.
    let endpoint = Url::parse(endpoint).map_err(|e| match args.dae {
        Some(_) => crate::Error::Usage(format!(
            "--dae {endpoint:?} is not a URL ({e}); give the full device authorization endpoint"
        )),
        None => OidcError::BadResponse {
            url: config.issuer_url.clone(),
            detail: format!("the device_authorization_endpoint {endpoint:?} is not a URL ({e})"),
        }
        .into(),
    })?;
    let scopes = auth_scopes(config);
    let audiences = split_list(&config.audience);
    let params = DeviceParams {
        device_authorization_endpoint: &endpoint,
        token: session.token_endpoint(config),
        scopes: &scopes,
        audiences: &audiences,
        audience_mode: AudienceMode::Legacy,
    };
    let mut authorization = session.run(start_device_authorization(&params))?;
    // --timeout bounds the wait when it is shorter than the code's lifetime.
    let timeout = Duration::from_secs(args.timeout);
    let capped = timeout < authorization.expires_in;
    if capped {
        authorization.expires_in = timeout;
    }
    // Ctrl-C ends the process through the session's handler, installed
    // before the code is shown.
    let result = session.waiting("waiting for the device login", || {
        show_and_poll(session, config, &authorization)
    })?;
    // The wait is over: from here a Ctrl-C no longer says it interrupted one.
    match result {
        Ok(tokens) => {
            eprintln!("The login was approved.");
            Ok(tokens)
        }
        Err(DeviceError::Expired) if capped => Err(anyhow::anyhow!(
            "no approval within {} s (--timeout); approve the login sooner, or raise --timeout",
            args.timeout
        )),
        Err(e) => Err(Error::from(e).into()),
    }
}

/// Shows the code and polls until the login is approved, denied or expires.
fn show_and_poll(
    session: &Session<'_>,
    config: &AccountConfig,
    authorization: &DeviceAuthorization,
) -> Result<TokenSet, DeviceError> {
    let terminal = std::io::stderr().is_terminal();
    eprintln!(
        "To log in, open {} in a browser and enter the code {}",
        authorization.verification_uri, authorization.user_code
    );
    if let Some(complete) = &authorization.verification_uri_complete {
        eprintln!("or open this URL, which has the code filled in:");
        eprintln!("{complete}");
        if terminal && let Some(qr) = render_qr(complete) {
            eprintln!("or scan this QR code with a phone:\n{qr}");
        }
    }
    if !terminal {
        eprintln!(
            "Waiting up to {} s for the approval...",
            authorization.expires_in.as_secs()
        );
    }
    let mut progress = Progress::new(terminal);
    let result = session.rt.block_on(poll_for_token(
        session.token_endpoint(config),
        authorization,
        &PollOptions::default(),
        |event| progress.show(&event),
    ));
    progress.clear();
    result
}

/// A one-line spinner with the time left, drawn only on a terminal.
struct Progress {
    terminal: bool,
    frame: usize,
    drawn: bool,
}

impl Progress {
    fn new(terminal: bool) -> Self {
        Self {
            terminal,
            frame: 0,
            drawn: false,
        }
    }

    fn show(&mut self, event: &PollEvent) {
        match event {
            PollEvent::Tick { remaining } if self.terminal => {
                const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
                self.frame = (self.frame + 1) % FRAMES.len();
                let secs = remaining.as_secs();
                eprint!(
                    "\r{} Waiting for the approval ({}:{:02} left, Ctrl-C to abort)\x1b[K",
                    FRAMES[self.frame],
                    secs / 60,
                    secs % 60
                );
                self.drawn = true;
            }
            PollEvent::NetworkRetry { error, retry_in } => {
                self.clear();
                eprintln!(
                    "oidc-gen: warning: {error}; trying again in {} s",
                    retry_in.as_secs()
                );
            }
            PollEvent::Tick { .. } | PollEvent::Pending | PollEvent::SlowDown { .. } => {}
        }
    }

    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            self.drawn = false;
        }
    }
}

/// Renders `text` as a QR code of Unicode half blocks for a dark terminal
/// (light modules drawn, dark ones left blank), with the quiet zone.
///
/// `None` when the text does not fit in a QR code: show the URL alone then.
fn render_qr(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::render_qr;

    #[test]
    fn qr_code_renders_as_half_blocks() {
        let qr = render_qr("https://op.example/device?user_code=ABCD-EFGH").expect("fits");
        let lines: Vec<&str> = qr.lines().collect();
        let width = lines[0].chars().count();
        assert!(width >= 29, "version 3 or larger with quiet zone");
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert!(
            qr.chars()
                .all(|c| matches!(c, ' ' | '\u{2580}' | '\u{2584}' | '\u{2588}' | '\n'))
        );
        // The quiet zone is light, and light modules are drawn for dark terminals.
        assert!(lines[0].chars().all(|c| c == '\u{2588}'));
        assert!(render_qr(&"x".repeat(8000)).is_none());
    }
}
