//! The fake provider's own behaviour: holding, waiting, scripting, stopping.
//! Compiled into both the library's unit tests and the integration tests.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

use super::FakeOp;

/// A raw HTTP/1.1 request with `Connection: close`; the whole answer.
fn fetch(op: &FakeOp, method: &str, path: &str, body: &str) -> String {
    let url = op.url(path);
    let host = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().expect("port")
    );
    let mut stream = TcpStream::connect(&host).expect("connect to the fake provider");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn a_held_request_is_answered_only_after_its_release() {
    let op = std::sync::Arc::new(FakeOp::start());
    let held = op.hold_next_refresh();
    let client = {
        let op = std::sync::Arc::clone(&op);
        std::thread::spawn(move || {
            fetch(
                &op,
                "POST",
                "/token",
                "grant_type=refresh_token&refresh_token=rt-initial&client_id=cid",
            )
        })
    };
    let arrived = held.arrived();
    assert_eq!(arrived.form("refresh_token").as_deref(), Some("rt-initial"));
    // Not answered while held: the provider still accepts the token, which
    // the (rotating) grant would have replaced.
    op.set(|c| c.rotate = true);
    assert!(op.valid_rts().contains("rt-initial"));
    held.release();
    let answer = client.join().expect("client");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        !op.valid_rts().contains("rt-initial"),
        "rotated after release"
    );
}

#[test]
fn scripted_replies_come_first_then_the_simulation() {
    let op = FakeOp::start();
    op.push("/token", super::Reply::oauth_error("slow_down"));
    op.push("/token", super::Reply::broken());
    let form = "grant_type=refresh_token&refresh_token=rt-initial&client_id=cid";
    assert!(fetch(&op, "POST", "/token", form).contains("slow_down"));
    assert!(fetch(&op, "POST", "/token", form).starts_with("not HTTP"));
    assert!(fetch(&op, "POST", "/token", form).contains("\"access_token\""));
    assert_eq!(op.refreshes(), 3);
}

/// Linux: a listener shut down for reading stops listening at once.
#[cfg(target_os = "linux")]
#[test]
fn a_stopped_provider_refuses_connections() {
    let op = FakeOp::start();
    let url = op.url("/");
    op.stop();
    let addr = (url.host_str().expect("host"), url.port().expect("port"));
    assert!(TcpStream::connect(addr).is_err());
}
