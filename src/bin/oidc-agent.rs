//! `oidc-agent`: see `oidc_agent::cli::agent`. Started without std's
//! runtime start-up: see `oidc_agent::cli::start`.
#![no_main]

use std::ffi::{c_char, c_int};

/// Every block the agent frees is wiped first (README "Security model").
#[global_allocator]
static ALLOC: oidc_agent::secret::WipeOnFree = oidc_agent::secret::WipeOnFree::new();

#[allow(unsafe_code)] // `no_mangle`: this is the C `main`.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    oidc_agent::cli::start::c_main(oidc_agent::cli::agent::main)
}
