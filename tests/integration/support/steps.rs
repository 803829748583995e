//! Steps many tests share: an agent holding an account of the fake
//! provider.

use std::path::PathBuf;

use super::fake_op::{Config, FakeOp};
use super::{Env, ok};

/// A fake provider and an agent holding its account `acct`, imported with
/// `oidc-gen --rt` (which also loads it): where most token tests begin.
pub fn agent_with_account() -> (FakeOp, Env) {
    agent_with_account_where(|_| {})
}

/// [`agent_with_account`] with the provider set up by `config` before the
/// import (e.g. to rotate refresh tokens from the first refresh on).
pub fn agent_with_account_where(config: impl FnOnce(&mut Config)) -> (FakeOp, Env) {
    let op = FakeOp::start();
    op.set(config);
    let mut env = Env::new();
    env.start_agent(&[]);
    ok(&env.gen_rt("acct", &op.issuer, "rt-initial"));
    (op, env)
}

impl Env {
    /// The socket of the agent this environment started.
    pub fn socket(&self) -> PathBuf {
        self.sock.clone().expect("no agent started")
    }
}
