//! The agent protocol: the one definition of every request and reply.
//!
//! It is oidc-agent's JSON IPC protocol, field for field (`request`,
//! `account`, `issuer`, `min_valid_period`, `scope`, `audience`,
//! `application_hint`; replies `status`, `access_token`, `issuer`,
//! `expires_at`, `error`, `info`), so oidc-agent's own tools and the C, Python
//! and Go liboidc-agent libraries work against our agent. One connection
//! carries one request and one reply, each in a single write, no framing.
//! Our additions (`kind` in failures, `data_key`/`account_file` in `add`) are
//! extra fields that other clients ignore.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::ErrorKind;
use crate::secret::SecretString;

/// Largest request the agent reads; anything longer is refused.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Bumped by hand whenever a request or reply changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

/// Error strings that the C and Python client libraries match on: keep them
/// byte-identical (oidc-agent `src/defines/ipc_values.h`, `response.c`).
pub mod strings {
    /// Unknown short name (liboidc-agent retries a remote agent on this).
    pub const NO_ACCOUNT: &str = "No account configured with that short name";
    /// Known file but not loaded.
    pub const NOT_LOADED: &str = "account not loaded";
    /// Request while locked.
    pub const LOCKED: &str = "Agent locked";
    /// Unlock while not locked.
    pub const NOT_LOCKED: &str = "Agent not locked";
    /// Lock or unlock with the wrong password.
    pub const WRONG_PASSWORD: &str = "wrong password";
    /// No `request` field.
    pub const NO_REQUEST_TYPE: &str = "Bad Request: No request type.";
    /// Unknown `request` value.
    pub const UNKNOWN_REQUEST: &str = "Bad Request: Unknown request type.";
}

/// A request to the agent (the `request` field selects the variant).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// An access token for an account or issuer.
    AccessToken(TokenRequest),
    /// An ID token (always from a fresh refresh).
    IdToken(TokenRequest),
    /// Load a decrypted account.
    Add(Box<AddRequest>),
    /// Unload one account.
    Remove {
        /// The short name.
        account: String,
    },
    /// Unload every account.
    RemoveAll,
    /// Ours: rename a loaded account and move its file (`oidc-gen --rename`).
    Rename {
        /// The current short name.
        account: String,
        /// The new short name.
        new_name: String,
        /// The new account file, beside the old one.
        account_file: PathBuf,
    },
    /// The short names of loaded accounts.
    LoadedAccounts,
    /// Loaded accounts grouped by issuer.
    AccountInfo,
    /// Lock the agent with a password.
    Lock {
        /// The lock password.
        password: SecretString,
    },
    /// Unlock the agent.
    Unlock {
        /// The lock password.
        password: SecretString,
    },
    /// Is the agent alive? (answers even while locked)
    Check,
    /// Human-readable status.
    Status,
    /// Status as JSON.
    StatusJson,
}

/// The request names, for telling "unknown" from "malformed".
const REQUEST_NAMES: &[&str] = &[
    "access_token",
    "id_token",
    "add",
    "remove",
    "remove_all",
    "rename",
    "loaded_accounts",
    "account_info",
    "lock",
    "unlock",
    "check",
    "status",
    "status_json",
];

/// `access_token` / `id_token` parameters.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    /// Short name; either this or `issuer`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty"
    )]
    pub account: Option<String>,
    /// Issuer URL; either this or `account`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty"
    )]
    pub issuer: Option<String>,
    /// Minimum remaining validity in seconds; `-1` forces a new token.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub min_valid_period: i64,
    /// Space-separated scopes; empty means the account's default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty"
    )]
    pub scope: Option<String>,
    /// Space-separated audiences; empty means none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "non_empty"
    )]
    pub audience: Option<String>,
    /// Who asks (shown in logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_hint: Option<String>,
}

/// `add` parameters.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddRequest {
    /// The decrypted account JSON (an object; oidc-agent 4.x may send it as a
    /// JSON string).
    pub config: Value,
    /// Seconds until the agent unloads the account (0 or absent: the agent's
    /// default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_u64"
    )]
    pub lifetime: Option<u64>,
    /// Ours: the account file's data key (base64), so the agent can persist a
    /// rotated refresh token without the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<SecretString>,
    /// Ours: the account file the data key opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_file: Option<PathBuf>,
    /// Ours: for an account file in oidc-agent's format, the same account
    /// already sealed in our format under `data_key` (base64). Written over the
    /// old file, which is kept as `NAME.bak`, the first time the provider
    /// rotates the refresh token: the old format cannot be re-sealed without
    /// the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert_to: Option<String>,
    /// Ours: skip the test refresh on load.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_check: bool,
    /// Ours: an access token the client just obtained with this refresh
    /// token (`oidc-gen`), cached so that the first `oidc-token` needs no
    /// refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretString>,
    /// Ours: its expiry (Unix seconds); without it the token is not cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
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

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
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

fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = lenient_i64(d)?;
    Ok(u64::try_from(n).ok().filter(|n| *n > 0))
}

/// Why a request could not be parsed; each maps to a `failure` reply.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, or not an object.
    Malformed(String),
    /// No `request` field.
    NoRequestType,
    /// An unknown `request` value.
    UnknownRequest(String),
    /// A known request with bad fields.
    BadFields(String),
}

impl ParseError {
    /// The `error` text of the failure reply.
    pub fn message(&self) -> String {
        match self {
            Self::Malformed(e) => format!("Bad Request: malformed JSON: {e}"),
            Self::NoRequestType => strings::NO_REQUEST_TYPE.to_owned(),
            Self::UnknownRequest(_) => strings::UNKNOWN_REQUEST.to_owned(),
            Self::BadFields(e) => format!("Bad Request: {e}"),
        }
    }
}

impl Request {
    /// Parses one request message.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ParseError::Malformed(e.to_string()))?;
        let Some(obj) = value.as_object() else {
            return Err(ParseError::Malformed("not a JSON object".into()));
        };
        let name = match obj.get("request") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => return Err(ParseError::NoRequestType),
            Some(other) => return Err(ParseError::UnknownRequest(other.to_string())),
        };
        if !REQUEST_NAMES.contains(&name.as_str()) {
            return Err(ParseError::UnknownRequest(name));
        }
        serde_json::from_value(value).map_err(|e| ParseError::BadFields(format!("{name}: {e}")))
    }

    /// The request as one JSON message.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing our own types cannot fail: no maps with non-string keys.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A reply from the agent.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Response {
    /// `success`, `failure` (or `accepted` from oidc-agent's flows).
    pub status: String,
    /// The access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretString>,
    /// The ID token (`id_token` requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<SecretString>,
    /// The issuer of the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Expiry of the access token, Unix seconds (0: unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The failure message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extra information: help text, a list, or an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Value>,
    /// Ours: the failure class, deciding the client's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// Ours: something the user must know although the request succeeded
    /// (a rotated refresh token not yet saved); clients print it on stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Response {
    /// `{"status":"success"}`.
    pub fn success() -> Self {
        Self {
            status: "success".into(),
            ..Self::default()
        }
    }

    /// A success carrying `info`.
    pub fn info(info: impl Into<Value>) -> Self {
        Self {
            info: Some(info.into()),
            ..Self::success()
        }
    }

    /// A failure reply.
    pub fn failure(kind: ErrorKind, error: impl Into<String>) -> Self {
        Self {
            status: "failure".into(),
            error: Some(error.into()),
            kind: Some(kind),
            ..Self::default()
        }
    }

    /// Adds help text to a reply.
    #[must_use]
    pub fn with_info(mut self, info: impl Into<Value>) -> Self {
        self.info = Some(info.into());
        self
    }

    /// True for `status: success`.
    pub fn is_success(&self) -> bool {
        self.status == "success"
    }

    /// The reply as one JSON message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
        // The Python and Go clients read 4096-byte chunks until one is short:
        // a reply of exactly 4096·k bytes would leave them waiting for the
        // close. A trailing space keeps the JSON valid and the length odd.
        if bytes.len().is_multiple_of(4096) {
            bytes.push(b' ');
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_requests() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"request":"access_token","account":"kit","min_valid_period":60,"application_hint":"x"}"#,
                "AccessToken",
            ),
            (
                r#"{"request":"access_token","issuer":"https://op/","min_valid_period":"-1","scope":""}"#,
                "AccessToken",
            ),
            (r#"{"request":"id_token","account":"kit"}"#, "IdToken"),
            (
                r#"{"request":"add","config":{"name":"a"},"lifetime":30}"#,
                "Add",
            ),
            (r#"{"request":"remove","account":"kit"}"#, "Remove"),
            (r#"{"request":"remove_all"}"#, "RemoveAll"),
            (r#"{"request":"loaded_accounts"}"#, "LoadedAccounts"),
            (r#"{"request":"account_info"}"#, "AccountInfo"),
            (r#"{"request":"lock","password":"p"}"#, "Lock"),
            (r#"{"request":"unlock","password":"p"}"#, "Unlock"),
            (r#"{"request":"check"}"#, "Check"),
            (r#"{"request":"status"}"#, "Status"),
            (r#"{"request":"status_json","extra":1}"#, "StatusJson"),
        ];
        for (json, variant) in cases {
            let req = Request::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e:?}"));
            assert!(format!("{req:?}").starts_with(variant), "{json} -> {req:?}");
        }
    }

    #[test]
    fn token_request_fields() {
        let req = Request::parse(br#"{"request":"access_token","issuer":"https://op/","min_valid_period":"-1","scope":"","audience":" "}"#)
            .expect("parse");
        let Request::AccessToken(t) = req else {
            panic!("variant")
        };
        assert_eq!(t.issuer.as_deref(), Some("https://op/"));
        assert_eq!(t.min_valid_period, -1);
        assert_eq!(t.scope, None);
        assert_eq!(t.audience, None);
    }

    #[test]
    fn bad_requests() {
        assert_eq!(Request::parse(b"{}").err(), Some(ParseError::NoRequestType));
        assert!(matches!(
            Request::parse(br#"{"request":"fly"}"#),
            Err(ParseError::UnknownRequest(_))
        ));
        assert!(matches!(
            Request::parse(b"[1,2]"),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            Request::parse(b"{\"request\":"),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            Request::parse(br#"{"request":"remove"}"#),
            Err(ParseError::BadFields(_))
        ));
        assert_eq!(
            ParseError::NoRequestType.message(),
            "Bad Request: No request type."
        );
    }

    #[test]
    fn golden_replies() {
        let r = Response {
            access_token: Some("AT".into()),
            issuer: Some("https://op/".into()),
            expires_at: Some(42),
            ..Response::success()
        };
        assert_eq!(
            String::from_utf8(r.to_bytes()).expect("utf8"),
            r#"{"status":"success","access_token":"AT","issuer":"https://op/","expires_at":42}"#
        );
        let f = Response::failure(ErrorKind::NotLoaded, strings::NOT_LOADED);
        assert_eq!(
            String::from_utf8(f.to_bytes()).expect("utf8"),
            r#"{"status":"failure","error":"account not loaded","kind":"not_loaded"}"#
        );
    }

    #[test]
    fn reply_never_a_multiple_of_4096() {
        for n in 4000..4200 {
            let r = Response::info("x".repeat(n));
            assert_ne!(r.to_bytes().len() % 4096, 0);
        }
    }

    #[test]
    fn request_round_trip() {
        let req = Request::AccessToken(TokenRequest {
            account: Some("kit".into()),
            min_valid_period: 10,
            ..TokenRequest::default()
        });
        let text = String::from_utf8(req.to_bytes()).expect("utf8");
        assert_eq!(
            text,
            r#"{"request":"access_token","account":"kit","min_valid_period":10}"#
        );
        assert!(Request::parse(text.as_bytes()).is_ok());
    }
}
