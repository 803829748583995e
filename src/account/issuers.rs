//! `issuer.config`: which account is the default for an issuer.
//!
//! Reads and updates both oidc-agent layouts: 4.x lines
//! (`<issuer_url> <shortname>`) and the 5.x JSON array (`issuer`/`issuer_url`,
//! `default_account`, else the first of `accounts`). Writing keeps the layout
//! found, comments and unknown keys included; a new file uses the 4.x lines,
//! which both oidc-agent generations read.

use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use crate::account::config::same_issuer;
use crate::account::store::write_atomic;
use crate::paths::ISSUER_CONFIG;

/// `dir/issuer.config` as found; no file is an empty one (in the line
/// layout, as oidc-agent 4.x creates it). A file that cannot be read or
/// parsed is an error naming it, never taken for an empty one (it would be
/// overwritten).
pub fn read(dir: &Path) -> crate::Result<IssuerConfig> {
    let path = dir.join(ISSUER_CONFIG);
    let read = crate::files::read_regular(&path, 1 << 20, "an issuer.config").and_then(|bytes| {
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    });
    match read {
        Ok(text) => IssuerConfig::parse(&text)
            .map_err(|e| crate::Error::Failure(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(IssuerConfig::empty(IssuerConfigFormat::Lines))
        }
        Err(cause) => Err(crate::Error::Io {
            action: "read",
            path,
            cause,
        }),
    }
}

/// The default account recorded for `issuer` in `dir/issuer.config`.
pub fn default_account(dir: &Path, issuer: &str) -> Option<String> {
    read(dir)
        .ok()?
        .default_account_for(issuer)
        .map(str::to_owned)
}

/// Records `name` as the default account of `issuer` unless the issuer has
/// one already (oidc-gen's behaviour), keeping the file's layout.
pub fn record_default(dir: &Path, issuer: &str, name: &str) -> crate::Result<()> {
    let mut cfg = read(dir)?;
    if cfg.default_account_for(issuer).is_some() {
        return Ok(());
    }
    cfg.set_default_account(issuer, name)
        .map_err(|e| crate::Error::Failure(e.to_string()))?;
    write_atomic(&dir.join(ISSUER_CONFIG), cfg.to_text().as_bytes())
}

/// Follows a rename (`new`: `Some`) or a deletion (`None`) of account `old`
/// of `issuer` in `dir/issuer.config`, so that `oidc-token ISSUER` does not
/// go on naming an account that is gone (oidc-agent's
/// `oidcp_updateIssuerConfigDelete` also drops a deleted one). No file, or
/// no mention of `old`: nothing is written.
pub fn account_moved(dir: &Path, issuer: &str, old: &str, new: Option<&str>) -> crate::Result<()> {
    let mut cfg = read(dir)?;
    if cfg
        .replace_account(issuer, old, new)
        .map_err(|e| crate::Error::Failure(e.to_string()))?
    {
        write_atomic(&dir.join(ISSUER_CONFIG), cfg.to_text().as_bytes())?;
    }
    Ok(())
}

/// Failure to read or update an `issuer.config`.
#[derive(Debug, thiserror::Error)]
pub enum IssuerConfigError {
    /// The file starts like JSON but does not parse.
    #[error(
        "issuer.config looks like JSON but does not parse ({0}); fix the file or move it aside to let oidc-agent recreate it"
    )]
    InvalidJson(String),
    /// A value that would corrupt the line format.
    #[error(
        "cannot record {what} {value:?} in issuer.config: it must be non-empty and contain no whitespace"
    )]
    InvalidValue {
        /// Which argument was rejected.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
}

/// Which layout an `issuer.config` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerConfigFormat {
    /// 4.x: `<issuer_url> [<default_shortname>]` per line.
    Lines,
    /// 5.x: a JSON array of issuer objects (or, in `issuer.config.d`, one object).
    Json,
}

/// The user's `issuer.config`, kept in the format it was read in so that
/// writing it back changes only what we changed.
#[derive(Clone, PartialEq)]
pub struct IssuerConfig {
    repr: Repr,
}

#[derive(Clone, PartialEq)]
enum Repr {
    /// Every line verbatim, comments and blanks included.
    Lines {
        lines: Vec<String>,
        trailing_newline: bool,
    },
    /// Entries verbatim (unknown keys kept in order).
    Json {
        entries: Vec<Value>,
        single_object: bool,
    },
}

impl fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Public-client secrets can live in 5.x entries; do not print values.
        f.debug_struct("IssuerConfig")
            .field("format", &self.format())
            .field("issuers", &self.issuers())
            .finish()
    }
}

impl IssuerConfig {
    /// An empty configuration that will be written in `format`.
    pub fn empty(format: IssuerConfigFormat) -> Self {
        let repr = match format {
            IssuerConfigFormat::Lines => Repr::Lines {
                lines: Vec::new(),
                trailing_newline: false,
            },
            IssuerConfigFormat::Json => Repr::Json {
                entries: Vec::new(),
                single_object: false,
            },
        };
        Self { repr }
    }

    /// Parses either format: text starting with `[` or `{` is JSON, anything
    /// else (an empty file too, as 4.x creates it) is the line format.
    pub fn parse(text: &str) -> Result<Self, IssuerConfigError> {
        let trimmed = text.trim_start();
        let repr = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| IssuerConfigError::InvalidJson(e.to_string()))?;
            match value {
                Value::Array(entries) => Repr::Json {
                    entries,
                    single_object: false,
                },
                object => Repr::Json {
                    // Text starting with `{` that parses is an object.
                    entries: vec![object],
                    single_object: true,
                },
            }
        } else {
            Repr::Lines {
                lines: text.lines().map(str::to_owned).collect(),
                trailing_newline: text.ends_with('\n'),
            }
        };
        Ok(Self { repr })
    }

    /// The layout the file was read in (and will be written in).
    pub fn format(&self) -> IssuerConfigFormat {
        match self.repr {
            Repr::Lines { .. } => IssuerConfigFormat::Lines,
            Repr::Json { .. } => IssuerConfigFormat::Json,
        }
    }

    /// The issuer URLs listed, in file order.
    pub fn issuers(&self) -> Vec<&str> {
        match &self.repr {
            Repr::Lines { lines, .. } => lines
                .iter()
                .filter_map(|l| line_fields(l))
                .map(|f| f.0)
                .collect(),
            Repr::Json { entries, .. } => entries.iter().filter_map(entry_issuer).collect(),
        }
    }

    /// The default account for `issuer`, as oidc-agent picks it: 4.x takes the
    /// second word of the first matching line; 5.x takes `default_account`,
    /// else the first of `accounts`.
    pub fn default_account_for(&self, issuer: &str) -> Option<&str> {
        match &self.repr {
            Repr::Lines { lines, .. } => lines
                .iter()
                .filter_map(|l| line_fields(l))
                .find(|(iss, _)| same_issuer(iss, issuer))
                .and_then(|(_, account)| account),
            Repr::Json { entries, .. } => {
                let entry = entries
                    .iter()
                    .find(|e| entry_issuer(e).is_some_and(|i| same_issuer(i, issuer)))?;
                let default = entry.get("default_account").and_then(Value::as_str);
                match default {
                    Some(d) if !d.is_empty() => Some(d),
                    _ => entry
                        .get("accounts")
                        .and_then(Value::as_array)
                        .and_then(|a| a.first())
                        .and_then(Value::as_str),
                }
            }
        }
    }

    /// Records `shortname` as the default account for `issuer`, adding the
    /// issuer if it is missing. Lines keep any words after the second; JSON
    /// entries keep every other key and also list `shortname` in `accounts`.
    pub fn set_default_account(
        &mut self,
        issuer: &str,
        shortname: &str,
    ) -> Result<(), IssuerConfigError> {
        check_word("issuer URL", issuer)?;
        check_word("account short name", shortname)?;
        match &mut self.repr {
            Repr::Lines { lines, .. } => set_in_lines(lines, issuer, shortname),
            Repr::Json { entries, .. } => set_in_json(entries, issuer, shortname),
        }
        Ok(())
    }

    /// Puts `new` where the entry of `issuer` names `old` (its default and,
    /// in 5.x entries, its `accounts`), or drops `old` when `new` is `None`.
    /// True when something changed.
    pub fn replace_account(
        &mut self,
        issuer: &str,
        old: &str,
        new: Option<&str>,
    ) -> Result<bool, IssuerConfigError> {
        if let Some(new) = new {
            check_word("account short name", new)?;
        }
        let mut changed = false;
        match &mut self.repr {
            Repr::Lines { lines, .. } => {
                for line in lines {
                    let named = line_fields(line)
                        .is_some_and(|(iss, acct)| same_issuer(iss, issuer) && acct == Some(old));
                    if !named {
                        continue;
                    }
                    // `issuer [account ...]`: the account is the second word.
                    let words: Vec<&str> = line.split_whitespace().collect();
                    let mut kept = vec![words[0]];
                    kept.extend(new);
                    kept.extend(&words[2..]);
                    *line = kept.join(" ");
                    changed = true;
                }
            }
            Repr::Json { entries, .. } => {
                for entry in entries.iter_mut() {
                    if !entry_issuer(entry).is_some_and(|i| same_issuer(i, issuer)) {
                        continue;
                    }
                    if let Some(entry) = entry.as_object_mut() {
                        changed |= replace_in_entry(entry, old, new);
                    }
                }
            }
        }
        Ok(changed)
    }

    /// The file content to write back.
    pub fn to_text(&self) -> String {
        match &self.repr {
            Repr::Lines {
                lines,
                trailing_newline,
            } => {
                let mut text = lines.join("\n");
                // A file of one blank line is `[""]`: its newline stays too.
                if *trailing_newline && !lines.is_empty() {
                    text.push('\n');
                }
                text
            }
            Repr::Json {
                entries,
                single_object,
            } => {
                let value = match entries.as_slice() {
                    [only] if *single_object => only.clone(),
                    _ => Value::Array(entries.clone()),
                };
                to_tabbed_json(&value)
            }
        }
    }
}

/// `issuer [account ...]` of a data line; `None` for blanks and `#` comments.
fn line_fields(line: &str) -> Option<(&str, Option<&str>)> {
    let mut words = line.split_whitespace();
    let issuer = words.next().filter(|w| !w.starts_with('#'))?;
    Some((issuer, words.next()))
}

fn entry_issuer(entry: &Value) -> Option<&str> {
    // 5.x reads `issuer` and falls back to `issuer_url`.
    ["issuer", "issuer_url"]
        .iter()
        .find_map(|k| entry.get(k).and_then(Value::as_str))
}

fn set_in_lines(lines: &mut Vec<String>, issuer: &str, shortname: &str) {
    let found = lines
        .iter()
        .position(|l| line_fields(l).is_some_and(|(iss, _)| same_issuer(iss, issuer)));
    match found {
        Some(i) => {
            let words: Vec<&str> = lines[i].split_whitespace().collect();
            let mut new = vec![words[0], shortname];
            new.extend(words.iter().skip(2));
            lines[i] = new.join(" ");
        }
        None => lines.push(format!("{issuer} {shortname}")),
    }
}

fn set_in_json(entries: &mut Vec<Value>, issuer: &str, shortname: &str) {
    let found = entries.iter_mut().find_map(|e| {
        let matches = entry_issuer(e).is_some_and(|i| same_issuer(i, issuer));
        if matches { e.as_object_mut() } else { None }
    });
    let Some(entry) = found else {
        let mut entry = Map::new();
        entry.insert("issuer".into(), issuer.into());
        entry.insert("accounts".into(), Value::Array(vec![shortname.into()]));
        entry.insert("default_account".into(), shortname.into());
        entries.push(Value::Object(entry));
        return;
    };
    entry.insert("default_account".into(), shortname.into());
    match entry.get_mut("accounts") {
        Some(Value::Array(accounts)) => {
            if !accounts.iter().any(|a| a.as_str() == Some(shortname)) {
                accounts.push(shortname.into());
            }
        }
        // A non-array `accounts` is someone else's data; leave it alone.
        Some(_) => {}
        None => {
            entry.insert("accounts".into(), Value::Array(vec![shortname.into()]));
        }
    }
}

/// `replace_account` for one 5.x entry.
fn replace_in_entry(entry: &mut Map<String, Value>, old: &str, new: Option<&str>) -> bool {
    let mut changed = false;
    if entry.get("default_account").and_then(Value::as_str) == Some(old) {
        match new {
            Some(new) => entry.insert("default_account".into(), new.into()),
            None => entry.remove("default_account"),
        };
        changed = true;
    }
    if let Some(Value::Array(accounts)) = entry.get_mut("accounts") {
        let before = accounts.len();
        match new {
            // In place: without `default_account`, 5.x takes the first.
            Some(new) => accounts
                .iter_mut()
                .filter(|a| a.as_str() == Some(old))
                .for_each(|a| {
                    *a = new.into();
                    changed = true;
                }),
            None => {
                accounts.retain(|a| a.as_str() != Some(old));
                changed |= accounts.len() != before;
            }
        }
    }
    changed
}

fn check_word(what: &'static str, value: &str) -> Result<(), IssuerConfigError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IssuerConfigError::InvalidValue {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Pretty JSON indented with tabs, like cJSON's `cJSON_Print` that 5.x uses.
fn to_tabbed_json(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serialising a `Value` into a Vec cannot fail; keep the compact form as a
    // fallback rather than panicking.
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests;
