//! Field readers that accept what oidc-agent's clients really send: numbers
//! as strings, `""` for "none".

use serde::{Deserialize, Deserializer};

pub(super) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    // Old clients send `"scope":""` for "default" (liboidcagent-go).
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    Num(i64),
    Float(f64),
    Str(String),
}

pub(super) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(opt_i64(d)?.unwrap_or(0))
}

/// `lifetime`: absent, `null`, `""` or negative is `None` (the agent's
/// default); `0` is `Some(0)`, which oidc-agent's agent reads as "never
/// unload" (`oidcd_handleAdd`: a lifetime that is given is used as given).
pub(super) fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(opt_i64(d)?.and_then(|n| u64::try_from(n).ok()))
}

/// A number, or one written as a string (oidc-agent's own tools send
/// both); `None` for `null` or a blank string.
fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<NumOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrString::Num(n)) => Ok(Some(n)),
        #[allow(clippy::cast_possible_truncation)]
        Some(NumOrString::Float(f)) => Ok(Some(f as i64)),
        Some(NumOrString::Str(s)) if s.trim().is_empty() => Ok(None),
        Some(NumOrString::Str(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A flag oidc-agent sends as `0`/`1` (its `confirm`); also `true`/`false`
/// or a number in a string. Anything else is off.
pub(super) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Bool(b)) => b,
        Some(serde_json::Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().is_ok_and(|n| n != 0),
        _ => false,
    })
}
