//! What the fake provider saw ([`Recorded`]) and what it answers
//! ([`Reply`]), both independent of `tiny_http` for the tests.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Instant;

/// One request as the fake provider saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Recorded {
    pub(super) fn new(request: &tiny_http::Request, body: &[u8]) -> Self {
        let target = request.url();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Self {
            method: request.method().as_str().to_owned(),
            path: path.to_owned(),
            query: parse_form(query),
            headers: request
                .headers()
                .iter()
                .map(|h| (h.field.to_string(), h.value.to_string()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
            at: Instant::now(),
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first form parameter named `name` in the body.
    pub fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// All form parameters of the body.
    pub fn form_map(&self) -> HashMap<String, String> {
        parse_form(&self.body)
    }

    /// A token-endpoint request with this `grant_type`.
    pub fn is_grant(&self, grant_type: &str) -> bool {
        self.path == "/token" && self.form("grant_type").as_deref() == Some(grant_type)
    }
}

pub(super) fn parse_form(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// One answer, scripted by a test or computed by the simulation.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// Answer bytes that are not HTTP: the client sees a transport error.
    broken: bool,
}

impl Reply {
    /// A JSON reply with `status`.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::raw(status, "application/json", &body.to_string())
    }

    /// An OAuth error reply (RFC 6749 §5.2): HTTP 400 with `{"error": ...}`.
    pub fn oauth_error(error: &str) -> Self {
        Self::json(400, &serde_json::json!({ "error": error }))
    }

    /// An OAuth error reply with a description and any status.
    pub fn error(status: u16, error: &str, description: &str) -> Self {
        let body = serde_json::json!({"error": error, "error_description": description});
        Self::json(status, &body)
    }

    /// A reply with any content type and body.
    pub fn raw(status: u16, content_type: &str, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.to_owned(),
            broken: false,
        }
    }

    /// A reply without a body (204, ...).
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            broken: false,
        }
    }

    /// 302 to `location`.
    pub fn redirect(location: &str) -> Self {
        Self {
            headers: vec![("Location", location.to_owned())],
            ..Self::empty(302)
        }
    }

    /// Bytes that are not an HTTP response: the client's request fails as
    /// a transport error, as if the provider had hung up.
    pub fn broken() -> Self {
        Self {
            broken: true,
            ..Self::empty(500)
        }
    }

    pub(super) fn send(self, request: tiny_http::Request) {
        if self.broken {
            let mut raw = request.into_writer();
            let _ = raw.write_all(b"not HTTP\r\n\r\n");
            let _ = raw.flush();
            return;
        }
        let mut response =
            tiny_http::Response::from_data(self.body.into_bytes()).with_status_code(self.status);
        for (name, value) in self.headers {
            let header = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                .expect("a valid header");
            response.add_header(header);
        }
        // The client may have given up already (a timeout under test).
        let _ = request.respond(response);
    }
}
