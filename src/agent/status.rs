//! `status` and `status_json`: what the agent holds, per account, and the
//! last lines of its log.
//!
//! `status_json`'s fields are defined once, in [`crate::protocol::status`].

use super::ctx::Ctx;
use super::log;
use super::state::{CacheKey, State};
use crate::protocol::{AccountStatus, AgentStatus, Response};

/// How many log lines the text status shows.
const TEXT_LOG_LINES: usize = 20;

/// `None` when no refresh of `name` is under way, else how many requests
/// (and refresh-ahead ticks) wait on it: each holds the flight's cell, and
/// the map holds one more.
fn refresh_waiters(st: &State, name: &str) -> Option<usize> {
    st.flights
        .iter()
        .filter(|(fk, _)| fk.key.account == name)
        .map(|(_, cell)| std::sync::Arc::strong_count(cell).saturating_sub(1))
        .reduce(|a, b| a + b)
}

fn account_status(st: &State, name: &str, now: i64) -> Option<AccountStatus> {
    let a = st.accounts.get(name)?;
    let waiters = refresh_waiters(st, name);
    let token_expires = st
        .cache
        .get(&CacheKey::new(name, None, None))
        .and_then(|t| t.expires_at);
    Some(AccountStatus {
        name: name.to_owned(),
        issuer: a.config.issuer_url.clone(),
        client_id: a.config.client_id.clone(),
        account_file: a.persist.as_ref().map(|p| p.path.display().to_string()),
        loaded_at: a.loaded_at,
        lifetime_ends_at: a.expires_at,
        access_token_expires_at: token_expires,
        last_refresh_at: a.last_refresh,
        refreshing: waiters.is_some(),
        refresh_waiters: waiters.unwrap_or(0),
        needs_reauthentication: a.refused.is_some(),
        refusal: a.refused.clone(),
        unsaved: a.unsaved.is_some(),
        unsaved_since: a.unsaved.as_ref().map(|u| u.since),
        unsaved_error: a.unsaved.as_ref().map(|u| u.error.clone()),
        unsaved_kept_in: a
            .unsaved
            .as_ref()
            .and_then(|u| u.noted.as_ref()?.keeps_token.as_ref())
            .map(|p| p.display().to_string()),
        token_file: a.ahead.token_file.as_ref().map(|p| p.display().to_string()),
        last_served_at: a.ahead.last_served,
        refresh_ahead: a.ahead.active(now),
    })
}

/// The status of each account holding a rotation not saved yet.
pub(super) fn unsaved(st: &State, now: i64) -> Vec<AccountStatus> {
    st.loaded_names()
        .iter()
        .filter_map(|n| account_status(st, n, now))
        .filter(|a| a.unsaved)
        .collect()
}

/// The `status_json` reply. While locked, the accounts sealed with an
/// unsaved rotation are listed as they were at the lock.
pub fn json(ctx: &Ctx) -> Response {
    let st = ctx.state();
    let loaded_accounts = st.loaded_names();
    let mut accounts: Vec<AccountStatus> = loaded_accounts
        .iter()
        .filter_map(|n| account_status(&st, n, ctx.clock.now()))
        .collect();
    accounts.extend(st.sealed_unsaved.iter().cloned());
    let status = AgentStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        implementation: Some(crate::protocol::IMPLEMENTATION.to_owned()),
        protocol_version: Some(crate::protocol::PROTOCOL_VERSION),
        pid: Some(std::process::id()),
        // oidc-agent's is one string, which its oidc-agent-service splits
        // on white space; ours keeps each option whole as well.
        command_line_options: Some(ctx.command_line.join(" ")),
        restart_options: Some(ctx.command_line.clone()),
        locked: Some(st.is_locked()),
        autoload: Some(ctx.autoload),
        loaded_accounts,
        accounts,
        log: log::recent(),
    };
    Response::info(serde_json::to_value(status).unwrap_or_default())
}

fn ago(now: i64, t: i64) -> String {
    let d = now - t;
    if d < 0 {
        format!("in {}s", -d)
    } else {
        format!("{d}s ago")
    }
}

/// The `status` reply: human-readable text.
pub fn text(ctx: &Ctx) -> Response {
    let st = ctx.state();
    let now = ctx.clock.now();
    // The options as oidc-agent's status shows them ("started with the
    // following options"), so that a restart can repeat them.
    let options = ctx.command_line.join(" ");
    let names = st.loaded_names();
    // oidc-agent's own status text first (oidcd_handler.c), which its
    // `oidc-agent --status` prints too and a script may read; ours after.
    let mut out = format!(
        "####################################\n\
         ##       oidc-agent status        ##\n\
         ####################################\n\n\
         This agent is running version {} (oidc-agent-rs).\n\n\
         This agent was started with the following options:\n{options}\n\
         Currently there are {} accounts loaded: {}\n\n\
         Locked: {}\n",
        env!("CARGO_PKG_VERSION"),
        names.len(),
        names.join(", "),
        if st.is_locked() { "yes" } else { "no" }
    );
    for name in &names {
        let Some(a) = st.accounts.get(name) else {
            continue;
        };
        out.push_str(&format!("  {name}: {}", a.config.issuer_url));
        if let Some(t) = a.last_refresh {
            out.push_str(&format!(", last refresh {}", ago(now, t)));
        }
        if let Some(n) = refresh_waiters(&st, name) {
            out.push_str(&format!(", refreshing ({n} waiting)"));
        }
        if let Some(t) = a.expires_at {
            out.push_str(&format!(", unloaded {}", ago(now, t)));
        }
        if let Some(p) = &a.ahead.token_file {
            out.push_str(&format!(", token file {}", p.display()));
        }
        if a.refused.is_some() {
            out.push_str(&format!(
                ", REFRESH TOKEN REFUSED (run `oidc-gen --reauthenticate {name}`)"
            ));
        }
        if let Some(u) = &a.unsaved {
            out.push_str(&format!(
                ", UNSAVED since {}: {}",
                ago(now, u.since),
                u.error
            ));
        }
        out.push('\n');
    }
    for a in &st.sealed_unsaved {
        out.push_str(&format!(
            "  {} (sealed by the lock): UNSAVED: {}\n",
            a.name,
            a.unsaved_error.as_deref().unwrap_or_default()
        ));
    }
    let lines = log::recent();
    if !lines.is_empty() {
        out.push_str("Recent log:\n");
        for l in &lines[lines.len().saturating_sub(TEXT_LOG_LINES)..] {
            out.push_str("  ");
            out.push_str(l);
            out.push('\n');
        }
    }
    Response::info(out)
}
