//! Strict reading of request JSON: a repeated object key anywhere is refused,
//! and the `add` request's account config is read straight into
//! [`AccountConfig`] (its secrets into zeroizing types, never a `Value`).
//!
//! RFC 8259 §4 leaves repeated names to the implementation ("the names
//! within an object SHOULD be unique"); serde_json keeps the last one, so
//! `{"request":"status","request":"remove_all"}` would unload every account.
//! A request whose meaning depends on which duplicate wins is refused as a
//! usage error instead, at every nesting level, including the account JSON
//! that oidc-agent 4.x sends inside a string.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

use crate::account::config::AccountConfig;

/// Prefix of the error that a bad account config raises inside the `add`
/// request, so [`super::Request::parse`] can tell it from other bad fields.
pub(super) const CONFIG_ERROR: &str = "invalid account config: ";

/// Why a message failed the strict check.
#[derive(Debug)]
pub(super) enum StrictError {
    /// Not JSON.
    Malformed(String),
    /// An object repeats this key.
    Duplicate(String),
}

/// Checks that `text` is one JSON value without a repeated key in any
/// object; returns whether the top level is an object.
pub(super) fn check(text: &[u8]) -> Result<bool, StrictError> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(text);
    let walked = Walk { dup: &dup }
        .deserialize(&mut de)
        .and_then(|is_object| de.end().map(|()| is_object));
    match (walked, dup.into_inner()) {
        (_, Some(key)) => Err(StrictError::Duplicate(key)),
        (Ok(is_object), None) => Ok(is_object),
        (Err(e), None) => Err(StrictError::Malformed(e.to_string())),
    }
}

/// Walks one value, recording the first repeated key; yields "is an object".
/// Strings are seen but never copied, so no secret is duplicated here.
#[derive(Clone, Copy)]
struct Walk<'a> {
    dup: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_string<E>(self, s: String) -> Result<bool, E> {
        drop(Zeroizing::new(s));
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        // A set, not a list: an object with 100,000 keys must not cost n².
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                let msg = format!("duplicate key {key:?}");
                *self.dup.borrow_mut() = Some(key);
                return Err(de::Error::custom(msg));
            }
            map.next_value_seed(self)?;
            seen.insert(key);
        }
        Ok(true)
    }
}

/// `deserialize_with` for the `add` request's `config`: an object (oidc-agent
/// 5.x, us) or the same JSON inside a string (oidc-agent 4.x).
pub(super) fn account_config<'de, D: Deserializer<'de>>(d: D) -> Result<AccountConfig, D::Error> {
    d.deserialize_any(ConfigVisitor)
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = AccountConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the account as a JSON object or a JSON string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<AccountConfig, E> {
        let bad = |e: &dyn fmt::Display| E::custom(format!("{CONFIG_ERROR}{e}"));
        match check(text.as_bytes()) {
            Ok(true) => {}
            Ok(false) => return Err(bad(&"not a JSON object")),
            Err(StrictError::Duplicate(k)) => return Err(bad(&format!("duplicate key {k:?}"))),
            Err(StrictError::Malformed(e)) => return Err(bad(&e)),
        }
        serde_json::from_str(text).map_err(|e| bad(&e))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<AccountConfig, E> {
        // The string holds the refresh token: zeroize it once parsed.
        let text = Zeroizing::new(text);
        self.visit_str(&text)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AccountConfig, A::Error> {
        AccountConfig::deserialize(de::value::MapAccessDeserializer::new(map))
            .map_err(|e| de::Error::custom(format!("{CONFIG_ERROR}{e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_found_at_every_depth() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"b":[{"c":1,"c":1}]}}"#,
            r#"[{"k":1},{"k":2,"k":3}]"#,
            r#"{"request":"x","req\u0075est":"y"}"#,
        ] {
            assert!(
                matches!(check(text.as_bytes()), Err(StrictError::Duplicate(_))),
                "{text}"
            );
        }
        assert!(check(br#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":1}]}"#).expect("ok"));
        assert!(!check(b"[1]").expect("ok"));
        assert!(matches!(check(b"{} {}"), Err(StrictError::Malformed(_))));
    }
}
