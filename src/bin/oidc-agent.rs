//! `oidc-agent`: see `oidc_agent::cli::agent`. Started without std's
//! runtime start-up: see `oidc_agent::cli::start`.
#![no_main]

use std::ffi::{c_char, c_int};

/// Every block the agent frees is zeroed first (README "Security model"):
/// also the buffers of the HTTP client and of serde_json that held a token
/// for a moment, which no zeroizing type of ours reaches.
#[global_allocator]
static ALLOC: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

#[allow(unsafe_code)] // `no_mangle`: this is the C `main`.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    oidc_agent::cli::start::c_main(oidc_agent::cli::agent::main)
}
