//! The pages the loopback listener shows in the user's browser.
//!
//! Every page is self-contained: inline style only, no scripts, images,
//! fonts or links to load, and a `Content-Security-Policy` that forbids
//! anything else. Each one has a title saying what happened and a message
//! saying what to do next, because the browser tab is where the user looks
//! right after the login.

use super::http::Request;

/// What the success page says: how `oidc-gen --codeExchange` knows an
/// oidc-gen took the address it handed on, not some other server.
pub const TAKEN: &str = "oidc-gen received the authorization code";

/// One page: status, title and HTML body (already escaped).
pub(super) struct Page {
    status: u16,
    title: &'static str,
    body: String,
}

impl Page {
    /// The redirect carried our `state` and a code.
    pub(super) fn success() -> Self {
        Self {
            status: 200,
            title: "Login successful",
            body: format!(
                "<p>{} and is finishing the login.</p>\
                 <p>You can close this tab and return to the terminal.</p>",
                TAKEN
            ),
        }
    }

    /// Any visit to the redirect path after the code arrived (a reload, the
    /// back button): the login is done, this visit changes nothing.
    pub(super) fn already_completed() -> Self {
        Self {
            status: 200,
            title: "Login already completed",
            body: "<p>oidc-gen already received the authorization code from an earlier visit \
                   to this page; this visit changed nothing.</p>\
                   <p>You can close this tab and return to the terminal.</p>"
                .to_owned(),
        }
    }

    /// The `state` is missing, repeated or another attempt's (RFC 6749 §10.12).
    pub(super) fn state_mismatch() -> Self {
        Self {
            status: 400,
            title: "Login not matched",
            body: "<p>Error: state mismatch. This response does not belong to the login \
                   oidc-gen is waiting for, so it was ignored.</p>\
                   <p>oidc-gen keeps waiting: open the link it printed in the terminal \
                   and log in again.</p>"
                .to_owned(),
        }
    }

    /// A redirect from another user of this computer: not the login of
    /// the user who started oidc-gen (one who read the URL could have
    /// completed it as themselves).
    pub(super) fn another_user() -> Self {
        Self {
            status: 403,
            title: "Not your login",
            body: "<p>This request comes from another user of this computer. oidc-gen \
                   takes the login only from the user who started it, and keeps \
                   waiting.</p>"
                .to_owned(),
        }
    }

    /// The provider answered `error=...` (RFC 6749 §4.1.2.1). `access_denied`
    /// is the user's (or the provider's policy's) refusal; anything else is a
    /// provider error.
    pub(super) fn refused(error: &str, description: Option<&str>) -> Self {
        let detail = format!(
            "<code>{}</code>{}",
            html_escape(error),
            description
                .map(|d| format!(" ({})", html_escape(d)))
                .unwrap_or_default()
        );
        if error == "access_denied" {
            Self {
                status: 400,
                title: "Access denied",
                body: format!(
                    "<p>The login was not approved: the provider reported {detail}.</p>\
                     <p>Nothing was saved. You can close this tab; to try again, \
                     run oidc-gen again and approve the request.</p>"
                ),
            }
        } else {
            Self {
                status: 400,
                title: "Login failed: provider error",
                body: format!(
                    "<p>The provider reported an error: {detail}.</p>\
                     <p>You can close this tab; oidc-gen shows in the terminal what to do \
                     next.</p>"
                ),
            }
        }
    }

    /// The redirect carried our `state` but neither a code nor an error.
    pub(super) fn missing_code() -> Self {
        Self {
            status: 400,
            title: "Login failed",
            body: "<p>Error: the response did not contain the code parameter.</p>\
                   <p>You can close this tab; oidc-gen shows in the terminal what to do \
                   next.</p>"
                .to_owned(),
        }
    }

    /// Favicon fetches, scanners, typos.
    pub(super) fn not_found() -> Self {
        Self {
            status: 404,
            title: "Not found",
            body: "<p>Nothing here.</p>".to_owned(),
        }
    }

    /// Anything but GET on the redirect path.
    pub(super) fn method_not_allowed() -> Self {
        Self {
            status: 405,
            title: "Method not allowed",
            body: "<p>Only GET is served here.</p>".to_owned(),
        }
    }

    /// The whole HTML document.
    pub(super) fn html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <title>oidc-gen: {title}</title><style>body{{font-family:sans-serif;\
             max-width:36em;margin:4em auto;padding:0 1em;line-height:1.5}}</style></head>\
             <body><h1>{title}</h1>{body}</body></html>\n",
            title = self.title,
            body = self.body,
        )
    }

    /// Sends the page; a browser that has already gone away changes nothing.
    pub(super) fn send(self, request: Request) {
        // The page must not be cached (it follows a URL holding the code), must
        // leak no referrer, and loads nothing from anywhere: no scripts at all.
        let headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", CSP),
        ];
        request.respond(self.status, &headers, &self.html());
    }
}

/// Nothing may load or run; only the page's own inline style applies.
pub(super) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub(super) fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
