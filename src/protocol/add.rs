//! The `add` request: the account a client loads, and how the agent may
//! write it back (our data key, or the password oidc-agent's `oidc-add`
//! sends).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{lenient, strict};
use crate::account::config::AccountConfig;
use crate::secret::SecretString;

/// `add` parameters.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddRequest {
    /// The decrypted account (sent as an object; oidc-agent 4.x sends the
    /// JSON inside a string, which is read too).
    #[serde(deserialize_with = "strict::account_config")]
    pub config: AccountConfig,
    /// Seconds until the agent unloads the account (absent: the agent's
    /// default; 0: never, also when the agent has a default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::lenient_opt_u64"
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
    /// Ours: the scope granted with it, when the provider said
    /// (`oidc-token --json` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Ours: the client could not write `account_file` (this error); the
    /// agent writes it from `convert_to` as it writes an unsaved rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsaved: Option<String>,
    /// oidc-agent 4.x's `oidc-add`: where the agent may get the account's
    /// password (its `--pw-env`, `--pw-store`, `--pw-file`). Used to write
    /// a rotated refresh token to the account file, which that client
    /// decrypted itself and sends no key for.
    #[serde(default, skip_serializing)]
    pub pw_entry: Option<PasswordEntry>,
    /// oidc-agent's `oidc-add -c`: confirm each token request. Not done
    /// here (no prompts); the reply says so.
    #[serde(default, skip_serializing, deserialize_with = "lenient::flag")]
    pub confirm: bool,
}

/// oidc-agent's password entry (`password_entry.c`), the fields used.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct PasswordEntry {
    /// The password itself (types MEM, keyring).
    pub password: Option<SecretString>,
    /// A file whose first line is the password (type FILE).
    pub pw_file: Option<PathBuf>,
}
