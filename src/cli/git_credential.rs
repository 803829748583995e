//! `git-credential-oidc`: a git credential helper answering with an access
//! token from the agent.
//!
//! `git config credential.https://git.example.helper 'oidc NAME'` makes git
//! run `git-credential-oidc NAME get|store|erase` with a request on stdin
//! (`key=value` lines up to a blank line or EOF, gitcredentials(7)). `get`
//! answers `username` (`--username`, default `oauth2`), `password` (the
//! access token) and `password_expiry_utc`, so git never reuses an expired
//! token. A server that asks for a bearer token only (`WWW-Authenticate:
//! Bearer`), from a git that offers the `authtype` capability (2.46+), gets
//! it as one (`authtype=Bearer`, `credential`): curl would not send it a
//! password. `store` does nothing; `erase` means the server refused the token
//! git sent: when that is the agent's cached token (not another helper's
//! password, nor one already replaced), the agent drops it, so the next
//! `get` refreshes.
//! Unknown operations are ignored, as the protocol asks. Only this helper
//! reads stdin; `oidc-token` never does.

use anyhow::Context as _;
use clap::Parser;

use crate::client::AgentClient;
use crate::protocol::{Request, TokenRequest};
use crate::secret::SecretString;

/// Answer git's credential requests with an access token from oidc-agent.
#[derive(Debug, Parser)]
#[command(name = "git-credential-oidc", version, long_about = None)]
pub struct Args {
    /// The user name git sends with the token
    #[arg(long = "username", value_name = "USER", default_value = "oauth2")]
    pub username: String,
    /// Fail (exit 4) instead of loading a configured account that is not loaded
    #[arg(long = "no-autoload")]
    pub no_autoload: bool,
    /// Account short name, or issuer URL (anything with "://")
    #[arg(value_name = "ACCOUNT_SHORTNAME|ISSUER_URL")]
    pub target: String,
    /// What git asks: get, store or erase (others are ignored)
    #[arg(value_name = "OPERATION")]
    pub operation: String,
}

/// Entry point of `git-credential-oidc`.
pub fn main() -> u8 {
    let args: Args = super::parse_plain();
    super::run("git-credential-oidc", || execute(&args))
}

/// The most of git's request that is read.
const MAX_REQUEST: u64 = 64 << 10;

/// Reads git's request: `key=value` lines up to a blank line or EOF, and
/// the `password` apart. Keys other than the ones git documents are kept
/// too; values are not secret for `get` (git sends no password then), but
/// `erase` carries the refused token, so the whole input is read into
/// zeroizing memory and the password kept as a secret.
pub fn read_request(input: &mut dyn std::io::BufRead) -> std::io::Result<GitRequest> {
    use std::io::{BufRead as _, Read as _};
    let mut fields = Vec::new();
    let mut password = None;
    let mut line = zeroize::Zeroizing::new(String::new());
    // Git's requests are a few lines; more is not git (a file piped in by
    // mistake, /dev/zero), and is not held whole.
    let mut input = input.take(MAX_REQUEST);
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            if input.limit() == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "more than {} KiB: not a request of git's",
                        MAX_REQUEST >> 10
                    ),
                ));
            }
            break;
        }
        let l = line.trim_end_matches(['\n', '\r']);
        if l.is_empty() {
            break;
        }
        match l.split_once('=') {
            // `credential`: the token itself, in git's `authtype` form.
            Some(("password" | "credential", v)) => password = Some(SecretString::from(v)),
            Some((k, v)) => fields.push((k.to_owned(), v.to_owned())),
            None => {}
        }
    }
    Ok(GitRequest { fields, password })
}

/// What git sent on stdin.
#[derive(Debug)]
pub struct GitRequest {
    /// Every `key=value` but the password, in order.
    pub fields: Vec<(String, String)>,
    /// The `password` (for `erase`, the refused token).
    pub password: Option<SecretString>,
}

impl GitRequest {
    /// Whether the token goes as a bearer token (gitcredentials(7),
    /// `authtype`): git can take one, and the server asked for one.
    pub fn wants_bearer(&self) -> bool {
        let has = |key: &str, is: &dyn Fn(&str) -> bool| {
            self.fields.iter().any(|(k, v)| k == key && is(v))
        };
        has("capability[]", &|v| v == "authtype")
            && has("wwwauth[]", &|v| {
                v.split_whitespace()
                    .next()
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"))
            })
    }
}

/// The answer to `get`: the token as the password of `username`, or as a
/// bearer token (`bearer`, see [`GitRequest::wants_bearer`]).
pub fn answer(username: &str, token: &str, expires_at: Option<i64>, bearer: bool) -> String {
    let mut out = if bearer {
        format!("capability[]=authtype\nauthtype=Bearer\ncredential={token}\n")
    } else {
        format!("username={username}\npassword={token}\n")
    };
    if let Some(exp) = expires_at.filter(|e| *e > 0) {
        out.push_str(&format!("password_expiry_utc={exp}\n"));
    }
    out
}

/// `loads_itself`: this client autoloads the account, so the agent must not.
fn token_request(args: &Args, loads_itself: bool) -> TokenRequest {
    TokenRequest {
        application_hint: Some("git-credential-oidc".into()),
        // The agent's own autoload follows the flag too, as for oidc-token.
        no_autoload: args.no_autoload || loads_itself,
        ..TokenRequest::for_target(&args.target)
    }
}

fn execute(args: &Args) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let request = read_request(&mut stdin.lock()).context("reading git's request from stdin")?;
    let client = || AgentClient::from_env();
    match args.operation.as_str() {
        "get" => {
            let client = client()?;
            // git's own switch for "never prompt" (background fetches, IDEs).
            let no_prompt = std::env::var_os("GIT_TERMINAL_PROMPT")
                .is_some_and(|v| v == "0")
                .then_some("git's GIT_TERMINAL_PROMPT=0");
            let reply = super::autoload::call(
                &client,
                &args.target,
                !args.no_autoload,
                no_prompt,
                |own| Request::AccessToken(token_request(args, own)),
            )?;
            let token = reply
                .access_token
                .context("the agent's reply has no token")?;
            let out = zeroize::Zeroizing::new(answer(
                &args.username,
                token.expose(),
                reply.expires_at,
                request.wants_bearer(),
            ));
            super::write_stdout(&out)?;
        }
        "erase" => {
            // A refusal for another user name is not about our token.
            if request
                .fields
                .iter()
                .any(|(k, v)| k == "username" && *v != args.username)
            {
                return Ok(());
            }
            let client = client()?;
            // Another helper's password, or a token the agent has replaced
            // already: dropping the cached one would cost a refresh (and a
            // rotation) for nothing. Asked without autoload or a refresh
            // ahead of time: only what the agent holds now counts.
            if let Some(refused) = &request.password {
                let current = client.call(&Request::AccessToken(TokenRequest {
                    no_autoload: true,
                    ..token_request(args, true)
                }));
                match current.ok().and_then(|r| r.access_token) {
                    Some(current) if current == *refused => {}
                    _ => return Ok(()),
                }
            }
            client.call(&Request::DropToken(token_request(args, false)))?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_target_and_carries_no_autoload() {
        let args = |target: &str, no_autoload: bool| Args {
            username: "oauth2".into(),
            no_autoload,
            target: target.into(),
            operation: "get".into(),
        };
        let by_name = token_request(&args("acct", true), false);
        assert_eq!(by_name.account.as_deref(), Some("acct"));
        assert!(by_name.issuer.is_none());
        // The agent must not autoload either when git's helper is told not to.
        assert!(by_name.no_autoload);
        let by_issuer = token_request(&args("https://op.example/", false), false);
        assert_eq!(by_issuer.issuer.as_deref(), Some("https://op.example/"));
        assert!(by_issuer.account.is_none() && !by_issuer.no_autoload);
        // Nor when the helper loads the account itself.
        assert!(token_request(&args("acct", false), true).no_autoload);
    }

    #[test]
    fn reads_until_blank_line_and_keeps_the_password_apart() {
        let mut input: &[u8] =
            b"protocol=https\nhost=git.example\nusername=oauth2\npassword=SECRET\n\nrest=ignored\n";
        let request = read_request(&mut input).expect("read");
        assert_eq!(
            request.password.as_ref().map(SecretString::expose),
            Some("SECRET")
        );
        assert_eq!(
            request.fields,
            vec![
                ("protocol".to_owned(), "https".to_owned()),
                ("host".to_owned(), "git.example".to_owned()),
                ("username".to_owned(), "oauth2".to_owned()),
            ]
        );
        let mut eof: &[u8] = b"protocol=http\nhost=h";
        assert_eq!(read_request(&mut eof).expect("read").fields.len(), 2);
        // Not git's: /dev/zero, or a file piped in by mistake.
        let mut zeros = std::io::BufReader::new(std::io::Read::take(std::io::repeat(0), 1 << 30));
        let err = read_request(&mut zeros).expect_err("not git's");
        assert!(err.to_string().contains("not a request of git's"), "{err}");
    }

    #[test]
    fn get_answer() {
        assert_eq!(
            answer("oauth2", "AT", Some(42), false),
            "username=oauth2\npassword=AT\npassword_expiry_utc=42\n"
        );
        assert_eq!(
            answer("me", "AT", Some(0), false),
            "username=me\npassword=AT\n"
        );
        assert_eq!(
            answer("me", "AT", Some(42), true),
            "capability[]=authtype\nauthtype=Bearer\ncredential=AT\npassword_expiry_utc=42\n"
        );
    }

    /// A bearer token only for a git that can take one and a server that
    /// asked for one; `erase` of one carries it as `credential`.
    #[test]
    fn a_bearer_token_where_git_and_the_server_both_want_one() {
        let read = |text: &str| read_request(&mut text.as_bytes()).expect("read");
        let both = "capability[]=authtype\nprotocol=https\nwwwauth[]=Bearer realm=\"git\"\n";
        assert!(read(both).wants_bearer());
        assert!(!read("protocol=https\nwwwauth[]=Bearer realm=\"git\"\n").wants_bearer());
        assert!(!read("capability[]=authtype\nwwwauth[]=Basic realm=\"git\"\n").wants_bearer());
        let erase = read("authtype=Bearer\ncredential=AT\n");
        assert_eq!(
            erase.password.as_ref().map(SecretString::expose),
            Some("AT")
        );
    }

    #[test]
    fn command_line_as_git_runs_it() {
        let a = Args::try_parse_from(["git-credential-oidc", "--username", "bob", "kit", "get"])
            .expect("parse");
        assert_eq!((a.username.as_str(), a.target.as_str()), ("bob", "kit"));
        let d = Args::try_parse_from(["git-credential-oidc", "kit", "erase"]).expect("parse");
        assert_eq!(d.username, "oauth2");
    }
}
