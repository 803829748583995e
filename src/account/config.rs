//! The account configuration: oidc-agent's account JSON, field for field.
//!
//! Field names follow oidc-agent (`name`, `issuer_url`, `client_id`,
//! `client_secret`, `refresh_token`, `scope`/`auth_scope`, …) so that files
//! and `add` requests from oidc-agent's own tools round-trip; fields we do not
//! know are kept in `extra` and written back unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::secret::SecretString;

/// One account: who the client is, at which provider, and its refresh token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountConfig {
    /// The short name (oidc-agent's key is `name`).
    #[serde(alias = "shortname")]
    pub name: String,
    /// The issuer URL (oidc-agent also reads `issuer`).
    #[serde(alias = "issuer")]
    pub issuer_url: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret; empty for public clients.
    #[serde(default, skip_serializing_if = "SecretString::is_empty")]
    pub client_secret: SecretString,
    /// The refresh token.
    #[serde(default)]
    pub refresh_token: SecretString,
    /// Scopes asked for at authorization (oidc-agent 4.x key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Scopes asked for at authorization (oidc-agent 5.x key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_scope: Option<String>,
    /// Scopes to send with refresh requests (5.x; from the provider's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_scope: Option<String>,
    /// Default audience(s), space-separated.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audience: String,
    /// Extra CA bundle for this provider.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_path: String,
    /// Discovery document URL, when not the issuer's well-known one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config_endpoint: String,
    /// Registered redirect URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// oidc-agent's password-flow password (usually `""`); never used by us,
    /// kept typed so that it is zeroized like every other secret, and
    /// written back as found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretString>,
    /// RFC 7592 registration access token of a dynamically registered client
    /// (to delete it with the account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<SecretString>,
    /// Every other field (none of them secret), kept as found.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AccountConfig {
    /// A new account with the fields every account needs.
    pub fn new(name: &str, issuer_url: &str, client_id: &str) -> Self {
        Self {
            name: name.to_owned(),
            issuer_url: issuer_url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: SecretString::default(),
            refresh_token: SecretString::default(),
            scope: None,
            auth_scope: None,
            refresh_scope: None,
            audience: String::new(),
            cert_path: String::new(),
            config_endpoint: String::new(),
            redirect_uris: Vec::new(),
            password: None,
            registration_access_token: None,
            extra: Map::new(),
        }
    }

    /// The scopes to send with a refresh: `refresh_scope`, else the
    /// authorization scope, split on white space.
    pub fn refresh_scopes(&self) -> Vec<String> {
        let s = self
            .refresh_scope
            .as_deref()
            .or(self.auth_scope.as_deref())
            .or(self.scope.as_deref())
            .unwrap_or("");
        split_list(s)
    }

    /// Sets the authorization scope under both oidc-agent key names, so that
    /// both 4.x (`scope`) and 5.x (`auth_scope`) read it.
    pub fn set_scope(&mut self, scope: &str) {
        self.scope = Some(scope.to_owned());
        self.auth_scope = Some(scope.to_owned());
    }

    /// The account JSON (contains secrets: callers encrypt or send it only).
    pub fn to_json(&self) -> SecretString {
        crate::secret::json_secret(self)
    }

    /// Parses account JSON, checking the fields every account needs.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let cfg: Self =
            serde_json::from_str(text).map_err(|e| format!("invalid account JSON: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the fields every usable account needs.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("account has no name".into());
        }
        if self.issuer_url.is_empty() {
            return Err(format!("account '{}' has no issuer_url", self.name));
        }
        // Checked here, not at the first refresh: there a bad issuer would
        // be said as a usage error, though the command line was right.
        if !url::Url::parse(&self.issuer_url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(format!(
                "account '{}' has issuer_url {:?}, which is not an http(s) URL; make the \
                 account anew (`oidc-gen -d {}`, then `oidc-gen {} --issuer URL`)",
                self.name, self.issuer_url, self.name, self.name
            ));
        }
        if self.client_id.is_empty() {
            return Err(format!("account '{}' has no client_id", self.name));
        }
        if self.refresh_token.is_empty() {
            return Err(format!(
                "account '{}' has no refresh token; run `oidc-gen --reauthenticate {}`",
                self.name, self.name
            ));
        }
        Ok(())
    }
}

/// Splits a space-separated list (scopes, audiences), dropping empties.
pub fn split_list(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Compares issuer URLs the way oidc-agent does (`compIssuerUrls`): equal,
/// or equal but for one extra trailing `/` on either side; case-sensitive.
pub fn same_issuer(a: &str, b: &str) -> bool {
    a == b || a.strip_suffix('/') == Some(b) || b.strip_suffix('/') == Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_fields_and_reads_aliases() {
        let text = r#"{"name":"a","issuer":"https://op/","client_id":"c","refresh_token":"rt",
            "scope":"openid profile","daeSetByUser":0,"username":"","password":"pw"}"#;
        let cfg = AccountConfig::from_json(text).expect("parse");
        assert_eq!(cfg.issuer_url, "https://op/");
        assert_eq!(cfg.refresh_scopes(), vec!["openid", "profile"]);
        let out: Value = serde_json::from_str(cfg.to_json().expose()).expect("json");
        assert_eq!(out["daeSetByUser"], 0);
        assert_eq!(out["username"], "");
        assert!(!cfg.extra.contains_key("password"));
        assert_eq!(out["issuer_url"], "https://op/");
        assert_eq!(out["refresh_token"], "rt");
        assert_eq!(out["password"], "pw");
    }

    #[test]
    fn refresh_scope_wins() {
        let mut cfg = AccountConfig::new("a", "https://op", "c");
        cfg.set_scope("openid offline_access");
        cfg.refresh_scope = Some("openid".into());
        assert_eq!(cfg.refresh_scopes(), vec!["openid"]);
    }

    #[test]
    fn missing_refresh_token_is_rejected() {
        let err =
            AccountConfig::from_json(r#"{"name":"a","issuer_url":"https://op/","client_id":"c"}"#)
                .expect_err("must fail");
        assert!(err.contains("--reauthenticate a"), "{err}");
    }

    #[test]
    fn an_issuer_that_is_no_url_is_rejected() {
        for issuer in ["x", "op.example/", "ftp://op.example/"] {
            let json = format!(
                r#"{{"name":"a","issuer_url":"{issuer}","client_id":"c","refresh_token":"rt"}}"#
            );
            let err = AccountConfig::from_json(&json).expect_err(issuer);
            assert!(err.contains("not an http(s) URL"), "{err}");
        }
    }

    #[test]
    fn issuer_comparison_ignores_one_slash() {
        assert!(same_issuer("https://op/", "https://op"));
        assert!(same_issuer("https://op", "https://op"));
        assert!(!same_issuer("https://op//", "https://op"));
        assert!(!same_issuer("https://op/x", "https://op"));
        assert!(same_issuer("https://a//", "https://a/"));
        assert!(!same_issuer("https://A/", "https://a/"));
    }
}
