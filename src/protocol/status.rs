//! The `status_json` reply's `info`: one definition, written by the agent
//! and read by our clients (`oidc-add -a --json`, `oidc-agent -k`'s check
//! for unsaved tokens, `oidc-agent-service`'s restart, autoload, rename).
//!
//! oidc-agent's fields (`version`, `command_line_options` as one string,
//! `loaded_accounts` as a list of names) come first; the rest are ours.
//! Every field has a default when read, so a status from oidc-agent 5.x
//! (which sends only its own fields) parses too. Times are Unix seconds.

use serde::{Deserialize, Serialize};

/// What the agent says about itself.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentStatus {
    /// The agent's version.
    pub version: String,
    /// `oidc-agent-rs`; absent from oidc-agent's.
    pub implementation: Option<String>,
    /// [`super::PROTOCOL_VERSION`] of the agent.
    pub protocol_version: Option<u32>,
    /// The agent's process id.
    pub pid: Option<u32>,
    /// The agent's options as one string (oidc-agent's
    /// `oidc-agent-service restart` splits it on white space).
    pub command_line_options: Option<String>,
    /// The same options, each kept whole.
    pub restart_options: Option<Vec<String>>,
    /// Whether the agent is locked.
    pub locked: Option<bool>,
    /// False when started with `--no-autoload`.
    pub autoload: Option<bool>,
    /// The loaded accounts' names.
    pub loaded_accounts: Vec<String>,
    /// One entry per loaded account.
    pub accounts: Vec<AccountStatus>,
    /// The last lines of the agent's log.
    pub log: Vec<String>,
}

/// What the agent holds of one loaded account.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountStatus {
    /// Short name.
    pub name: String,
    /// Issuer URL.
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Where rotated refresh tokens are saved; `None`: nowhere.
    pub account_file: Option<String>,
    /// When it was loaded.
    pub loaded_at: i64,
    /// When it is unloaded; `None`: never.
    pub lifetime_ends_at: Option<i64>,
    /// Expiry of the cached access token, when one is cached.
    pub access_token_expires_at: Option<i64>,
    /// The last successful refresh.
    pub last_refresh_at: Option<i64>,
    /// Whether a refresh is under way.
    pub refreshing: bool,
    /// How many requests wait on that refresh.
    pub refresh_waiters: usize,
    /// The provider refused the refresh token.
    pub needs_reauthentication: bool,
    /// The provider's words when it refused.
    pub refusal: Option<String>,
    /// A rotated refresh token is only in memory.
    pub unsaved: bool,
    /// Since when.
    pub unsaved_since: Option<i64>,
    /// Why it could not be written.
    pub unsaved_error: Option<String>,
    /// The note outside the account directory that holds it too (sealed),
    /// from which the next `oidc-add` takes it should the agent stop.
    pub unsaved_kept_in: Option<String>,
    /// The WLCG token file kept for the account.
    pub token_file: Option<String>,
    /// The last time a token was served.
    pub last_served_at: Option<i64>,
    /// Whether tokens are refreshed ahead of use.
    pub refresh_ahead: bool,
}

impl AgentStatus {
    /// The status in `reply`'s `info`; `None` when it is not one.
    pub fn from_info(info: Option<serde_json::Value>) -> Option<Self> {
        serde_json::from_value(info?).ok()
    }

    /// The loaded account `name`.
    pub fn account(&self, name: &str) -> Option<&AccountStatus> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oidc_agents_status_parses() {
        // oidc-agent 5.x `oidcd_handleAgentStatusJSON`: three fields only.
        let info = serde_json::json!({
            "version": "5.2.3",
            "command_line_options": "--lifetime=3600 --no-autoload",
            "loaded_accounts": ["a", "b"],
        });
        let s = AgentStatus::from_info(Some(info)).expect("a status");
        assert_eq!(s.version, "5.2.3");
        assert_eq!(
            s.command_line_options.as_deref(),
            Some("--lifetime=3600 --no-autoload")
        );
        assert_eq!(s.loaded_accounts, ["a", "b"]);
        assert_eq!((s.restart_options, s.autoload, s.pid), (None, None, None));
        assert!(s.accounts.is_empty());
    }

    #[test]
    fn ours_round_trips_in_order() {
        let s = AgentStatus {
            version: "1".into(),
            pid: Some(7),
            autoload: Some(false),
            loaded_accounts: vec!["kit".into()],
            accounts: vec![AccountStatus {
                name: "kit".into(),
                unsaved: true,
                unsaved_error: Some("disk full".into()),
                ..AccountStatus::default()
            }],
            ..AgentStatus::default()
        };
        let v = serde_json::to_value(&s).expect("serializes");
        // `version` leads, as in oidc-agent's; the fields keep their order.
        let keys: Vec<&String> = v.as_object().expect("an object").keys().take(2).collect();
        assert_eq!(keys, ["version", "implementation"]);
        assert_eq!(v["accounts"][0]["unsaved_error"], "disk full");
        assert_eq!(AgentStatus::from_info(Some(v)), Some(s.clone()));
        assert_eq!(s.account("kit").map(|a| a.unsaved), Some(true));
        assert!(s.account("other").is_none());
    }

    #[test]
    fn not_a_status_is_none() {
        assert_eq!(AgentStatus::from_info(None), None);
        assert_eq!(
            AgentStatus::from_info(Some(serde_json::json!("text status"))),
            None
        );
    }
}
