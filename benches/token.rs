//! Benchmarks of the hot path, run with `cargo bench` (release build):
//! - `oidc-token` as a process (what rclone and scripts pay per call), against
//!   a cached token, next to spawning `/bin/true` as the floor;
//! - the agent round trip in-process (connect, request, reply), plain JSON;
//! - concurrent clients (8 threads) against one agent;
//! - a 1 MiB request written in 4 KiB pieces (linear, not quadratic);
//! - the agent's resident memory with one account loaded.
//!
//! The provider is the std-only fake from the integration tests. Results are
//! printed, not asserted: speed is measured here, never in tests.

#[path = "../tests/integration/support/fake_op.rs"]
#[allow(dead_code)]
mod fake_op;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oidc_agent::client::AgentClient;
use oidc_agent::protocol::{Request, TokenRequest};

fn target_bin(name: &str) -> PathBuf {
    // `cargo bench` builds the binaries next to the bench executable's dir.
    let exe = std::env::current_exe().expect("bench path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join(name)
}

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / u32::try_from(n).expect("count");
    let p = |q: f64| samples[((n as f64 - 1.0) * q) as usize];
    println!(
        "{name:<44} n={n:<6} mean={:>9.1?} p50={:>9.1?} p99={:>9.1?} min={:>9.1?}",
        mean,
        p(0.5),
        p(0.99),
        samples[0]
    );
}

/// How long each of `n` calls of `f` takes.
fn time_calls(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn time_cmd(mut cmd: Command, n: usize) -> Vec<Duration> {
    time_calls(n, || {
        let st = cmd.stdout(Stdio::null()).status().expect("run");
        assert!(st.success());
    })
}

fn main() {
    let for_bins = ["oidc-agent", "oidc-gen", "oidc-token"].map(target_bin);
    if for_bins.iter().any(|b| !b.exists()) {
        eprintln!("binaries missing next to the bench; run `cargo build --release` first");
        std::process::exit(1);
    }
    let op = fake_op::FakeOp::start();
    let tmp = tempfile::tempdir().expect("tmp");
    let sock = tmp.path().join("agent.sock");
    let envs = [
        ("OIDC_CONFIG_DIR", tmp.path().join("accounts")),
        ("HOME", tmp.path().to_path_buf()),
        ("OIDC_SOCK", sock.clone()),
    ];
    let mut agent = Command::new(target_bin("oidc-agent"))
        .args(["--console", "--socket-path"])
        .arg(&sock)
        .envs(envs.clone())
        .stdout(Stdio::null())
        .spawn()
        .expect("agent");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let gen_ok = Command::new(target_bin("oidc-gen"))
        .args([
            "bench",
            "--issuer",
            &op.issuer,
            "--client-id",
            "cid",
            "--rt",
            "rt-initial",
            "--pw-env",
        ])
        .envs(envs.clone())
        .env("OIDC_ENCRYPTION_PW", "bench")
        .stderr(Stdio::null())
        .status()
        .expect("gen");
    assert!(gen_ok.success(), "oidc-gen failed");

    let n = 300;
    stats(
        "spawn /bin/true (floor)",
        time_cmd(Command::new("/bin/true"), n),
    );
    let mut tok = Command::new(target_bin("oidc-token"));
    tok.arg("bench").envs(envs.clone());
    stats("oidc-token NAME (cached, process)", time_cmd(tok, n));

    let client = AgentClient::new(&sock);
    let req = Request::AccessToken(TokenRequest {
        account: Some("bench".into()),
        ..TokenRequest::default()
    });
    let rt = time_calls(5000, || {
        client.call(&req).expect("call");
    });
    stats("agent round trip (in-process, cached)", rt);

    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let client = AgentClient::new(&sock);
                let req = Request::AccessToken(TokenRequest {
                    account: Some("bench".into()),
                    ..TokenRequest::default()
                });
                for _ in 0..1000 {
                    client.call(&req).expect("call");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    let elapsed = start.elapsed();
    println!(
        "{:<44} {:.0} requests/s (8 threads × 1000)",
        "agent throughput (cached)",
        8000.0 / elapsed.as_secs_f64()
    );

    let forced = Request::AccessToken(TokenRequest {
        account: Some("bench".into()),
        min_valid_period: -1,
        ..TokenRequest::default()
    });
    let fr = time_calls(200, || {
        client.call(&forced).expect("call");
    });
    stats("forced refresh via agent (loopback OP)", fr);

    // A 1 MiB request written in the liboidc-agent libraries' 4096-byte
    // pieces: the agent finds its end as the bytes come, so this stays
    // linear in the size (it parsed all of it after every piece).
    let big = format!(
        r#"{{"request":"access_token","account":"bench","application_hint":"{}"}}"#,
        "a".repeat((1 << 20) - 100)
    );
    let pieces = time_calls(20, || {
        use std::io::{Read as _, Write as _};
        let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
        for piece in big.as_bytes().chunks(4096) {
            s.write_all(piece).expect("write");
        }
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).expect("reply");
        assert!(reply.starts_with(b"{"), "no reply");
    });
    stats("1 MiB request in 4 KiB writes", pieces);

    let status =
        std::fs::read_to_string(format!("/proc/{}/status", agent.id())).unwrap_or_default();
    for line in status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
    {
        println!("agent {line}");
    }
    let _ = agent.kill();
    let _ = agent.wait();
}
