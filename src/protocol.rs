//! The agent protocol: the one definition of every request and reply.
//!
//! It is oidc-agent's JSON IPC protocol, field for field (`request`,
//! `account`, `issuer`, `min_valid_period`, `scope`, `audience`,
//! `application_hint`; replies `status`, `access_token`, `issuer`,
//! `expires_at`, `error`, `info`), so oidc-agent's own tools and the C, Python
//! and Go liboidc-agent libraries work against our agent. One connection
//! carries one request and one reply, each in a single write, no framing.
//! Our additions (`kind` in failures, `data_key`/`account_file` in `add`,
//! `scope`/`account` in token replies) are extra fields that other clients
//! ignore; our own requests (`rename`, `drop_token`, `token_file`) are never
//! sent by them.
//!
//! Requests are read strictly (a repeated key anywhere is a usage error, see
//! [`strict`]) and straight into typed structs: every secret a request
//! carries (the `add` config's refresh token and client secret, the `lock`
//! password) lands in a zeroizing [`SecretString`], and replies are
//! serialized into zeroizing buffers of their exact size.

use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::ErrorKind;
use crate::secret::{SecretString, json_zeroizing};

mod add;
mod lenient;
pub mod status;
mod strict;

pub use add::{AddRequest, PasswordEntry};
pub use status::{AccountStatus, AgentStatus};

/// Largest request the agent reads; anything longer is refused.
pub const MAX_MESSAGE: usize = 1 << 20;
/// Bumped by hand whenever a request or reply changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;
/// Our agent's `implementation` in its status (oidc-agent's has none).
pub const IMPLEMENTATION: &str = "oidc-agent-rs";

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

/// A request to the agent (the `request` field selects the variant). Read
/// it with [`Request::parse`] only: that is where the strict checks are.
#[derive(Debug, Serialize)]
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
    /// Ours: the server refused the account's access token; drop the cached
    /// tokens of the account so the next request refreshes
    /// (`oidc-token --rejected`, `git-credential-oidc erase`).
    DropToken(TokenRequest),
    /// Ours: keep (`path`) or stop keeping (`null`) a WLCG bearer-token
    /// file with a fresh access token of the account (`oidc-add --token-file`).
    TokenFile {
        /// The short name.
        account: String,
        /// An absolute path; absent: stop keeping the file and remove it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
    },
}

/// `access_token` / `id_token` parameters.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    /// Short name; either this or `issuer`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::non_empty"
    )]
    pub account: Option<String>,
    /// Issuer URL; either this or `account`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::non_empty"
    )]
    pub issuer: Option<String>,
    /// Minimum remaining validity in seconds; `-1` forces a new token.
    #[serde(default, deserialize_with = "lenient::lenient_i64")]
    pub min_valid_period: i64,
    /// Space-separated scopes; empty means the account's default.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::non_empty"
    )]
    pub scope: Option<String>,
    /// Space-separated audiences; empty means none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::non_empty"
    )]
    pub audience: Option<String>,
    /// Who asks (shown in logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_hint: Option<String>,
    /// Ours: do not autoload an unloaded account for this request
    /// (`oidc-token --no-autoload`, or a client that loads it itself).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_autoload: bool,
}

impl TokenRequest {
    /// A request for `target` as the command line names it: an issuer URL
    /// when it contains "://", else an account's short name.
    pub fn for_target(target: &str) -> Self {
        let (account, issuer) = if target.contains("://") {
            (None, Some(target.to_owned()))
        } else {
            (Some(target.to_owned()), None)
        };
        Self {
            account,
            issuer,
            ..Self::default()
        }
    }
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
    /// An object in the request repeats this key.
    DuplicateKey(String),
    /// The `add` request's account config is unusable.
    BadConfig(String),
}

/// oidc-agent's request types (ipc_values.h) that this agent does not serve.
const OIDC_AGENT_ONLY: &[&str] = &[
    "gen",
    "register",
    "delete",
    "code_exchange",
    "state_lookup",
    "device",
    "mytoken",
    "term_http_server",
    "scopes",
    "mytoken_supported_providers",
    "file_write",
    "file_read",
    "file_remove",
    "delete_client",
    "reauthenticate",
];

impl ParseError {
    /// The `error` text of the failure reply.
    pub fn message(&self) -> String {
        match self {
            Self::Malformed(e) => format!("Bad Request: malformed JSON: {e}"),
            Self::NoRequestType => strings::NO_REQUEST_TYPE.to_owned(),
            // oidc-agent's own requests that we do not serve: said so, with
            // where to look (oidc-gen's flows run in our oidc-gen).
            Self::UnknownRequest(name) if OIDC_AGENT_ONLY.contains(&name.as_str()) => format!(
                "Bad Request: oidc-agent's '{name}' request is not supported by oidc-agent-rs \
                 (README, Differences); create accounts with oidc-agent-rs's oidc-gen"
            ),
            Self::UnknownRequest(_) => strings::UNKNOWN_REQUEST.to_owned(),
            Self::BadFields(e) => format!("Bad Request: {e}"),
            Self::DuplicateKey(k) => {
                format!("Bad Request: the key {k:?} appears twice in one JSON object")
            }
            Self::BadConfig(e) => format!("Bad Request: invalid account config: {e}"),
        }
    }

    /// The failure class of the reply.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadConfig(_) => ErrorKind::BadFile,
            _ => ErrorKind::Usage,
        }
    }
}

/// The `request` field alone (other fields are skipped unread).
#[derive(Deserialize)]
struct Head {
    request: Option<Value>,
}

#[derive(Deserialize)]
struct AccountField {
    account: String,
}

#[derive(Deserialize)]
struct PasswordField {
    password: SecretString,
}

#[derive(Deserialize)]
struct TokenFileFields {
    account: String,
    path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RenameFields {
    account: String,
    new_name: String,
    account_file: PathBuf,
}

/// Drops serde_json's trailing " at line L column C" (repeated when an
/// error is re-raised from a nested deserializer).
fn without_position(msg: &str) -> &str {
    msg.find(" at line ").map_or(msg, |i| &msg[..i])
}

impl Request {
    /// Parses one request message.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        match strict::check(bytes) {
            Ok(true) => {}
            Ok(false) => return Err(ParseError::Malformed("not a JSON object".into())),
            Err(strict::StrictError::Duplicate(k)) => return Err(ParseError::DuplicateKey(k)),
            Err(strict::StrictError::Malformed(e)) => return Err(ParseError::Malformed(e)),
        }
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| ParseError::Malformed(e.to_string()))?;
        let name = match head.request {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => return Err(ParseError::NoRequestType),
            Some(other) => return Err(ParseError::UnknownRequest(other.to_string())),
        };
        // Each request's fields are read from the message itself, not from an
        // intermediate tree: the secrets go straight into zeroizing types.
        fn fields<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, ParseError> {
            serde_json::from_slice(bytes).map_err(|e| {
                let msg = e.to_string();
                match msg.find(strict::CONFIG_ERROR) {
                    Some(i) => ParseError::BadConfig(
                        without_position(&msg[i + strict::CONFIG_ERROR.len()..]).to_owned(),
                    ),
                    None => ParseError::BadFields(format!("{name}: {msg}")),
                }
            })
        }
        Ok(match name.as_str() {
            "access_token" => Self::AccessToken(fields(&name, bytes)?),
            "id_token" => Self::IdToken(fields(&name, bytes)?),
            "add" => Self::Add(Box::new(fields(&name, bytes)?)),
            "remove" => Self::Remove {
                account: fields::<AccountField>(&name, bytes)?.account,
            },
            "remove_all" => Self::RemoveAll,
            "rename" => {
                let f: RenameFields = fields(&name, bytes)?;
                Self::Rename {
                    account: f.account,
                    new_name: f.new_name,
                    account_file: f.account_file,
                }
            }
            "loaded_accounts" => Self::LoadedAccounts,
            "account_info" => Self::AccountInfo,
            "lock" => Self::Lock {
                password: fields::<PasswordField>(&name, bytes)?.password,
            },
            "unlock" => Self::Unlock {
                password: fields::<PasswordField>(&name, bytes)?.password,
            },
            "check" => Self::Check,
            "status" => Self::Status,
            "status_json" => Self::StatusJson,
            "drop_token" => Self::DropToken(fields(&name, bytes)?),
            "token_file" => {
                let f: TokenFileFields = fields(&name, bytes)?;
                Self::TokenFile {
                    account: f.account,
                    path: f.path,
                }
            }
            _ => return Err(ParseError::UnknownRequest(name)),
        })
    }

    /// The request as one JSON message, in a zeroizing buffer (an `add`
    /// carries the refresh token).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        json_zeroizing(self, 0)
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
    /// Ours: the access token's scope, when the provider said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Ours: the account that answered (a request by issuer picks one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
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

    /// A failure reply. Its `info` is a blank until [`Self::with_info`] says
    /// more: liboidc-agent 4.x (Debian 12's) copies `info` after it set the
    /// error, and without one (an empty string counts as none) reports
    /// "Argument is NULL in function oidc_strcopy" instead of the agent's
    /// error. Clients trim it away (ours, oidc-agent's print it as is).
    pub fn failure(kind: ErrorKind, error: impl Into<String>) -> Self {
        Self {
            status: "failure".into(),
            error: Some(error.into()),
            kind: Some(kind),
            info: Some(Value::String(" ".to_owned())),
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

    /// The reply as one JSON message, in a zeroizing buffer (it may carry a
    /// token).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut bytes = json_zeroizing(self, 1);
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
mod tests;
