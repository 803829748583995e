//! The synchronous agent client used by `oidc-token`, `oidc-add` and `oidc-gen`.
//!
//! One connect, one write, read until the agent closes: no async runtime and
//! no HTTP client, because `oidc-token` is on every script's hot path. The
//! connection is in `conn`; loading an account (the `add` request) in `load`.

mod conn;
mod load;

pub use conn::{AgentClient, MAX_REQUEST_TIMEOUT, connect, failure_to_error};
pub use load::{Load, Loaded};
