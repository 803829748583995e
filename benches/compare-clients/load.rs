//! The load generator of `benches/compare`: THREADS clients, each in a loop of
//! connect, one plain-JSON `access_token` request, read until the agent
//! closes, for SECONDS. Prints requests per second and the failures.
//! Usage: load SOCKET ACCOUNT THREADS SECONDS
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    assert!(a.len() == 5, "usage: load SOCKET ACCOUNT THREADS SECONDS");
    let (sock, account) = (a[1].clone(), a[2].clone());
    let threads: usize = a[3].parse().expect("THREADS");
    let secs: f64 = a[4].parse().expect("SECONDS");
    let req = format!(r#"{{"request":"access_token","account":"{account}","min_valid_period":0}}"#);
    let (ok, failed, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (sock, req, ok, failed, stop, barrier) =
                (sock.clone(), req.clone(), ok.clone(), failed.clone(), stop.clone(), barrier.clone());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    barrier.wait();
                    let mut buf = Vec::with_capacity(4096);
                    while !stop.load(Ordering::Relaxed) {
                        buf.clear();
                        let good = UnixStream::connect(&sock)
                            .and_then(|mut s| {
                                s.write_all(req.as_bytes())?;
                                s.read_to_end(&mut buf)
                            })
                            .is_ok_and(|_| buf.windows(9).any(|w| w == b"\"success\""));
                        if good { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .expect("spawn")
        })
        .collect();
    barrier.wait();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("join");
    }
    let el = t.elapsed().as_secs_f64();
    let n = ok.load(Ordering::Relaxed);
    println!("{:.0} {} {}", n as f64 / el, n, failed.load(Ordering::Relaxed));
}
