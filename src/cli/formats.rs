//! Machine-readable forms of `oidc-token`'s answer: `--json` (one object
//! for scripts) and `--kube` (a kubectl exec-credential plugin's
//! `ExecCredential`, client.authentication.k8s.io).
//!
//! The kube form follows the exec plugin contract: kubectl says in
//! `KUBERNETES_EXEC_INFO` which API version it speaks and whether a person
//! can answer a prompt (`spec.interactive`); nothing else is read from the
//! environment for it, and the answer carries the version asked for.

use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The exec-credential API versions we answer in (the first is the default
/// when kubectl sends no `KUBERNETES_EXEC_INFO`).
pub const KUBE_API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// What kubectl asked for in `KUBERNETES_EXEC_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    /// The API version to answer in.
    pub api_version: String,
    /// May the plugin prompt? (`interactiveMode: Never` makes this false.)
    pub interactive: bool,
}

/// Parses `KUBERNETES_EXEC_INFO` (`None`: not set, as when run by hand).
pub fn exec_info(env: Option<&str>) -> Result<ExecInfo> {
    let Some(text) = env.filter(|t| !t.trim().is_empty()) else {
        return Ok(ExecInfo {
            api_version: KUBE_API_VERSIONS[0].to_owned(),
            interactive: false,
        });
    };
    let bad = |why: String| Error::Usage(format!("KUBERNETES_EXEC_INFO: {why}"));
    let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let api_version = v
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(KUBE_API_VERSIONS[0]);
    if !KUBE_API_VERSIONS.contains(&api_version) {
        return Err(bad(format!(
            "apiVersion {api_version} is not supported (use one of {})",
            KUBE_API_VERSIONS.join(", ")
        )));
    }
    let interactive = v
        .pointer("/spec/interactive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ExecInfo {
        api_version: api_version.to_owned(),
        interactive,
    })
}

/// Unix seconds as RFC 3339 UTC (`2026-01-02T03:04:05Z`).
pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What both forms say about a token.
#[derive(Debug)]
pub struct TokenInfo<'a> {
    /// The access token.
    pub token: &'a str,
    /// Its expiry, Unix seconds (0: unknown).
    pub expires_at: i64,
    /// The issuer.
    pub issuer: &'a str,
    /// The account that answered.
    pub account: Option<&'a str>,
    /// The granted scope, when known.
    pub scope: Option<&'a str>,
}

/// `--json`: one object and a newline.
pub fn json(t: &TokenInfo<'_>) -> String {
    let mut v = json!({
        "access_token": t.token,
        "token_type": "Bearer",
        "expires_at": t.expires_at,
        "issuer": t.issuer,
        "account": t.account,
    });
    if let Some(scope) = t.scope {
        v["scope"] = Value::String(scope.to_owned());
    }
    format!("{v}\n")
}

/// `--kube`: an `ExecCredential` in the version kubectl asked for. A token
/// without a known expiry gets no `expirationTimestamp` (kubectl then keeps
/// it until the server answers 401).
pub fn exec_credential(t: &TokenInfo<'_>, info: &ExecInfo) -> String {
    let mut status = json!({ "token": t.token });
    if t.expires_at > 0 {
        status["expirationTimestamp"] = Value::String(rfc3339(t.expires_at));
    }
    let v = json!({
        "apiVersion": info.api_version,
        "kind": "ExecCredential",
        "status": status,
    });
    format!("{v}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TokenInfo<'static> {
        TokenInfo {
            token: "AT",
            expires_at: 1_767_323_045,
            issuer: "https://op/",
            account: Some("kit"),
            scope: Some("openid"),
        }
    }

    #[test]
    fn json_form() {
        let v: Value = serde_json::from_str(&json(&info())).expect("json");
        assert_eq!(v["access_token"], "AT");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_at"], 1_767_323_045);
        assert_eq!(v["issuer"], "https://op/");
        assert_eq!(v["account"], "kit");
        assert_eq!(v["scope"], "openid");
        let no_scope = TokenInfo {
            scope: None,
            ..info()
        };
        let v: Value = serde_json::from_str(&json(&no_scope)).expect("json");
        assert!(v.get("scope").is_none());
    }

    #[test]
    fn exec_credential_answers_in_the_version_asked() {
        let asked = exec_info(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"interactive":true}}"#,
        ))
        .expect("parse");
        assert!(asked.interactive);
        let v: Value = serde_json::from_str(&exec_credential(&info(), &asked)).expect("json");
        assert_eq!(v["apiVersion"], "client.authentication.k8s.io/v1beta1");
        assert_eq!(v["kind"], "ExecCredential");
        assert_eq!(v["status"]["token"], "AT");
        assert_eq!(v["status"]["expirationTimestamp"], "2026-01-02T03:04:05Z");
        let default = exec_info(None).expect("default");
        assert_eq!(default.api_version, "client.authentication.k8s.io/v1");
        assert!(!default.interactive);
        assert!(exec_info(Some(r#"{"apiVersion":"client.authentication.k8s.io/v9"}"#)).is_err());
        assert!(exec_info(Some("{")).is_err());
    }
}
