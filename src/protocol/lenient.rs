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
    // Numbers sometimes travel as strings in oidc-agent's own tools.
    match Option::<NumOrString>::deserialize(d)? {
        None => Ok(0),
        Some(NumOrString::Num(n)) => Ok(n),
        #[allow(clippy::cast_possible_truncation)]
        Some(NumOrString::Float(f)) => Ok(f as i64),
        Some(NumOrString::Str(s)) if s.trim().is_empty() => Ok(0),
        Some(NumOrString::Str(s)) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

pub(super) fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = lenient_i64(d)?;
    Ok(u64::try_from(n).ok().filter(|n| *n > 0))
}
