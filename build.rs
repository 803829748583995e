//! Link flags that make the binaries cheaper to start and to keep resident
//! (issue 15; README "Performance"). Nothing here changes what the code does.
//!
//! Packed relative relocations (DT_RELR, `-z pack-relative-relocs`): a
//! position-independent Rust binary carries tens of thousands of relative
//! relocations (every vtable and every pointer in a static), 24 bytes each in
//! the classic format, which the dynamic loader reads at every start and
//! which then stay resident; RELR encodes the same in a few kilobytes. The
//! binary stays position-independent (ASLR is kept). glibc applies RELR from
//! 2.36 on, and the linker marks such a binary as needing
//! `GLIBC_ABI_DT_RELR`, so an older glibc would refuse to start it: the flag
//! is only given when building for the glibc this build runs on (not cross
//! compiling) and that glibc is 2.36 or newer. Elsewhere nothing changes.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let native = env("HOST") == env("TARGET");
    if native
        && env("CARGO_CFG_TARGET_OS") == "linux"
        && env("CARGO_CFG_TARGET_ENV") == "gnu"
        && glibc_at_least(2, 36)
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// The running glibc's version, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text
        .trim()
        .strip_prefix("glibc ")
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}
