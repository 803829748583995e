//! oidc-agent-rs: an OpenID Connect token agent, a drop-in replacement for
//! indigo-dc/oidc-agent.
//!
//! Architecture, outside in:
//! - `cli` holds the four command lines (`oidc-agent`, `oidc-gen`,
//!   `oidc-add`, `oidc-token`); only it prints, prompts or exits. The
//!   binaries in `src/bin/` are one-line shims over it.
//! - `agent` is the daemon: a Unix socket served by a current-thread tokio
//!   runtime, the loaded accounts, the access-token cache, single-flight
//!   refreshes, lifetimes and the lock.
//! - `client` is the synchronous client every command uses; `protocol` is the
//!   one definition of the wire format both sides share (oidc-agent's JSON
//!   IPC), and `compat` adds oidc-agent's encrypted IPC mode and file formats.
//! - `oidc` builds requests and parses responses (discovery, token endpoint,
//!   code and device flows) over the single HTTP client in `oidc::http`;
//!   `loopback` is oidc-gen's RFC 8252 redirect listener.
//! - `account`, `crypt`, `store`, `issuers` and `paths` are the account files:
//!   oidc-agent's account JSON, our encrypted format, atomic 0600 writes.
//! - `secret` holds every secret in a zeroizing, redacted type; `error` the
//!   typed errors and the exit-code table.

pub mod account;
pub mod account_file;
pub mod agent;
pub mod cli;
pub mod client;
pub mod compat;
pub mod crypt;
pub mod error;
pub mod issuers;
pub mod keyring;
pub mod loopback;
pub mod oidc;
pub mod paths;
pub mod protocol;
pub mod secret;
pub mod store;

pub use error::{Error, ErrorKind, Result};
