//! `issuer.config`: which account is the default for an issuer.
//!
//! Reads both oidc-agent layouts: 4.x lines (`<issuer_url> <shortname>`) and
//! the 5.x JSON array (`issuer`/`issuer_url`, `default_account`). Writing
//! keeps the layout found; a new file uses the 4.x lines, which both
//! oidc-agent generations read.

use std::path::Path;

use serde_json::Value;

use crate::account::same_issuer;
use crate::error::Result;
use crate::paths::ISSUER_CONFIG;
use crate::store::write_atomic;

/// The default account recorded for `issuer` in `dir/issuer.config`.
pub fn default_account(dir: &Path, issuer: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(ISSUER_CONFIG)).ok()?;
    lookup(&text, issuer)
}

fn lookup(text: &str, issuer: &str) -> Option<String> {
    if let Ok(Value::Array(entries)) = serde_json::from_str::<Value>(text) {
        return entries.iter().find_map(|e| {
            let iss = e.get("issuer").or_else(|| e.get("issuer_url"))?.as_str()?;
            if !same_issuer(iss, issuer) {
                return None;
            }
            e.get("default_account")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        });
    }
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let iss = words.next()?;
        if iss.starts_with('#') || !same_issuer(iss, issuer) {
            return None;
        }
        words.next().map(str::to_owned)
    })
}

/// Records `name` as the default account of `issuer` when the issuer has
/// none yet (oidc-gen's behaviour), keeping the file's layout.
pub fn record_default(dir: &Path, issuer: &str, name: &str) -> Result<()> {
    let path = dir.join(ISSUER_CONFIG);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let Some(new) = with_default(&text, issuer, name) else {
        return Ok(());
    };
    write_atomic(&path, new.as_bytes())
}

fn with_default(text: &str, issuer: &str, name: &str) -> Option<String> {
    if lookup(text, issuer).is_some() {
        return None;
    }
    if let Ok(Value::Array(mut entries)) = serde_json::from_str::<Value>(text) {
        let existing = entries.iter_mut().find(|e| {
            e.get("issuer")
                .or_else(|| e.get("issuer_url"))
                .and_then(Value::as_str)
                .is_some_and(|i| same_issuer(i, issuer))
        });
        match existing {
            Some(Value::Object(obj)) => {
                obj.insert("default_account".into(), name.into());
            }
            _ => entries.push(serde_json::json!({"issuer": issuer, "default_account": name})),
        }
        return serde_json::to_string_pretty(&entries).ok();
    }
    let mut out = String::new();
    let mut replaced = false;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if !replaced
            && words.next().is_some_and(|i| same_issuer(i, issuer))
            && words.next().is_none()
        {
            out.push_str(&format!("{} {name}\n", line.trim()));
            replaced = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!("{issuer} {name}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts() {
        let lines = "# comment\nhttps://a.example/ kit\nhttps://b.example/\n";
        assert_eq!(lookup(lines, "https://a.example").as_deref(), Some("kit"));
        assert_eq!(lookup(lines, "https://b.example/"), None);
        let json = r#"[{"issuer":"https://a.example","default_account":"egi","pubclient":{}}]"#;
        assert_eq!(lookup(json, "https://a.example/").as_deref(), Some("egi"));
    }

    #[test]
    fn writes_keep_layout() {
        let lines =
            with_default("https://b.example/\n", "https://b.example", "x").expect("changed");
        assert_eq!(lines, "https://b.example/ x\n");
        let added =
            with_default("https://b.example/ y\n", "https://c.example/", "z").expect("changed");
        assert_eq!(added, "https://b.example/ y\nhttps://c.example/ z\n");
        assert!(with_default("https://b.example/ y\n", "https://b.example", "z").is_none());
        let json = with_default(
            r#"[{"issuer":"https://a","pubclient":{"client_id":"c"}}]"#,
            "https://a/",
            "n",
        )
        .expect("changed");
        assert_eq!(lookup(&json, "https://a").as_deref(), Some("n"));
        assert!(json.contains("pubclient"));
    }
}
