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
//!
//! oidc-agent's and oidc-token's code layout (`build/<binary>.order`, made
//! from profiles by `benches/agent-layout`): the kernel maps code 64 kB
//! around each page a process first runs, and the agent's code, spread over
//! the whole binary by default, was all resident. Ordered, the functions an
//! agent runs sit together at the start of the text and the rest is never
//! read; an `oidc-token` run faults in fewer pages. The list is
//! handed to lld (`--symbol-ordering-file`), the linker rustc uses by default
//! on x86_64 Linux since 1.90; with another linker configured it is left out.
//! Names the list has and the binary does not are skipped, so a stale list
//! only costs memory.
//!
//! The exception tables after the read-only data (`build/sections.ld`, an
//! `INSERT` script: the default layout stays, one section is placed).
//! lld lays out output sections of the same kind in the order it first meets
//! them, which depends on the function LLVM emits first; since the C `main`
//! of these two binaries (`src/cli/start.rs`) has an exception table, that
//! was `.gcc_except_table`, tables that only an unwinding panic reads, then
//! between the ELF headers and `.rodata`, where the fault-around windows of
//! both made most of them resident (README "Performance").
//!
//! The unwinder linked in (GCC's `libgcc_eh.a`, the static twin of
//! `libgcc_s.so.1`, found through `cc` as the link itself finds it): std
//! unwinds panics with it (a panicking connection task must not take the
//! agent down), and from the shared library every process mapped, relocated
//! and kept ~100 kB of `libgcc_s` resident for code that runs only on a
//! panic. Listed ahead of std's `-lgcc_s`, the archive provides the
//! `_Unwind_*` functions and the linker (`--as-needed`, rustc's default)
//! leaves the shared library out. Without the archive nothing changes.

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
    if native
        && env("CARGO_CFG_TARGET_OS") == "linux"
        && env("CARGO_CFG_TARGET_ENV") == "gnu"
        && let Some(dir) = static_unwinder_dir()
    {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    }
    let lld = env("PROFILE") == "release" && links_with_rust_lld(&env);
    let root = std::path::PathBuf::from(env("CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=build/sections.ld");
    for bin in ["oidc-agent", "oidc-token"] {
        if lld {
            let script = root.join("build/sections.ld");
            println!("cargo:rustc-link-arg-bin={bin}=-Wl,-T,{}", script.display());
        }
        let order = format!("build/{bin}.order");
        println!("cargo:rerun-if-changed={order}");
        if lld && std::path::Path::new(&order).exists() {
            let path = root.join(&order);
            println!(
                "cargo:rustc-link-arg-bin={bin}=-Wl,--symbol-ordering-file={}",
                path.display()
            );
            println!("cargo:rustc-link-arg-bin={bin}=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// Whether rustc links this build with its bundled lld: its default for
/// x86_64-unknown-linux-gnu from 1.90 on, unless a linker is configured
/// (`linker` in Cargo's configuration, or linker flags in RUSTFLAGS).
fn links_with_rust_lld(env: &dyn Fn(&str) -> String) -> bool {
    let flags = env("CARGO_ENCODED_RUSTFLAGS");
    if env("TARGET") != "x86_64-unknown-linux-gnu"
        || !env("RUSTC_LINKER").is_empty()
        || flags.contains("linker")
        || flags.contains("link-self-contained")
        || flags.contains("fuse-ld")
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text.split_whitespace().nth(1).unwrap_or("").split('.');
    let major = version.next().and_then(|v| v.parse::<u32>().ok());
    let minor = version.next().and_then(|v| v.parse::<u32>().ok());
    matches!((major, minor), (Some(1), Some(m)) if m >= 90)
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

/// The directory of GCC's static unwinder (`libgcc_eh.a`), as the C
/// compiler rustc links with finds it; `None` when it has none.
fn static_unwinder_dir() -> Option<String> {
    let out = Command::new("cc")
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    // Without the file, cc prints the bare name back.
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !path.is_absolute() || !path.is_file() {
        return None;
    }
    Some(path.parent()?.display().to_string())
}
