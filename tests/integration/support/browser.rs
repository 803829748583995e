//! A scripted "browser": plain HTTP/1.1 GETs over std `TcpStream`, used to
//! visit the authorization URL oidc-gen prints and follow the provider's
//! 302 to the loopback listener, as a user's browser would.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};

use super::PROCESS_WAIT;

/// One HTTP answer.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

/// GETs `url` (http only) without following redirects.
pub fn get(url: &str) -> Page {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("browser: bad URL {url:?}: {e}"));
    assert_eq!(parsed.scheme(), "http", "browser speaks http only: {url}");
    let host = parsed.host_str().expect("host");
    let port = parsed.port_or_known_default().expect("port");
    let addr = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .expect("resolve")
        .next()
        .expect("an address");
    let mut stream = TcpStream::connect_timeout(&addr, PROCESS_WAIT)
        .unwrap_or_else(|e| panic!("browser: cannot connect to {url}: {e}"));
    stream
        .set_read_timeout(Some(PROCESS_WAIT))
        .expect("timeout");
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: test-browser\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("browser: no status line from {url}: {raw:?}"));
    let location = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
        })
        .map(|(_, v)| v.trim().to_owned());
    Page {
        status,
        location,
        body: body.to_owned(),
    }
}

/// Visits the authorization URL and returns the provider's redirect target
/// (the loopback URL with `code` and `state`, or `error`).
pub fn authorize(auth_url: &str) -> String {
    let page = get(auth_url);
    assert_eq!(page.status, 302, "provider did not redirect: {page:?}");
    page.location.expect("Location header")
}

/// The whole login: authorization URL, then the redirect to the listener.
pub fn login(auth_url: &str) -> Page {
    get(&authorize(auth_url))
}
