//! The device flow on the command line: the instructions and QR code, a
//! progress line while polling, and `--timeout`. Ctrl-C while polling ends
//! oidc-gen through the session's handler (`interrupt`): exit 130, one line.

use std::io::IsTerminal as _;
use std::time::Duration;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use url::Url;

use super::session::{Session, auth_scopes};
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
                remedy: "pass it with --dae URL, or use --flow code".into(),
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
            // Before the person reads it and perhaps presses Ctrl-C.
            super::undo::arm_revocation(session, config, &tokens)?;
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
    eprint!(
        "{}",
        instructions(
            &authorization.verification_uri,
            &authorization.user_code,
            authorization.verification_uri_complete.as_deref(),
            terminal
        )
    );
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

/// What the person reads: the code and where to enter it, the URL with the
/// code filled in, and on a terminal its QR code. The QR code comes first,
/// so that the code and the URLs stay on screen above the spinner (the QR
/// code alone fills most of an 80x24 terminal).
fn instructions(uri: &str, code: &str, complete: Option<&str>, terminal: bool) -> String {
    let mut out = String::new();
    if let Some(qr) = complete.filter(|_| terminal).and_then(render_qr) {
        out.push_str(&format!(
            "To log in, scan this QR code with a phone:\n{qr}\n"
        ));
    }
    if let Some(complete) = complete {
        out.push_str(&format!(
            "To log in, open this URL, which has the code filled in:\n{complete}\nor "
        ));
    } else {
        out.push_str("To log in, ");
    }
    out.push_str(&format!(
        "open {uri} in a browser and enter the code {code}\n"
    ));
    out
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
    use super::{instructions, render_qr};

    /// On a terminal the QR code comes first: the code and the URLs are the
    /// last lines, the ones an 80x24 terminal still shows.
    #[test]
    fn the_code_is_shown_below_the_qr_code() {
        let shown_on = |terminal| {
            instructions(
                "https://op.example/device",
                "ABCD-EFGH",
                Some("https://op.example/device?user_code=ABCD-EFGH"),
                terminal,
            )
        };
        let shown = shown_on(true);
        let lines: Vec<&str> = shown.lines().collect();
        assert!(lines.len() > 20, "{shown}");
        assert_eq!(lines[0], "To log in, scan this QR code with a phone:");
        assert_eq!(
            lines[lines.len() - 3..],
            [
                "To log in, open this URL, which has the code filled in:",
                "https://op.example/device?user_code=ABCD-EFGH",
                "or open https://op.example/device in a browser and enter the code ABCD-EFGH",
            ]
        );
        // Not on a terminal (a log, a CI job): no QR code.
        assert_eq!(shown_on(false).lines().count(), 3);
        let bare = instructions("https://op.example/device", "ABCD-EFGH", None, true);
        assert_eq!(
            bare,
            "To log in, open https://op.example/device in a browser and enter the code ABCD-EFGH\n"
        );
    }

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
