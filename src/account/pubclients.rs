//! Preregistered public clients, as oidc-agent ships them for providers that
//! offer no dynamic client registration (EGI Check-in, KIT, Helmholtz, …):
//! 4.2.6's `pubclients.config`, one `client_id[:secret]@issuer[@scopes]`
//! per line, and 5.x's `issuer.config.d/*`, one JSON object per file with
//! a `pubclient` (`client_id`, `client_secret`, `scope`, `redirect_uris`).
//!
//! Looked up as oidc-agent does, the system's `/etc/oidc-agent` before the
//! account directory, the first entry for the issuer wins. Only reading:
//! these files belong to the distribution's package and to the person.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::account::config::same_issuer;
use crate::secret::SecretString;

/// oidc-agent 4.2.6's list of public clients.
pub const PUBCLIENTS_CONFIG: &str = "pubclients.config";
/// oidc-agent 5.x's directory of per-issuer files.
pub const ISSUER_CONFIG_D: &str = "issuer.config.d";
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
    /// The file it came from, for the person to see.
    pub source: PathBuf,
}

/// The first public client for `issuer`: in each of `dirs` (in order),
/// `issuer.config.d/*` (sorted by name) and then `pubclients.config`.
/// Files that are missing, unreadable or malformed are passed over: they
/// are someone else's and a login need not fail for them.
pub fn find(issuer: &str, dirs: &[&Path]) -> Option<PublicClient> {
    dirs.iter().find_map(|dir| {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(ISSUER_CONFIG_D))
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
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
                source: PathBuf::new(),
            })
        })
        .filter(|c| !c.client_id.is_empty())
}

/// One 5.x `issuer.config.d` file.
#[derive(Deserialize)]
struct IssuerFile {
    #[serde(alias = "issuer_url")]
    issuer: String,
    pubclient: Option<PubClientEntry>,
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
}

/// The `pubclient` of a 5.x `issuer.config.d` file, if it is for `issuer`.
pub fn from_issuer_file(text: &str, issuer: &str) -> Option<PublicClient> {
    let file: IssuerFile = serde_json::from_str(text).ok()?;
    if !same_issuer(&file.issuer, issuer) {
        return None;
    }
    let entry = file.pubclient.filter(|p| !p.client_id.is_empty())?;
    Some(PublicClient {
        client_id: entry.client_id,
        client_secret: entry
            .client_secret
            .filter(|s| !s.is_empty())
            .map(SecretString::new),
        scope: entry.scope.filter(|s| !s.trim().is_empty()),
        redirect_uris: entry.redirect_uris,
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
    }

    /// The system's directory first, then the person's; in each, the 5.x
    /// files before the 4.x list.
    #[test]
    fn finds_the_first_entry_in_oidc_agents_order() {
        let system = tempfile::tempdir().expect("tmp");
        let user = tempfile::tempdir().expect("tmp");
        let iss = "https://op.example";
        std::fs::write(user.path().join(PUBCLIENTS_CONFIG), format!("user@{iss}\n")).expect("w");
        let found = find(iss, &[system.path(), user.path()]).expect("user's");
        assert_eq!(found.client_id, "user");
        assert_eq!(found.source, user.path().join(PUBCLIENTS_CONFIG));
        std::fs::write(
            system.path().join(PUBCLIENTS_CONFIG),
            format!("sys4@{iss}\n"),
        )
        .expect("w");
        assert_eq!(
            find(iss, &[system.path(), user.path()])
                .expect("4.x")
                .client_id,
            "sys4"
        );
        let d = system.path().join(ISSUER_CONFIG_D);
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(d.join("broken"), "{not json").expect("w");
        std::fs::write(
            d.join("op"),
            format!(r#"{{"issuer":"{iss}/","pubclient":{{"client_id":"sys5"}}}}"#),
        )
        .expect("w");
        assert_eq!(
            find(iss, &[system.path(), user.path()])
                .expect("5.x")
                .client_id,
            "sys5"
        );
        assert!(find("https://none.example", &[system.path(), user.path()]).is_none());
    }
}
