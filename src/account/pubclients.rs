//! Preregistered public clients, as oidc-agent ships them for providers that
//! offer no dynamic client registration (EGI Check-in, KIT, Helmholtz,
//! WLCG, …): 4.2.6's `pubclients.config`, one
//! `client_id[:secret]@issuer[@scopes]` per line, and 5.x's issuer objects
//! (in `issuer.config.d/*` and a JSON `issuer.config`; an object or an
//! array of them per file) with a `pubclient` (`client_id`,
//! `client_secret`, `scope`, `flow`, `redirect_uris`).
//!
//! 5.x merges its files with the later winning: the account directory's
//! over `/etc/oidc-agent`'s, `issuer.config` over `issuer.config.d/`, a
//! file over the ones sorted before it. So the lookup goes the other way
//! and takes the first entry for the issuer, with 4.2.6's
//! `pubclients.config` last in each directory. Only reading: these files
//! belong to the distribution's package and to the person.
//!
//! The same files say where to register a client by hand and whom to ask
//! (5.x `register`/`contact`, 4.2.6's `/etc/oidc-agent/issuer.config` lines
//! `url [register-url [contact]]`): oidc-gen says so when it has no client.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::account::config::same_issuer;
use crate::secret::SecretString;

/// oidc-agent 4.2.6's list of public clients.
pub const PUBCLIENTS_CONFIG: &str = "pubclients.config";
/// oidc-agent 5.x's directory of per-issuer files.
pub const ISSUER_CONFIG_D: &str = "issuer.config.d";
/// oidc-agent's issuer list (5.x: JSON issuer objects).
const ISSUER_CONFIG: &str = crate::paths::ISSUER_CONFIG;
/// Where oidc-agent's package puts both.
pub const SYSTEM_DIR: &str = "/etc/oidc-agent";

/// The redirect URIs oidc-agent registered its public clients with
/// (4.2.6's `defaultRedirectURIs`): a provider that checks them exactly
/// accepts only these, so the loopback listener takes the first free one.
pub const REDIRECT_URIS: [&str; 3] = [
    "http://localhost:8080",
    "http://localhost:4242",
    "http://localhost:43985",
];

/// A public client for one issuer, and where it was found.
#[derive(Debug, Clone)]
pub struct PublicClient {
    /// The client id.
    pub client_id: String,
    /// A published secret (some providers want one even from a public client).
    pub client_secret: Option<SecretString>,
    /// The scopes the client may ask for (what `--scope max` means).
    pub scope: Option<String>,
    /// Its redirect URIs (5.x entries may name them).
    pub redirect_uris: Vec<String>,
    /// The flows it may use (5.x `flow`: Google's allows only `device`).
    pub flows: Vec<String>,
    /// The file it came from, for the person to see.
    pub source: PathBuf,
}

/// The public client for `issuer`: in each of `dirs` (the one that wins
/// first), `issuer.config`, then `issuer.config.d/*` (the last by name
/// first), then `pubclients.config`. Files that are missing, unreadable
/// or malformed are passed over: they are someone else's, and a login need
/// not fail for them.
pub fn find(issuer: &str, dirs: &[&Path]) -> Option<PublicClient> {
    dirs.iter().find_map(|dir| {
        issuer_files(dir)
            .iter()
            .find_map(|file| {
                let text = read_small(file)?;
                from_issuer_file(&text, issuer).map(|c| c.found_in(file))
            })
            .or_else(|| {
                let file = dir.join(PUBCLIENTS_CONFIG);
                from_lines(&read_small(&file)?, issuer).map(|c| c.found_in(&file))
            })
    })
}

/// `dir`'s 5.x files in the order they win: `issuer.config`, then
/// `issuer.config.d/*` from the last by name.
fn issuer_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(ISSUER_CONFIG_D))
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.push(dir.join(ISSUER_CONFIG));
    files.reverse();
    files
}

/// The files of `dir`'s `issuer.config.d/` that are no issuer file (not
/// JSON, or not an issuer object or array of them), each with the reason:
/// [`find`] passes over them, and a person who wrote one by hand should
/// hear that it was.
pub fn unreadable_issuer_files(dir: &Path) -> Vec<(PathBuf, String)> {
    issuer_files(dir)
        .into_iter()
        .skip(1)
        .filter_map(|file| {
            let text = read_small(&file)?;
            let parsed = serde_json::from_str::<IssuerFile>(&text);
            parsed.err().map(|e| (file, e.to_string()))
        })
        .rev()
        .collect()
}

/// Every issuer `dirs` name (in `issuer.config`, `issuer.config.d/*` and
/// `pubclients.config`), once each, in the order found: what oidc-gen
/// offers at its issuer prompt, as oidc-agent's does.
pub fn known_issuers(dirs: &[&Path]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for dir in dirs {
        if let Ok(config) = crate::account::issuers::read(dir) {
            found.extend(config.issuers().into_iter().map(str::to_owned));
        }
        for file in issuer_files(dir).iter().skip(1) {
            let Some(text) = read_small(file) else {
                continue;
            };
            match serde_json::from_str(&text) {
                Ok(IssuerFile::One(entry)) => found.push(entry.issuer),
                Ok(IssuerFile::Many(entries)) => {
                    found.extend(entries.into_iter().map(|e| e.issuer))
                }
                Err(_) => {}
            }
        }
        if let Some(text) = read_small(&dir.join(PUBCLIENTS_CONFIG)) {
            found.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.starts_with('#'))
                    .filter_map(|l| l.split('@').nth(1))
                    .map(|i| i.trim().to_owned()),
            );
        }
    }
    let mut once: Vec<String> = Vec::new();
    for issuer in found {
        if issuer.contains("://") && !once.iter().any(|o| same_issuer(o, &issuer)) {
            once.push(issuer);
        }
    }
    once
}

/// A regular file's text, if it is one of a sane size.
fn read_small(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

impl PublicClient {
    fn found_in(mut self, path: &Path) -> Self {
        self.source = path.to_owned();
        self
    }
}

/// The entry for `issuer` in 4.2.6's `pubclients.config` text.
pub fn from_lines(text: &str, issuer: &str) -> Option<PublicClient> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|line| {
            // `client[:secret]@issuer[@scopes]`: the issuer is a URL, whose
            // own `@` would be userinfo, which no issuer has.
            let mut parts = line.splitn(3, '@');
            let client = parts.next()?;
            let iss = parts.next()?;
            if !same_issuer(iss.trim(), issuer) {
                return None;
            }
            let (id, secret) = client.split_once(':').unwrap_or((client, ""));
            Some(PublicClient {
                client_id: id.trim().to_owned(),
                client_secret: Some(secret.trim())
                    .filter(|s| !s.is_empty())
                    .map(SecretString::from),
                scope: parts
                    .next()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
                redirect_uris: Vec::new(),
                flows: Vec::new(),
                source: PathBuf::new(),
            })
        })
        .filter(|c| !c.client_id.is_empty())
}

/// A 5.x file: one issuer object, or an array of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum IssuerFile {
    One(IssuerEntry),
    Many(Vec<IssuerEntry>),
}

/// One 5.x issuer object, of which only these keys matter here.
#[derive(Deserialize)]
struct IssuerEntry {
    #[serde(alias = "issuer_url")]
    issuer: String,
    #[serde(default)]
    pubclient: Option<PubClientEntry>,
    #[serde(default, alias = "manual_register")]
    register: Option<String>,
    #[serde(default)]
    contact: Option<String>,
}

#[derive(Deserialize)]
struct PubClientEntry {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// oidc-agent's key is `flow`; its documentation says `flows`.
    #[serde(default, alias = "flows")]
    flow: Vec<String>,
}

/// The issuer object for `issuer` in a 5.x file.
fn issuer_entry(text: &str, issuer: &str) -> Option<IssuerEntry> {
    let entries = match serde_json::from_str(text).ok()? {
        IssuerFile::One(entry) => vec![entry],
        IssuerFile::Many(entries) => entries,
    };
    entries.into_iter().find(|e| same_issuer(&e.issuer, issuer))
}

/// Where to register a client for `issuer` by hand and whom to ask, as
/// the first of `dirs` that knows says (see [`find`] for the order): one
/// sentence, or `None`.
pub fn register_help(issuer: &str, dirs: &[&Path]) -> Option<String> {
    let (register, contact) = dirs.iter().find_map(|dir| {
        // 4.2.6's lines: `url [register-url [contact]]` in /etc, split at
        // single spaces as oidc-agent does (`url  contact`: no register
        // URL); the person's file has `url shortname` lines, whose name is
        // no URL.
        let from_lines = read_small(&dir.join(ISSUER_CONFIG)).and_then(|text| {
            text.lines().find_map(|line| {
                let mut parts = line.splitn(3, ' ');
                same_issuer(parts.next()?.trim(), issuer).then(|| {
                    (
                        parts
                            .next()
                            .filter(|r| r.contains("://"))
                            .map(str::to_owned),
                        parts.next().map(str::to_owned),
                    )
                })
            })
        });
        issuer_files(dir)
            .iter()
            .filter_map(|f| issuer_entry(&read_small(f)?, issuer))
            .map(|e| (e.register, e.contact))
            .find(|(r, c)| r.is_some() || c.is_some())
            .or(from_lines)
    })?;
    let clean = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    match (clean(register), clean(contact)) {
        (Some(r), Some(c)) => Some(format!(
            "register a client by hand at {r} (the provider's contact: {c}) and pass --client-id"
        )),
        (Some(r), None) => Some(format!(
            "register a client by hand at {r} and pass --client-id"
        )),
        (None, Some(c)) => Some(format!(
            "ask the provider for a client ({c}) and pass --client-id"
        )),
        (None, None) => None,
    }
}

/// The `pubclient` for `issuer` in a 5.x file's issuer objects.
pub fn from_issuer_file(text: &str, issuer: &str) -> Option<PublicClient> {
    let entry = issuer_entry(text, issuer)?
        .pubclient
        .filter(|p| !p.client_id.is_empty())?;
    Some(PublicClient {
        client_id: entry.client_id,
        client_secret: entry
            .client_secret
            .filter(|s| !s.is_empty())
            .map(SecretString::new),
        scope: entry.scope.filter(|s| !s.trim().is_empty()),
        redirect_uris: entry.redirect_uris,
        flows: entry.flow,
        source: PathBuf::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as Debian's oidc-agent 4.2.6 ships them.
    const LINES: &str = "# comment\n\
        854595242827-x.apps.googleusercontent.com:o7nZynvN@https://accounts.google.com/@openid profile\n\
        7b3b85df@https://oidc.scc.kit.edu/auth/realms/kit/\n\
        oidc-agent@https://aai.egi.eu/oidc/@openid profile email offline_access\n";

    #[test]
    fn reads_4x_lines_with_and_without_secret_and_scopes() {
        let google = from_lines(LINES, "https://accounts.google.com").expect("google");
        assert_eq!(
            google.client_id,
            "854595242827-x.apps.googleusercontent.com"
        );
        assert_eq!(
            google.client_secret.as_ref().map(|s| s.expose()),
            Some("o7nZynvN")
        );
        assert_eq!(google.scope.as_deref(), Some("openid profile"));
        let kit = from_lines(LINES, "https://oidc.scc.kit.edu/auth/realms/kit").expect("kit");
        assert_eq!(kit.client_id, "7b3b85df");
        assert!(kit.client_secret.is_none() && kit.scope.is_none());
        let egi = from_lines(LINES, "https://aai.egi.eu/oidc/").expect("egi");
        assert_eq!(
            egi.scope.as_deref(),
            Some("openid profile email offline_access")
        );
        assert!(from_lines(LINES, "https://op.example").is_none());
    }

    #[test]
    fn reads_a_5x_issuer_file() {
        let egi = r#"{"issuer": "https://aai.egi.eu/auth/realms/egi", "contact": "x",
            "pubclient": {"client_id": "oidc-agent", "scope": "openid offline_access",
            "redirect_uris": ["http://localhost:8080"]}}"#;
        let c = from_issuer_file(egi, "https://aai.egi.eu/auth/realms/egi/").expect("egi");
        assert_eq!(c.client_id, "oidc-agent");
        assert!(c.client_secret.is_none());
        assert_eq!(c.scope.as_deref(), Some("openid offline_access"));
        assert_eq!(c.redirect_uris, ["http://localhost:8080"]);
        assert!(from_issuer_file(egi, "https://other.example").is_none());
        let without = r#"{"issuer": "https://op.example", "register": "https://op.example/r"}"#;
        assert!(from_issuer_file(without, "https://op.example").is_none());
        // 5.x's `wlcg` file: an array; Google's entry: device flow only.
        let many = r#"[{"issuer": "https://wlcg.cloud.cnaf.infn.it/", "pubclient":
            {"client_id": "7d6a", "scope": "openid wlcg storage.read:/"}, "legacy_aud_mode": true},
            {"issuer": "https://accounts.google.com", "pubclient": {"client_id": "g",
            "client_secret": "s", "flow": ["device"]}}]"#;
        let wlcg = from_issuer_file(many, "https://wlcg.cloud.cnaf.infn.it").expect("wlcg");
        assert_eq!(wlcg.scope.as_deref(), Some("openid wlcg storage.read:/"));
        let google = from_issuer_file(many, "https://accounts.google.com/").expect("google");
        assert_eq!(google.flows, ["device"]);
        assert_eq!(google.client_secret.as_ref().map(|s| s.expose()), Some("s"));
    }

    /// What 5.x merges last wins: the person's directory over the
    /// system's, `issuer.config` over `issuer.config.d/`, a later file over
    /// an earlier one; 4.2.6's list comes last in each directory.
    #[test]
    fn finds_the_entry_that_wins_in_oidc_agents_order() {
        let system = tempfile::tempdir().expect("tmp");
        let user = tempfile::tempdir().expect("tmp");
        let iss = "https://op.example";
        let dirs = [user.path(), system.path()];
        let found = |what: &str| find(iss, &dirs).expect(what);
        std::fs::write(
            system.path().join(PUBCLIENTS_CONFIG),
            format!("sys4@{iss}\n"),
        )
        .expect("w");
        assert_eq!(found("system 4.x").client_id, "sys4");
        assert_eq!(
            found("system 4.x").source,
            system.path().join(PUBCLIENTS_CONFIG)
        );
        let object =
            |id: &str| format!(r#"{{"issuer":"{iss}/","pubclient":{{"client_id":"{id}"}}}}"#);
        let d = system.path().join(ISSUER_CONFIG_D);
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(d.join("a-op"), object("sys5-a")).expect("w");
        std::fs::write(d.join("b-broken"), "{not json").expect("w");
        assert_eq!(found("system 5.x").client_id, "sys5-a");
        std::fs::write(d.join("c-op"), object("sys5-c")).expect("w");
        assert_eq!(found("the later file").client_id, "sys5-c");
        std::fs::write(
            system.path().join(ISSUER_CONFIG),
            format!("[{}]", object("sys-ic")),
        )
        .expect("w");
        assert_eq!(found("issuer.config").client_id, "sys-ic");
        std::fs::write(
            user.path().join(PUBCLIENTS_CONFIG),
            format!("user4@{iss}\n"),
        )
        .expect("w");
        assert_eq!(found("the person's").client_id, "user4");
        // A 4.x issuer.config (lines) is no JSON: passed over.
        std::fs::write(user.path().join(ISSUER_CONFIG), format!("{iss} acct\n")).expect("w");
        assert_eq!(found("beside 4.x lines").client_id, "user4");
        assert!(find("https://none.example", &dirs).is_none());
    }

    #[test]
    fn lists_the_known_issuers_once() {
        let user = tempfile::tempdir().expect("tmp");
        let system = tempfile::tempdir().expect("tmp");
        std::fs::write(
            user.path().join(ISSUER_CONFIG),
            "https://mine.example/ acct\n",
        )
        .expect("w");
        std::fs::write(
            system.path().join(ISSUER_CONFIG),
            "https://mine.example reg\nhttps://egi.example/  contact@egi\n",
        )
        .expect("w");
        let d = system.path().join(ISSUER_CONFIG_D);
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(
            d.join("wlcg"),
            r#"[{"issuer":"https://wlcg.example/"},{"issuer":"https://cms.example/"}]"#,
        )
        .expect("w");
        std::fs::write(
            system.path().join(PUBCLIENTS_CONFIG),
            "# c\nid@https://egi.example/@openid\nid@https://google.example\n",
        )
        .expect("w");
        assert_eq!(
            known_issuers(&[user.path(), system.path()]),
            [
                "https://mine.example/",
                "https://egi.example/",
                "https://wlcg.example/",
                "https://cms.example/",
                "https://google.example",
            ]
        );
    }

    /// 4.2.6's `/etc/oidc-agent/issuer.config` lines (as Debian ships
    /// them) and 5.x objects say where to register by hand.
    #[test]
    fn says_where_to_register_by_hand() {
        let dir = tempfile::tempdir().expect("tmp");
        let dirs = [dir.path()];
        std::fs::write(
            dir.path().join(ISSUER_CONFIG),
            "https://iam.example/ https://iam.example/manage/dev/dynreg support@iam.example\n\
             https://aai.egi.eu/oidc/  egi-aai-checkin@lists.grnet.gr\n\
             https://bare.example/\n",
        )
        .expect("w");
        assert_eq!(
            register_help("https://iam.example", &dirs).as_deref(),
            Some(
                "register a client by hand at https://iam.example/manage/dev/dynreg \
                 (the provider's contact: support@iam.example) and pass --client-id"
            )
        );
        assert_eq!(
            register_help("https://aai.egi.eu/oidc", &dirs).as_deref(),
            Some(
                "ask the provider for a client (egi-aai-checkin@lists.grnet.gr) and pass --client-id"
            )
        );
        assert_eq!(register_help("https://bare.example", &dirs), None);
        std::fs::write(
            dir.path().join(ISSUER_CONFIG),
            "https://iam.example/ acct\n",
        )
        .expect("w");
        assert_eq!(
            register_help("https://iam.example", &dirs),
            None,
            "a default account"
        );
        let d = dir.path().join(ISSUER_CONFIG_D);
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(
            d.join("kit"),
            r#"{"issuer": "https://kit.example/", "register": "https://kit.example/reg"}"#,
        )
        .expect("w");
        assert_eq!(
            register_help("https://kit.example", &dirs).as_deref(),
            Some("register a client by hand at https://kit.example/reg and pass --client-id")
        );
    }
}
