//! The one integration-test binary: the real binaries, end to end, against
//! the fake provider in `support::fake_op`.

mod accounts_said;
mod agent;
mod autoload;
mod clock;
mod compat;
mod dropin;
mod flags;
mod foreign;
mod format;
mod r#gen;
mod gen_preflight;
mod generated;
mod given_up;
mod interrupt;
mod launcher;
mod lifecycle;
mod limits;
mod loading;
mod pasted;
mod properties;
mod protocol;
mod pubclients;
mod refused;
mod secrets;
mod service;
mod shared;
mod support;
mod token;
mod tokens;
