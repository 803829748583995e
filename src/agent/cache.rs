//! The access-token cache: tokens by account and the exact scopes and
//! audiences asked for, kept while they are valid and bounded per account,
//! so a client that asks with ever new audiences does not grow the agent.

use std::collections::HashMap;

use crate::account::config::split_list;
use crate::secret::SecretString;

/// Scope and audience sets an account keeps tokens for besides its
/// default; past it the one obtained longest ago goes.
pub const SETS_PER_ACCOUNT: usize = 32;

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
    /// When the agent got it (Unix seconds): its lifetime, for refresh ahead.
    pub obtained_at: i64,
    /// The granted scope, when the provider said.
    pub scope: Option<String>,
}

impl Token {
    /// True when the token is valid for more than `min_valid` more seconds.
    /// One obtained after `now` is not: the clock was set back (NTP
    /// stepping a fast clock, a restored VM snapshot), so its expiry, an
    /// instant on the old clock, says nothing of how long it has left.
    pub fn valid_for(&self, now: i64, min_valid: i64) -> bool {
        now >= self.obtained_at && self.expires_at.is_some_and(|exp| exp - now > min_valid)
    }

    /// Whether the token answers a request for `min_valid` more seconds:
    /// it is valid that long, or the provider's tokens do not live that
    /// long (its whole life is no more than `min_valid`) and more than half
    /// of its life is left, so a new one would be little better. Otherwise
    /// every such request refreshed: `oidc-token -t 300` against 5-minute
    /// tokens cost the provider a refresh, and the account a rotation, per
    /// call. The client says the token lives less than asked.
    pub fn serves(&self, now: i64, min_valid: i64) -> bool {
        if self.valid_for(now, min_valid) {
            return true;
        }
        let Some(exp) = self.expires_at else {
            return false;
        };
        let life = exp - self.obtained_at;
        life <= min_valid && self.valid_for(now, life / 2)
    }
}

/// Keeps `tok` under `key` in `cache` at `now`: expired tokens go first
/// (they are never served), then, past [`SETS_PER_ACCOUNT`] sets besides
/// the default, the account's token obtained longest ago.
pub fn keep(cache: &mut HashMap<CacheKey, Token>, key: CacheKey, tok: Token, now: i64) {
    cache.retain(|_, t| t.valid_for(now, 0));
    let account = key.account.clone();
    cache.insert(key, tok);
    let mut sets: Vec<(i64, CacheKey)> = cache
        .iter()
        .filter(|(k, _)| k.account == account && !(k.scopes.is_empty() && k.audiences.is_empty()))
        .map(|(k, t)| (t.obtained_at, k.clone()))
        .collect();
    if sets.len() > SETS_PER_ACCOUNT {
        sets.sort_by_key(|(obtained, _)| *obtained);
        for (_, k) in sets.drain(..sets.len() - SETS_PER_ACCOUNT) {
            cache.remove(&k);
        }
    }
}

/// A token expiring at `exp`, for tests.
#[cfg(test)]
pub(super) fn token(exp: Option<i64>) -> Token {
    Token {
        access_token: "at".into(),
        id_token: None,
        issuer: "https://op".into(),
        expires_at: exp,
        obtained_at: 0,
        scope: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let later = Token {
            obtained_at: 60,
            ..token(Some(100))
        };
        assert!(later.valid_for(60, 10));
        assert!(!later.valid_for(50, 10), "the clock was set back");
        // The provider's tokens live 40 s: a request for 100 s more is
        // served while more than half of one's life is left.
        assert!(later.serves(60, 100) && later.serves(79, 100));
        assert!(!later.serves(80, 100), "half its life is gone: a new one");
        assert!(
            !token(Some(200)).serves(150, 100),
            "a new token would live long enough"
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

    /// Ever new audiences: the account keeps its default and the newest
    /// sets, another account's tokens stay, and expired ones go.
    #[test]
    fn the_cache_is_bounded_per_account() {
        let mut cache = HashMap::new();
        keep(
            &mut cache,
            CacheKey::new("a", None, None),
            token(Some(1000)),
            0,
        );
        keep(
            &mut cache,
            CacheKey::new("b", None, Some("x")),
            token(Some(1000)),
            0,
        );
        keep(
            &mut cache,
            CacheKey::new("c", None, None),
            token(Some(5)),
            0,
        );
        for i in 0..100 {
            let tok = Token {
                obtained_at: i,
                ..token(Some(1000))
            };
            keep(
                &mut cache,
                CacheKey::new("a", None, Some(&format!("aud{i}"))),
                tok,
                100,
            );
        }
        let of_a = cache.keys().filter(|k| k.account == "a").count();
        assert_eq!(of_a, SETS_PER_ACCOUNT + 1);
        assert!(cache.contains_key(&CacheKey::new("a", None, None)));
        assert!(cache.contains_key(&CacheKey::new("a", None, Some("aud99"))));
        assert!(!cache.contains_key(&CacheKey::new("a", None, Some("aud0"))));
        assert!(cache.contains_key(&CacheKey::new("b", None, Some("x"))));
        assert!(
            !cache.contains_key(&CacheKey::new("c", None, None)),
            "expired"
        );
    }
}
