//! The floor of `benches/compare`: the least a client can do to print a cached
//! token. Connect to $OIDC_SOCK, send one plain-JSON request, read the reply
//! until the agent closes, print the token. Built by the script with rustc.
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

fn main() {
    let account = std::env::args().nth(1).expect("usage: floor ACCOUNT");
    let sock = std::env::var_os("OIDC_SOCK").expect("OIDC_SOCK is not set");
    let mut s = UnixStream::connect(sock).expect("connect");
    let req = format!(r#"{{"request":"access_token","account":"{account}","min_valid_period":0}}"#);
    s.write_all(req.as_bytes()).expect("write");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read");
    let key = r#""access_token":""#;
    let start = reply.find(key).expect("no access_token in the reply") + key.len();
    let end = start + reply[start..].find('"').expect("unterminated token");
    println!("{}", &reply[start..end]);
}
