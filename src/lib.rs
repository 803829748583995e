//! oidc-agent-rs: an OpenID Connect token agent, a drop-in replacement for
//! indigo-dc/oidc-agent.
//!
//! Architecture, outside in:
//! - `cli` holds the command lines (`oidc-agent`, `oidc-gen`, `oidc-add`,
//!   `oidc-token`, `oidc-agent-service`, `git-credential-oidc`); only it
//!   prints, prompts or exits. The binaries in `src/bin/` are one-line
//!   shims over it.
//! - `agent` is the daemon: a Unix socket served by a current-thread tokio
//!   runtime, the loaded accounts, the access-token cache, single-flight
//!   refreshes, lifetimes and the lock.
//! - `client` is the synchronous client every command uses; `protocol` is the
//!   one definition of the wire format both sides share (oidc-agent's JSON
//!   IPC), and `compat` adds oidc-agent's encrypted IPC mode.
//! - `oidc` builds requests and parses responses (discovery, token endpoint,
//!   code and device flows) over the one provider client in `oidc::http`;
//!   `loopback` is oidc-gen's RFC 8252 redirect listener.
//! - `account` owns the account files end to end: oidc-agent's account JSON,
//!   our encrypted format, oidc-agent's formats, the directory with its lock
//!   and atomic 0600 writes, and `issuer.config`; `paths` names the
//!   directories; `process` waits for a process to exit (by its pidfd).
//! - `secret` holds every secret in a zeroizing, redacted type; `error` the
//!   typed errors and the exit-code table; `files` reads the files a person
//!   names and takes lock files; `keyring` keeps account passwords in the
//!   OS keyring (optional feature).

pub mod account;
pub mod agent;
pub mod cli;
pub mod client;
pub mod compat;
pub mod error;
pub mod files;
pub mod keyring;
pub mod loopback;
pub mod oidc;
pub mod paths;
pub mod process;
pub mod protocol;
pub mod secret;

pub use error::{Error, ErrorKind, Result};
