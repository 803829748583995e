//! The agent's memory: loaded accounts, the access-token cache, in-flight
//! refreshes, lifetimes and the lock.
//!
//! Everything here sits behind one `std::sync::Mutex` that is never held
//! across an `.await`: handlers copy what they need, drop the lock, then talk
//! to the provider. Secrets are zeroizing types, dropped (and so wiped) when
//! an account is removed, expires, or the agent is locked.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::account::{AccountConfig, same_issuer, split_list};
use crate::error::ErrorKind;
use crate::oidc::discovery::Metadata;
use crate::secret::{SecretKey, SecretString};

/// Where and with which data key a loaded account is persisted.
#[derive(Debug, Clone)]
pub struct Persist {
    /// The account file.
    pub path: PathBuf,
    /// Its data key (see `crypt`): enough to re-seal, not to change the password.
    pub key: SecretKey,
    /// For a file in oidc-agent's format: the account already sealed in our
    /// format under `key`, to convert to on the first rotation.
    pub convert_to: Option<Vec<u8>>,
}

impl Persist {
    /// From the base64 forms used on the wire (`add`) and in the lock vault;
    /// `None` when the key is not 32 bytes of base64.
    pub fn from_base64(
        path: PathBuf,
        key: &SecretString,
        convert_to: Option<&str>,
    ) -> Option<Self> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let bytes = zeroize::Zeroizing::new(b64.decode(key.expose()).ok()?);
        Some(Self {
            path,
            key: SecretKey::from_slice(&bytes)?,
            convert_to: convert_to.and_then(|t| b64.decode(t).ok()),
        })
    }

    /// The key and the conversion template in base64, for the lock vault.
    pub fn to_base64(&self) -> (SecretString, Option<String>) {
        let b64 = base64::engine::general_purpose::STANDARD;
        (
            SecretString::new(b64.encode(self.key.expose())),
            self.convert_to.as_ref().map(|t| b64.encode(t)),
        )
    }
}

/// A loaded account.
#[derive(Debug)]
pub struct Loaded {
    /// The decrypted configuration, refresh token included.
    pub config: AccountConfig,
    /// How to save a rotated refresh token, when known.
    pub persist: Option<Persist>,
    /// When the account is unloaded (Unix seconds); `None`: never.
    pub expires_at: Option<i64>,
    /// Load order, for picking the most recent account of an issuer.
    pub seq: u64,
    /// Serializes refreshes of this account: a provider that rotates refresh
    /// tokens treats a second use of the old one as replay and may revoke the
    /// whole grant (RFC 6819 §5.2.2.3), so two refreshes must never race.
    pub lane: Arc<tokio::sync::Mutex<()>>,
}

/// What a token is cached under: account plus the exact scope and audience
/// sets (sorted, so `-s "a b"` and `-s "b a"` share an entry).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct CacheKey {
    /// The account's short name.
    pub account: String,
    /// Requested scopes; empty: the account's default.
    pub scopes: Vec<String>,
    /// Requested audiences.
    pub audiences: Vec<String>,
}

impl CacheKey {
    /// Builds a key from the request's space-separated lists.
    pub fn new(account: &str, scope: Option<&str>, audience: Option<&str>) -> Self {
        let norm = |s: Option<&str>| {
            let mut v = split_list(s.unwrap_or(""));
            v.sort();
            v.dedup();
            v
        };
        Self {
            account: account.to_owned(),
            scopes: norm(scope),
            audiences: norm(audience),
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

/// A token as handed to clients.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access_token: SecretString,
    /// The ID token, when the provider sent one.
    pub id_token: Option<SecretString>,
    /// The account's issuer.
    pub issuer: String,
    /// Expiry (Unix seconds); `None`: unknown, not cached.
    pub expires_at: Option<i64>,
}

impl Token {
    /// True when the token is valid for more than `min_valid` more seconds.
    pub fn valid_for(&self, now: i64, min_valid: i64) -> bool {
        self.expires_at.is_some_and(|exp| exp - now > min_valid)
    }
}

/// A failed refresh, shared by every waiter.
pub type FlightResult = Result<Token, (ErrorKind, String)>;
/// The cell all waiters of one refresh await.
pub type Flight = Arc<OnceCell<FlightResult>>;

/// An account as sealed into the lock vault.
#[derive(Serialize, Deserialize)]
pub struct SealedAccount {
    /// The configuration.
    pub config: AccountConfig,
    /// The account file, if persisted.
    pub path: Option<PathBuf>,
    /// The data key, base64.
    pub key: Option<SecretString>,
    /// The conversion template, base64 (see [`Persist::convert_to`]).
    #[serde(default)]
    pub convert_to: Option<String>,
    /// Unload time.
    pub expires_at: Option<i64>,
    /// Load order.
    pub seq: u64,
}

/// The lock state.
#[derive(Debug, Default)]
pub enum LockState {
    /// Serving requests.
    #[default]
    Unlocked,
    /// Locking: the accounts are being sealed.
    Sealing,
    /// Locked: only the sealed vault (our `crypt` format) is held.
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
    /// Next load sequence number.
    pub next_seq: u64,
}

impl State {
    /// True unless fully unlocked.
    pub fn is_locked(&self) -> bool {
        !matches!(self.lock, LockState::Unlocked)
    }

    /// Loads (or replaces) an account; drops the old one's cached tokens.
    pub fn insert(
        &mut self,
        config: AccountConfig,
        persist: Option<Persist>,
        expires_at: Option<i64>,
    ) -> u64 {
        let name = config.name.clone();
        self.forget_tokens(&name);
        self.next_seq += 1;
        let seq = self.next_seq;
        let lane = self
            .accounts
            .get(&name)
            .map_or_else(|| Arc::new(tokio::sync::Mutex::new(())), |a| a.lane.clone());
        self.accounts.insert(
            name,
            Loaded {
                config,
                persist,
                expires_at,
                seq,
                lane,
            },
        );
        seq
    }

    /// Unloads an account; its secrets are wiped as they drop.
    pub fn remove(&mut self, name: &str) -> bool {
        self.forget_tokens(name);
        self.accounts.remove(name).is_some()
    }

    /// Drops cached tokens of one account.
    pub fn forget_tokens(&mut self, name: &str) {
        self.cache.retain(|k, _| k.account != name);
    }

    /// Unloads accounts whose lifetime is over (strictly past `expires_at`, so
    /// whole-second clocks never cut a lifetime short). Returns their names.
    pub fn expire(&mut self, now: i64) -> Vec<String> {
        let gone: Vec<String> = self
            .accounts
            .iter()
            .filter(|(_, a)| a.expires_at.is_some_and(|t| t < now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in &gone {
            self.remove(name);
        }
        gone
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
    pub fn account_for_issuer(&self, issuer: &str, default: Option<&str>) -> Option<String> {
        let matching: Vec<&Loaded> = self
            .accounts
            .values()
            .filter(|a| same_issuer(&a.config.issuer_url, issuer))
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

    fn acct(name: &str, iss: &str) -> AccountConfig {
        let mut c = AccountConfig::new(name, iss, "cid");
        c.refresh_token = "rt".into();
        c
    }

    fn token(exp: Option<i64>) -> Token {
        Token {
            access_token: "at".into(),
            id_token: None,
            issuer: "https://op".into(),
            expires_at: exp,
        }
    }

    #[test]
    fn cache_validity_rules() {
        assert!(token(Some(100)).valid_for(50, 10));
        assert!(!token(Some(100)).valid_for(95, 10));
        assert!(
            !token(Some(100)).valid_for(90, 10),
            "exactly min_valid left is not enough"
        );
        assert!(
            !token(None).valid_for(0, 0),
            "unknown expiry is never served from cache"
        );
    }

    #[test]
    fn cache_keys_normalize_lists() {
        assert_eq!(
            CacheKey::new("a", Some("b a a"), None),
            CacheKey::new("a", Some("a b"), Some(""))
        );
        assert_ne!(
            CacheKey::new("a", Some("x"), None),
            CacheKey::new("a", None, None)
        );
        assert_ne!(
            CacheKey::new("a", None, Some("x")),
            CacheKey::new("a", None, None)
        );
    }

    #[test]
    fn issuer_choice() {
        let mut st = State::default();
        st.insert(acct("one", "https://op/"), None, None);
        assert_eq!(
            st.account_for_issuer("https://op", None).as_deref(),
            Some("one")
        );
        st.insert(acct("two", "https://op"), None, None);
        assert_eq!(
            st.account_for_issuer("https://op/", None).as_deref(),
            Some("two")
        );
        assert_eq!(
            st.account_for_issuer("https://op/", Some("one")).as_deref(),
            Some("one")
        );
        assert_eq!(st.account_for_issuer("https://other", None), None);
    }

    #[test]
    fn lifetimes_expire_and_forget_tokens() {
        let mut st = State::default();
        st.insert(acct("a", "https://op"), None, Some(100));
        st.insert(acct("b", "https://op"), None, None);
        st.cache
            .insert(CacheKey::new("a", None, None), token(Some(1000)));
        // Whole seconds: an account added at 99.9 with lifetime 1 has
        // expires_at 100 and must live through second 100.
        assert!(st.expire(100).is_empty());
        assert_eq!(st.expire(101), vec!["a".to_owned()]);
        assert!(st.cache.is_empty());
        assert_eq!(st.loaded_names(), vec!["b".to_owned()]);
    }
}
