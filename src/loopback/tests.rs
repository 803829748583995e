//! Listener tests over real loopback sockets with hand-written HTTP/1.1.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use super::*;
use crate::error::kind::ErrorKind;

const WAIT: Duration = Duration::from_secs(5);

/// One `GET target` over a fresh connection, which must answer `status`;
/// returns the body.
#[track_caller]
fn get(addr: SocketAddr, target: &str, status: u16) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to listener");
    stream
        .set_read_timeout(Some(WAIT))
        .expect("set read timeout");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let got: u16 = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code in response");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    assert_eq!(got, status, "GET {target}: {body}");
    body
}

/// Runs `client` on a thread while the listener waits on this one.
fn serve<F>(listener: &LoopbackListener, state: &str, client: F) -> Result<AuthCode, LoopbackError>
where
    F: FnOnce(SocketAddr) + Send + 'static,
{
    let addr = listener.local_addr();
    let handle = thread::spawn(move || client(addr));
    let result = listener.wait_for_code(state, WAIT);
    handle.join().expect("client thread");
    result
}

/// [`serve`] for a visit that must end the wait with a code: the code.
#[track_caller]
fn served_code<F>(listener: &LoopbackListener, state: &str, client: F) -> String
where
    F: FnOnce(SocketAddr) + Send + 'static,
{
    let code = serve(listener, state, client).expect("a code");
    code.code().expose().to_owned()
}

#[test]
fn success_returns_code_and_readable_page() {
    let listener = LoopbackListener::bind("http://127.0.0.1/cb", None).expect("bind");
    let code = serve(&listener, "s1", |addr| {
        let page = get(addr, "/cb?code=abc%2F1&state=s1&iss=https%3A%2F%2Fop", 200);
        assert!(page.contains("You can close this tab and return to the terminal"));
    })
    .expect("code");
    assert_eq!(code.code().expose(), "abc/1");
    assert_eq!(code.issuer(), Some("https://op"));
    assert!(
        !format!("{code:?}").contains("abc"),
        "Debug must redact the code"
    );
}

#[test]
fn wrong_state_favicon_and_wrong_path_do_not_end_the_wait() {
    let listener = LoopbackListener::bind("http://localhost/cb", None).expect("bind");
    let code = served_code(&listener, "good", |addr| {
        assert!(get(addr, "/cb?code=evil&state=bad", 400).contains("state mismatch"));
        get(addr, "/cb?code=evil", 400); // missing state
        get(addr, "/cb?code=evil&state=good&state=good", 400); // repeated state
        get(addr, "/favicon.ico", 404);
        get(addr, "/other?code=evil&state=good", 404);
        get(addr, "/cb?code=right&state=good", 200);
    });
    assert_eq!(code, "right");
}

#[test]
fn access_denied_ends_with_typed_error() {
    let listener = LoopbackListener::bind("http://127.0.0.1:0/", None).expect("bind");
    let err = serve(&listener, "st", |addr| {
        let body = get(
            addr,
            "/?error=access_denied&error_description=User+said+%3Cno%3E&state=st",
            400,
        );
        assert!(body.contains("access_denied"));
        assert!(
            body.contains("&lt;no&gt;"),
            "description is HTML-escaped: {body}"
        );
    })
    .expect_err("denied");
    match err {
        LoopbackError::ProviderDenied {
            ref error,
            ref description,
        } => {
            assert_eq!(err.kind(), ErrorKind::ProviderError);
            assert_eq!(error, "access_denied");
            assert_eq!(description.as_deref(), Some("User said <no>"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn state_match_without_code_is_an_error() {
    let listener = LoopbackListener::bind("http://127.0.0.1/", None).expect("bind");
    let err = serve(&listener, "st", |addr| {
        get(addr, "/?state=st", 400);
    })
    .expect_err("no code");
    assert!(matches!(err, LoopbackError::MissingCode), "{err:?}");
}

#[test]
fn timeout_is_typed_and_bounded() {
    let listener = LoopbackListener::bind("http://127.0.0.1/", None).expect("bind");
    // No browser ever comes: returning at all is the bound under test.
    let err = listener
        .wait_for_code("st", Duration::from_millis(150))
        .expect_err("timeout");
    assert!(matches!(err, LoopbackError::Timeout { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Failure);
    assert!(err.to_string().contains("--codeExchange"));
}

#[test]
fn port_in_use_names_port_and_remedy() {
    let blocker = TcpListener::bind("127.0.0.1:0").expect("blocker");
    let port = blocker.local_addr().expect("addr").port();
    let err =
        LoopbackListener::bind(&format!("http://localhost:{port}/"), None).expect_err("port taken");
    assert!(
        matches!(err, LoopbackError::PortInUse { port: p, .. } if p == port),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&port.to_string()) && message.contains("--port"),
        "{message}"
    );
    assert_eq!(err.kind(), ErrorKind::Usage, "exit code 2");
}

#[test]
fn ephemeral_port_keeps_spelling_and_is_released_on_drop() {
    let listener = LoopbackListener::bind("http://localhost:4242", Some(0)).expect("bind");
    let addr = listener.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(
        addr.ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "never all interfaces"
    );
    assert_eq!(
        listener.redirect_uri(),
        format!("http://localhost:{}", addr.port())
    );
    // Dropping the listener joins its accept thread, which closes the
    // socket: the port is free at once.
    drop(listener);
    TcpListener::bind(addr).unwrap_or_else(|e| panic!("port {addr} still bound after drop: {e}"));
}

#[test]
fn explicit_port_from_uri_is_used() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let uri = format!("http://127.0.0.1:{port}/redirect?x=1");
    // The probe is gone; a race with another process is possible but unlikely.
    let listener = LoopbackListener::bind(&uri, None).expect("bind");
    assert_eq!(listener.local_addr().port(), port);
    assert_eq!(listener.redirect_uri(), uri);
}

#[test]
#[ignore = "needs an IPv6 loopback (::1); tests/run-all runs it where ::1 binds"]
fn ipv6_literal_binds_ipv6_loopback() {
    let listener = LoopbackListener::bind("http://[::1]/cb", None).expect("bind ::1");
    let addr = listener.local_addr();
    assert!(addr.is_ipv6() && addr.ip().is_loopback());
    assert_eq!(
        listener.redirect_uri(),
        format!("http://[::1]:{}/cb", addr.port())
    );
    let code = served_code(&listener, "s", |addr| {
        get(addr, "/cb?state=s&code=c6", 200);
    });
    assert_eq!(code, "c6");
}

#[test]
fn non_loopback_uris_are_refused() {
    for uri in [
        "http://example.org:8080/",
        "https://localhost:8080/",
        "http://0.0.0.0:8080/",
        "http://user@localhost:8080/",
        "http://localhost:8080/#frag",
        "edu.kit.data.oidc-agent:/redirect",
    ] {
        let err = LoopbackListener::bind(uri, None).expect_err(uri);
        assert!(
            matches!(err, LoopbackError::NotLoopback { .. }),
            "{uri}: {err:?}"
        );
    }
    assert!(matches!(
        LoopbackListener::bind("not a url", None),
        Err(LoopbackError::InvalidRedirectUri { .. })
    ));
}

#[test]
fn with_port_replaces_only_the_port() {
    assert_eq!(
        with_port("http://localhost:4242", 5).as_deref(),
        Some("http://localhost:5")
    );
    assert_eq!(
        with_port("http://127.0.0.1/cb?a=b", 7).as_deref(),
        Some("http://127.0.0.1:7/cb?a=b")
    );
    assert_eq!(
        with_port("http://[::1]:80/x", 9).as_deref(),
        Some("http://[::1]:9/x")
    );
}

#[test]
fn pasted_url_follows_the_same_rules() {
    let ok = parse_redirect_url(" http://localhost:4242/?state=s&code=c1 \n", "s").expect("ok");
    assert_eq!(ok.code().expose(), "c1");
    let custom = parse_redirect_url("edu.kit.data.oidc-agent:/redirect?code=c2&state=s", "s")
        .expect("custom scheme");
    assert_eq!(custom.into_code().expose(), "c2");
    type Expected = fn(&LoopbackError) -> bool;
    let refused: [(&str, Expected); 4] = [
        ("http://localhost/?state=x&code=c", |e| {
            matches!(e, LoopbackError::StateMismatch)
        }),
        ("http://localhost/?error=access_denied&state=s", |e| {
            matches!(e, LoopbackError::ProviderDenied { .. })
        }),
        ("http://localhost/?state=s&code=", |e| {
            matches!(e, LoopbackError::MissingCode)
        }),
        ("code=c&state=s", |e| {
            matches!(e, LoopbackError::InvalidPastedUrl { .. })
        }),
    ];
    for (url, expected) in refused {
        let err = parse_redirect_url(url, "s").expect_err(url);
        assert!(expected(&err), "{url}: {err:?}");
    }
}

#[test]
fn provider_text_loses_control_characters() {
    let err = parse_redirect_url(
        "http://localhost/?error=x%1B%5B31m&error_description=a%0Ab&state=s",
        "s",
    )
    .expect_err("denied");
    let message = err.to_string();
    assert!(
        !message.contains('\u{1b}') && !message.contains('\n'),
        "{message:?}"
    );
}

/// Where the host has an IPv6 loopback (else the test has nothing to check).
fn have_ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn localhost_listens_on_both_loopback_addresses_with_one_port() {
    let listener = LoopbackListener::bind("http://localhost/cb", None).expect("bind");
    let addrs = listener.local_addrs().to_vec();
    assert_eq!(addrs[0].ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    // Without an IPv6 loopback, 127.0.0.1 alone; with one, both (below).
    let want = if have_ipv6_loopback() { 2 } else { 1 };
    assert_eq!(addrs.len(), want, "{addrs:?}");
}

#[test]
#[ignore = "needs an IPv6 loopback (::1); tests/run-all runs it where ::1 binds"]
fn localhost_listens_on_ipv6_too_with_the_same_port() {
    let listener = LoopbackListener::bind("http://localhost/cb", None).expect("bind");
    let addrs = listener.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2, "{addrs:?}");
    assert_eq!(addrs[1].ip(), IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
    assert_eq!(addrs[0].port(), addrs[1].port());
    // A browser that resolves localhost to ::1 first reaches us there.
    let v6 = addrs[1];
    let code = served_code(&listener, "s6", move |_| {
        get(v6, "/cb?code=c6&state=bad", 400);
        get(v6, "/cb?code=c6&state=s6", 200);
    });
    assert_eq!(code, "c6");
}

#[test]
#[ignore = "needs an IPv6 loopback (::1); tests/run-all runs it where ::1 binds"]
fn localhost_refuses_a_port_someone_else_holds_on_ipv6() {
    // Another program on [::1]:PORT would receive the code from browsers
    // that try ::1 first: refuse the port rather than share it. A port
    // whose IPv4 side is free too, so that [::1] is what is refused.
    let (_squatter, port) = (0..20)
        .find_map(|_| {
            let squatter = TcpListener::bind("[::1]:0").expect("squatter");
            let port = squatter.local_addr().expect("addr").port();
            TcpListener::bind(("127.0.0.1", port))
                .is_ok()
                .then_some((squatter, port))
        })
        .expect("a port free on 127.0.0.1 and taken on [::1]");
    let err = LoopbackListener::bind(&format!("http://localhost:{port}/"), None)
        .expect_err("[::1] port taken");
    assert!(matches!(err, LoopbackError::PortInUse { .. }), "{err:?}");
    assert!(err.to_string().contains("[::1]"), "{err}");
}

#[test]
fn a_visit_after_the_code_arrived_says_the_login_is_complete() {
    let listener = LoopbackListener::bind("http://127.0.0.1/cb", None).expect("bind");
    let addr = listener.local_addr();
    serve(&listener, "st", |addr| {
        get(addr, "/cb?code=c&state=st", 200);
    })
    .expect("code");
    // The listener stays up while oidc-gen exchanges the code: a reload
    // (same URL) or any later visit gets a clear page, not an error.
    let body = get(addr, "/cb?code=c&state=st", 200);
    assert!(
        body.contains("<title>oidc-gen: Login already completed</title>"),
        "{body}"
    );
    get(addr, "/favicon.ico", 404);
}

#[test]
fn pages_load_nothing_and_run_no_scripts() {
    let listener = LoopbackListener::bind("http://127.0.0.1/", None).expect("bind");
    let addr = listener.local_addr();
    let handle = thread::spawn(move || {
        let mut stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let request =
            format!("GET /?state=bad HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        raw
    });
    let _ = listener.wait_for_code("st", Duration::from_millis(500));
    let raw = handle.join().expect("client");
    let csp = raw
        .lines()
        .find_map(|l| l.strip_prefix("Content-Security-Policy: "))
        .expect("a CSP header");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "scripts stay forbidden: {csp}");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    for external in ["src=", "<link", "url(", "<script"] {
        assert!(!body.contains(external), "{external} in {body}");
    }
}

#[test]
fn access_denied_and_provider_errors_get_distinct_titles() {
    let cases: [(&str, Option<&str>, &str, &[&str]); 2] = [
        ("access_denied", None, "Access denied", &[]),
        (
            "server_error",
            Some("db <down>"),
            "Login failed: provider error",
            &["server_error", "db &lt;down&gt;"],
        ),
    ];
    for (error, description, title, shown) in cases {
        let html = pages::Page::refused(error, description).html();
        let title = format!("<title>oidc-gen: {title}</title>");
        assert!(html.contains(&title), "{html}");
        for text in shown {
            assert!(html.contains(text), "{text} in {html}");
        }
    }
}

/// Reads a whole reply and returns its status code (0 if none).
fn status_of(stream: &mut TcpStream) -> u16 {
    stream.set_read_timeout(Some(WAIT * 2)).expect("timeout");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A client that sends one header line at a time, forever, is cut off with
/// 408 once the request deadline passes; meanwhile the real redirect is
/// served. Before the bound it kept its thread for as long as it liked.
#[test]
fn slow_header_client_is_cut_off_and_does_not_hold_the_listener() {
    let listener = LoopbackListener::bind("http://127.0.0.1/cb", None).expect("bind");
    let addr = listener.local_addr();
    let slow = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(b"GET /cb?state=x HTTP/1.1\r\n").expect("line");
        let mut reader = s.try_clone().expect("clone");
        let cut = thread::spawn(move || status_of(&mut reader));
        // Trickle header lines until the server closes the connection; the
        // pauses pace the hostile client, they synchronize nothing.
        let mut sent = 0u32;
        while s.write_all(b"X-Slow: 1\r\n").is_ok() && !cut.is_finished() {
            sent += 1;
            assert!(sent < 150, "the slow client was not cut off in 15 s");
            thread::sleep(Duration::from_millis(100));
        }
        cut.join().expect("reader")
    });
    let code = served_code(&listener, "real", |addr| {
        get(addr, "/cb?code=c&state=real", 200);
    });
    assert_eq!(code, "c");
    assert_eq!(slow.join().expect("slow client"), 408);
}

/// An 80 KB header is refused with 431 after at most `MAX_HEAD` bytes are
/// read, and the listener keeps serving.
#[test]
fn oversized_header_is_refused() {
    let listener = LoopbackListener::bind("http://127.0.0.1/cb", None).expect("bind");
    let code = served_code(&listener, "s", |addr| {
        let mut s = TcpStream::connect(addr).expect("connect");
        let head = format!(
            "GET /cb?code=big&state=s HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(80 * 1024)
        );
        // The server stops reading at the bound, so the write may fail.
        let _ = s.write_all(head.as_bytes());
        assert_eq!(status_of(&mut s), 431);
        get(addr, "/cb?code=small&state=s", 200);
    });
    assert_eq!(code, "small");
}
