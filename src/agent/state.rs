//! The agent's memory: loaded accounts, the access-token cache, in-flight
//! refreshes, lifetimes and the lock.
//!
//! Everything here sits behind one `std::sync::Mutex` that is never held
//! across an `.await`: handlers copy what they need, drop the lock, then talk
//! to the provider. Secrets are zeroizing types, dropped (and so wiped) when
//! an account is removed, expires, or the agent is locked.
//!
//! The methods here are the synchronous half of each change; the transitions
//! themselves (add, remove, lock, unlock, rotation, rename, expiry) live in
//! `accounts`, `refresh` and `lock`, and each runs holding the account's
//! [`Loaded::lane`]: whoever holds a lane may assume the account neither
//! appears nor disappears under it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use super::cache::{CacheKey, Token};
use crate::account::config::{AccountConfig, same_issuer};
use crate::account::format;
use crate::error::ErrorKind;
use crate::oidc::discovery::Metadata;
use crate::secret::{SecretKey, SecretString};

/// Where and with which data key a loaded account is persisted.
#[derive(Debug, Clone)]
pub struct Persist {
    /// The account file.
    pub path: PathBuf,
    /// Its data key (see `account::format`): enough to re-seal, not to
    /// change the password.
    pub key: SecretKey,
    /// A file of ours sealed under `key` (the account file as last read or
    /// written, or the conversion of an oidc-agent file): written from when
    /// the file is not ours (converted, the old one kept as `.bak`) or gone.
    pub convert_to: Option<Vec<u8>>,
}

impl Persist {
    /// From the text forms used on the wire (`add`) and in the lock vault
    /// ([`format::decode_key`]); `None` when the key is not 32 bytes of
    /// base64.
    pub fn from_base64(
        path: PathBuf,
        key: &SecretString,
        convert_to: Option<&str>,
    ) -> Option<Self> {
        Some(Self {
            path,
            key: format::decode_key(key)?,
            convert_to: convert_to.and_then(format::decode_file),
        })
    }

    /// The key and the conversion template in their text forms
    /// ([`format::encode_key`]), for the lock vault.
    pub fn to_base64(&self) -> (SecretString, Option<String>) {
        (
            format::encode_key(&self.key),
            self.convert_to.as_deref().map(format::encode_file),
        )
    }
}

/// A per-account mutex that serializes every change to the account.
pub type Lane = Arc<tokio::sync::Mutex<()>>;

/// A rotated refresh token the agent holds but could not write to the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unsaved {
    /// Since when (Unix seconds).
    pub since: i64,
    /// Why the last write failed.
    pub error: String,
    /// What this agent's note (`account::held`) says.
    #[serde(default, skip)]
    pub noted: Option<Noted>,
}

/// This agent's note of an unsaved rotation.
#[derive(Debug, Clone)]
pub struct Noted {
    /// The refresh token noted (its fingerprint), so that a retry that
    /// fails again does not rewrite the note.
    pub fingerprint: String,
    /// The note, when it holds the token sealed: the next `oidc-add` takes
    /// the token from there should this agent stop first.
    pub keeps_token: Option<std::path::PathBuf>,
}

/// A loaded account.
#[derive(Debug)]
pub struct Loaded {
    /// The decrypted configuration, refresh token included.
    pub config: AccountConfig,
    /// How to save a rotated refresh token, when known.
    pub persist: Option<Persist>,
    /// The refresh token the account file holds, as far as the agent knows:
    /// a save only overwrites a file that still holds it (a compare and
    /// swap), so a file another program rewrote meanwhile is never clobbered.
    pub file_rt: Option<SecretString>,
    /// Set while the newest refresh token is only in memory.
    pub unsaved: Option<Unsaved>,
    /// The refresh tokens it has rotated away from (an older copy of the file).
    pub rotated: super::rotated::Rotated,
    /// When the account is unloaded (Unix seconds); `None`: never.
    pub expires_at: Option<i64>,
    /// Load order, for picking the most recent account of an issuer.
    pub seq: u64,
    /// When it was loaded (Unix seconds).
    pub loaded_at: i64,
    /// When the refresh token last worked (Unix seconds).
    pub last_refresh: Option<i64>,
    /// The provider's last refusal of the refresh token (needs
    /// `oidc-gen --reauthenticate`), cleared by the next success.
    pub refused: Option<String>,
    /// Serializes refreshes and every other change of this account: a
    /// provider that rotates refresh tokens treats a second use of the old
    /// one as replay and may revoke the whole grant (RFC 6819 §5.2.2.3), so
    /// two refreshes must never race, and an unload or lock must wait for a
    /// refresh under way to land its rotated token.
    pub lane: Lane,
    /// Refresh ahead and the token file (see `ahead`).
    pub ahead: Ahead,
}

/// Who uses an account, for refresh ahead (see `ahead`).
#[derive(Debug, Default)]
pub struct Ahead {
    /// When a token of the account was last served (Unix seconds).
    pub last_served: Option<i64>,
    /// The WLCG bearer-token file kept for the account.
    pub token_file: Option<PathBuf>,
    /// The expiry of the token last written to it.
    pub written_exp: Option<i64>,
    /// Background refreshes failed in a row, and when to try again.
    pub failures: u32,
    /// No background refresh before this (Unix seconds).
    pub next_try: i64,
}

impl Loaded {
    /// A freshly loaded account, loaded at `now` (the agent's clock).
    pub fn new(config: AccountConfig, persist: Option<Persist>, lane: Lane, now: i64) -> Self {
        let file_rt = persist.as_ref().map(|_| config.refresh_token.clone());
        Self {
            config,
            persist,
            file_rt,
            unsaved: None,
            rotated: super::rotated::Rotated::default(),
            expires_at: None,
            seq: 0,
            loaded_at: now,
            last_refresh: None,
            refused: None,
            lane,
            ahead: Ahead::default(),
        }
    }
}

/// One in-flight refresh is shared by all requests for the same key and kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct FlightKey {
    /// Which token.
    pub key: CacheKey,
    /// An ID-token request (never served from cache).
    pub id_token: bool,
}

/// A failed refresh, shared by every waiter.
pub type FlightResult = Result<Token, (ErrorKind, String)>;
/// What all waiters of one refresh await: its result, once there
/// (`refresh::join`). Each waiter holds a clone of the `Arc`.
pub type Flight = Arc<tokio::sync::watch::Receiver<Option<FlightResult>>>;

/// The lock state.
#[derive(Debug, Default)]
pub enum LockState {
    /// Serving requests.
    #[default]
    Unlocked,
    /// Locking: the accounts are being sealed.
    Sealing,
    /// Locked: only the sealed vault (our `account::format`) is held.
    Locked(Vec<u8>),
}

/// Everything the agent holds.
#[derive(Debug, Default)]
pub struct State {
    /// Loaded accounts by short name.
    pub accounts: HashMap<String, Loaded>,
    /// Cached access tokens.
    pub cache: HashMap<CacheKey, Token>,
    /// Refreshes in flight.
    pub flights: HashMap<FlightKey, Flight>,
    /// Provider metadata by issuer (and configuration endpoint).
    pub metadata: HashMap<(String, String), Arc<Metadata>>,
    /// HTTP clients by CA bundle path ("" = system roots only).
    pub http: HashMap<String, reqwest::Client>,
    /// Lock state.
    pub lock: LockState,
    /// While locked: the status (nothing secret) of each account sealed
    /// with an unsaved rotation, so that `--status` shows it and
    /// `oidc-agent -k` still refuses to stop the agent.
    pub sealed_unsaved: Vec<crate::protocol::status::AccountStatus>,
    /// Next load sequence number.
    pub next_seq: u64,
    /// Lanes by account name, also for accounts being loaded (an `add`
    /// holds the lane of the name it loads, so `lock` waits for it too).
    pub lanes: HashMap<String, Lane>,
}

impl State {
    /// True unless fully unlocked.
    pub fn is_locked(&self) -> bool {
        !matches!(self.lock, LockState::Unlocked)
    }

    /// The lane of account `name`, made on first use.
    pub fn lane(&mut self, name: &str) -> Lane {
        self.lanes.entry(name.to_owned()).or_default().clone()
    }

    /// Drops the lane of `name` when nothing holds or awaits it any more.
    pub fn prune_lane(&mut self, name: &str) {
        if !self.accounts.contains_key(name)
            && self
                .lanes
                .get(name)
                .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            self.lanes.remove(name);
        }
    }

    /// Loads (or replaces, keeping its token file) an account; drops the old
    /// one's cached tokens. Call only holding the account's lane.
    pub fn insert(&mut self, mut loaded: Loaded) -> u64 {
        let name = loaded.config.name.clone();
        self.forget_tokens(&name);
        if let Some(old) = self.accounts.get_mut(&name) {
            loaded.ahead.token_file = old.ahead.token_file.take();
        }
        self.next_seq += 1;
        loaded.seq = self.next_seq;
        self.accounts.insert(name, loaded);
        self.next_seq
    }

    /// Unloads an account; its secrets are wiped as they drop. Call only
    /// holding the account's lane.
    pub fn remove(&mut self, name: &str) -> Option<Loaded> {
        self.forget_tokens(name);
        let gone = self.accounts.remove(name);
        if let Some(path) = gone.as_ref().and_then(|a| a.ahead.token_file.as_ref()) {
            // Under the lane, so no write of the file can come after this.
            super::token_file::remove(name, path);
        }
        gone
    }

    /// Drops cached tokens of one account.
    pub fn forget_tokens(&mut self, name: &str) {
        self.cache.retain(|k, _| k.account != name);
    }

    /// Takes the cached tokens of account `name` out (a rename moves them).
    pub fn take_tokens(&mut self, name: &str) -> Vec<(CacheKey, Token)> {
        let keys: Vec<CacheKey> = self
            .cache
            .keys()
            .filter(|k| k.account == name)
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|k| self.cache.remove_entry(&k))
            .collect()
    }

    /// Caches `tokens` (taken with [`Self::take_tokens`]) for account `name`.
    pub fn give_tokens(&mut self, name: &str, tokens: Vec<(CacheKey, Token)>) {
        for (mut key, token) in tokens {
            key.account = name.to_owned();
            self.cache.insert(key, token);
        }
    }

    /// Accounts whose lifetime is over (strictly past `expires_at`, so
    /// whole-second clocks never cut a lifetime short).
    pub fn due(&self, now: i64) -> Vec<String> {
        self.accounts
            .iter()
            .filter(|(_, a)| a.expires_at.is_some_and(|t| t < now))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// True when the account is loaded and its lifetime is not over; an
    /// account past its lifetime is not served even before the sweeper
    /// unloads it.
    pub fn is_live(&self, name: &str, now: i64) -> bool {
        self.accounts
            .get(name)
            .is_some_and(|a| a.expires_at.is_none_or(|t| t >= now))
    }

    /// Loaded short names, in load order.
    pub fn loaded_names(&self) -> Vec<String> {
        let mut v: Vec<(&u64, &String)> = self
            .accounts
            .values()
            .map(|a| (&a.seq, &a.config.name))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n.clone()).collect()
    }

    /// The loaded account for an issuer: the only one, else `default` when it
    /// is loaded, else the one loaded last (oidc-agent's rule).
    pub fn account_for_issuer(
        &self,
        issuer: &str,
        default: Option<&str>,
        now: i64,
    ) -> Option<String> {
        let matching: Vec<&Loaded> = self
            .accounts
            .values()
            .filter(|a| same_issuer(&a.config.issuer_url, issuer))
            .filter(|a| self.is_live(&a.config.name, now))
            .collect();
        if let Some(d) = default
            && matching.len() > 1
            && matching.iter().any(|a| a.config.name == d)
        {
            return Some(d.to_owned());
        }
        matching
            .iter()
            .max_by_key(|a| a.seq)
            .map(|a| a.config.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::cache::token;

    fn acct(name: &str, iss: &str) -> AccountConfig {
        let mut c = AccountConfig::new(name, iss, "cid");
        c.refresh_token = "rt".into();
        c
    }

    fn load(st: &mut State, config: AccountConfig, expires_at: Option<i64>) {
        let lane = st.lane(&config.name);
        let mut l = Loaded::new(config, None, lane, 0);
        l.expires_at = expires_at;
        st.insert(l);
    }

    #[test]
    fn issuer_choice() {
        let mut st = State::default();
        load(&mut st, acct("one", "https://op/"), None);
        assert_eq!(
            st.account_for_issuer("https://op", None, 0).as_deref(),
            Some("one")
        );
        load(&mut st, acct("two", "https://op"), Some(50));
        assert_eq!(
            st.account_for_issuer("https://op/", None, 0).as_deref(),
            Some("two")
        );
        assert_eq!(
            st.account_for_issuer("https://op/", Some("one"), 0)
                .as_deref(),
            Some("one")
        );
        assert_eq!(st.account_for_issuer("https://other", None, 0), None);
        // Past its lifetime, "two" is no longer chosen.
        assert_eq!(
            st.account_for_issuer("https://op/", None, 51).as_deref(),
            Some("one")
        );
    }

    #[test]
    fn lifetimes_fall_due_and_removal_forgets_tokens() {
        let mut st = State::default();
        load(&mut st, acct("a", "https://op"), Some(100));
        load(&mut st, acct("b", "https://op"), None);
        st.cache
            .insert(CacheKey::new("a", None, None), token(Some(1000)));
        // Whole seconds: an account added at 99.9 with lifetime 1 has
        // expires_at 100 and must live through second 100.
        assert!(st.due(100).is_empty());
        assert!(st.is_live("a", 100));
        assert_eq!(st.due(101), vec!["a".to_owned()]);
        assert!(!st.is_live("a", 101));
        assert!(st.remove("a").is_some());
        assert!(st.cache.is_empty());
        assert_eq!(st.loaded_names(), vec!["b".to_owned()]);
        // The lane of an unloaded account goes once nobody holds it.
        let held = st.lane("a");
        st.prune_lane("a");
        assert!(st.lanes.contains_key("a"));
        drop(held);
        st.prune_lane("a");
        assert!(!st.lanes.contains_key("a"));
        st.prune_lane("b");
        assert!(
            st.lanes.contains_key("b"),
            "a loaded account keeps its lane"
        );
    }
}
