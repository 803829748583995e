//! The agent's clock (the test clock moves it): lifetimes, the cached
//! token's age and expiry, a clock set back, and what `--status` says of
//! them.

use crate::support::*;

#[test]
fn lifetimes_unload_accounts() {
    let (_op, mut env) = agent_with_account();
    ok(&env.run("oidc-add", &["-f", "-t", "60", "--pw-env", "acct"]));
    ok(&env.run("oidc-token", &["acct"]));
    env.advance_clock(30);
    ok(&env.run("oidc-token", &["acct"]));
    // Past its minute (on the agent's test clock): gone at once.
    env.advance_clock(31);
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "");
    fails(&env.run("oidc-token", &["acct"]), 4);
    // The agent's default lifetime applies to accounts added without one.
    env.stop_agent();
    env.start_agent(&["-t", "60"]);
    ok(&env.run("oidc-add", &["--pw-env", "acct"]));
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "acct\n");
    env.advance_clock(61);
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "");
    // `-t 0` overrides it: never unloaded (oidc-agent's documented
    // `oidc-add --lifetime=0`).
    ok(&env.run("oidc-add", &["--lifetime=0", "--pw-env", "acct"]));
    env.advance_clock(10 * 60);
    assert_eq!(ok(&env.run("oidc-add", &["-a"])), "acct\n");
    ok(&env.run("oidc-token", &["acct"]));
}

/// The cached token ages with the agent's clock: served until it expires
/// (the fake provider's tokens live 300 s), then replaced by a refresh
/// (one: the request's or, should its tick come first, refresh ahead's).

#[test]
fn an_expired_token_is_refreshed() {
    let (op, env) = agent_with_account();
    let base = op.refreshes();
    let a = ok(&env.run("oidc-token", &["acct"]));
    // 150 s left: more than refresh ahead's threshold (100 s).
    env.advance_clock(150);
    assert_eq!(ok(&env.run("oidc-token", &["acct"])), a);
    assert_eq!(op.refreshes(), base);
    env.advance_clock(151);
    assert_ne!(ok(&env.run("oidc-token", &["acct"])), a);
    assert_eq!(op.refreshes(), base + 1);
}

/// A clock set back (NTP stepping a fast clock, a VM snapshot restored)
/// makes no old token new: one obtained later than the clock now says is
/// refreshed, not served for as long again as the step (tester12 F3).

#[test]
fn a_clock_set_back_serves_no_token_obtained_later() {
    let (op, env) = agent_with_account();
    env.advance_clock(100_000);
    let a = ok(&env.run("oidc-token", &["-f", "acct"]));
    let base = op.refreshes();
    env.advance_clock(-100_000);
    assert_ne!(ok(&env.run("oidc-token", &["acct"])), a);
    assert!(op.refreshes() > base);
}

/// `--status` tells the load time and the lifetime's end by one clock, the
/// agent's (the load time was the system's: under a clock set forward the
/// two disagreed by the step).
#[test]
fn the_load_time_is_on_the_agents_clock() {
    let (op, env) = agent_with_account();
    ok(&env.run("oidc-add", &["-r", "acct"]));
    env.advance_clock(100_000);
    // The load's check takes its time (here 1000 s on the agent's clock):
    // the lifetime still starts when the account is said to be loaded.
    let held = op.hold_next_refresh();
    let add = env.spawn("oidc-add", &["-t", "60", "--pw-env", "acct"]);
    held.arrived();
    env.advance_clock(1000);
    held.release();
    ok(&add.finish());
    let a = &env.status()["accounts"][0];
    let (loaded, ends) = (a["loaded_at"].as_i64(), a["lifetime_ends_at"].as_i64());
    assert_eq!(ends.zip(loaded).map(|(e, l)| e - l), Some(60), "{a}");
}

/// `oidc-token -t N` past the provider's tokens' life (a kubectl plugin's
/// `-t 300` against 5-minute tokens) is served the cached token while more
/// than half its life is left, with the warning that it lives less than
/// asked, not a refresh (and a rotation) per call (tester12 F4).

#[test]
fn a_longer_wish_than_tokens_live_costs_no_refresh_per_call() {
    let (op, env) = agent_with_account();
    ok(&env.run("oidc-token", &["-f", "acct"]));
    let base = op.refreshes();
    for _ in 0..3 {
        let out = env.run("oidc-token", &["-t", "600", "acct"]);
        ok(&out);
        assert!(
            stderr(&out).contains("do not live that long"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(op.refreshes(), base);
    // Half of its 300 s gone: a new token.
    env.advance_clock(160);
    ok(&env.run("oidc-token", &["-t", "600", "acct"]));
    assert_eq!(op.refreshes(), base + 1);
}
