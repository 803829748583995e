//! OpenID Connect and OAuth 2.0: discovery, token requests, HTTP.
//!
//! Request building and response parsing live here, over the HTTP client
//! in [`http`]; the only other I/O is reading files: CA bundles (`roots`)
//! and `file://` discovery documents. [`OidcError`] is in `error`, the
//! proxy variables in `proxy`. Nothing in this module prints or prompts.

pub mod authcode;
pub mod device;
pub mod discovery;
mod error;
pub mod http;
mod proxy;
pub mod registration;
mod roots;
pub mod token;

// The one fake provider, shared with the integration tests and the bench;
// each uses a different part of it.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../tests/integration/support/fake_op.rs"]
pub(crate) mod fake_op;
#[cfg(test)]
mod test_support;

pub use error::{OidcError, error_chain};
pub(crate) use error::{body_excerpt, printable};
