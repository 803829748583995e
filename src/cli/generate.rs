//! `oidc-gen`: create, re-authenticate and manage accounts.
//!
//! Creating an account: discovery, then a refresh token from one of the
//! flows (an imported one, the code flow with PKCE through our own loopback
//! listener, or the device flow), a check of that token, the encrypted file,
//! and loading it into the running agent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{ArgGroup, Parser, ValueEnum};

use super::PasswordArgs;
use crate::account::{AccountConfig, split_list};
use crate::account_file::{self, kdf_params};
use crate::client::AgentClient;
use crate::oidc::discovery::{self, Metadata};
use crate::oidc::http;
use crate::oidc::token::{self, Credentials, RefreshParams, TokenSet};
use crate::secret::SecretString;
use crate::store::Store;

/// How to obtain the refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Flow {
    /// Authorization-code flow with PKCE through a loopback listener
    Code,
    /// Device authorization grant (RFC 8628)
    Device,
    /// Import a refresh token (--rt)
    Refresh,
}

/// Create and manage oidc-agent accounts.
#[derive(Debug, Parser)]
#[command(name = "oidc-gen", version, about, long_about = None,
    group(ArgGroup::new("manage").args(["accounts", "print", "delete", "update", "rename"])))]
pub struct Args {
    /// The account's short name
    #[arg(value_name = "ACCOUNT_SHORTNAME")]
    pub name: Option<String>,

    /// List the configured accounts
    #[arg(short = 'l', long = "accounts")]
    pub accounts: bool,
    /// Print the decrypted account to stdout
    #[arg(short = 'p', long = "print")]
    pub print: bool,
    /// Delete the account (revoking its refresh token at the provider)
    #[arg(short = 'd', long = "delete")]
    pub delete: bool,
    /// Re-encrypt the account in the current format (new password, legacy files)
    #[arg(short = 'u', long = "update")]
    pub update: bool,
    /// Rename the account to NEW
    #[arg(long = "rename", value_name = "NEW")]
    pub rename: Option<String>,
    /// Get a new refresh token for an existing account, keeping its other settings
    #[arg(long = "reauthenticate")]
    pub reauthenticate: bool,
    /// Answer yes to confirmation questions
    #[arg(short = 'y', long = "confirm-yes")]
    pub yes: bool,

    /// The issuer URL
    #[arg(long = "issuer", visible_alias = "iss", value_name = "URL")]
    pub issuer: Option<String>,
    /// Discovery document URL, when not under the issuer's /.well-known/
    #[arg(long = "configuration-endpoint", visible_aliases = ["config-endpoint", "discovery-endpoint"], value_name = "URL")]
    pub configuration_endpoint: Option<String>,
    /// The client id (implies --manual)
    #[arg(long = "client-id", value_name = "ID")]
    pub client_id: Option<String>,
    /// The client secret of a confidential client
    #[arg(long = "client-secret", value_name = "SECRET")]
    pub client_secret: Option<String>,
    /// The client is public (no secret; PKCE)
    #[arg(long = "pub")]
    pub public: bool,
    /// Do not register a client dynamically
    #[arg(short = 'm', long = "manual")]
    pub manual: bool,
    /// Scopes (repeatable or space-separated; `max`: all the provider offers)
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scope: Vec<String>,
    /// Audience(s) for access tokens
    #[arg(long = "aud", visible_alias = "audience", value_name = "AUDIENCE")]
    pub aud: Vec<String>,
    /// Extra CA bundle (PEM) for a provider with a private CA
    #[arg(long = "cp", visible_aliases = ["cert-path", "cert-file"], value_name = "FILE")]
    pub cert_path: Option<PathBuf>,

    /// Flow(s) to use, in order of preference
    #[arg(short = 'w', long = "flow", value_enum, value_name = "FLOW")]
    pub flow: Vec<Flow>,
    /// Import this refresh token (implies --flow refresh)
    #[arg(long = "rt", visible_alias = "refresh-token", value_name = "TOKEN")]
    pub rt: Option<String>,
    /// Import the refresh token from the environment variable VAR [default: OIDC_REFRESH_TOKEN]
    #[arg(long = "rt-env", value_name = "VAR", num_args = 0..=1, require_equals = true,
          default_missing_value = crate::paths::ENV_REFRESH_TOKEN)]
    pub rt_env: Option<String>,

    /// Redirect URI(s) for the code flow (repeatable)
    #[arg(
        long = "redirect-uri",
        visible_alias = "redirect-url",
        value_name = "URI"
    )]
    pub redirect_uri: Vec<String>,
    /// Loopback port(s) for the code flow (repeatable; `http://localhost:PORT`)
    #[arg(long = "port", value_name = "PORT")]
    pub port: Vec<u16>,
    /// Only print the authorization URL; do not open a browser
    #[arg(long = "no-url-call")]
    pub no_url_call: bool,
    /// Do not run the loopback listener; paste the redirected URL instead
    #[arg(long = "no-webserver")]
    pub no_webserver: bool,
    /// Finish a code flow with the URL the browser was redirected to
    #[arg(
        long = "codeExchange",
        visible_alias = "code-exchange",
        value_name = "URL"
    )]
    pub code_exchange: Option<String>,
    /// Device authorization endpoint, when discovery lacks it
    #[arg(
        long = "dae",
        visible_alias = "device-authorization-endpoint",
        value_name = "URL"
    )]
    pub dae: Option<String>,
    /// Seconds to wait for the browser or device approval
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Access token for a protected registration endpoint
    #[arg(long = "at", visible_alias = "access-token", value_name = "TOKEN")]
    pub at: Option<String>,
    /// Client name identifier for dynamic registration
    #[arg(
        long = "cnid",
        visible_alias = "client-name-identifier",
        value_name = "NAME"
    )]
    pub cnid: Option<String>,
    /// Print one access token and save nothing
    #[arg(long = "only-at")]
    pub only_at: bool,
    /// Load the account into the agent but do not save it
    #[arg(long = "no-save")]
    pub no_save: bool,

    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Entry point of `oidc-gen`.
pub fn main() -> ExitCode {
    let args: Args = super::parse();
    super::run("oidc-gen", || execute(&args))
}

fn now() -> i64 {
    crate::agent::handlers::now()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn execute(args: &Args) -> anyhow::Result<()> {
    let store = Store::default_dir();
    if args.accounts {
        for n in store.list()? {
            println!("{n}");
        }
        return Ok(());
    }
    let name = args
        .name
        .as_deref()
        .context("no account short name given (usage: oidc-gen NAME --issuer URL ...)")?;
    crate::store::check_name(name)?;
    if args.print {
        let password = args
            .password
            .get(&format!("Password for account '{name}': "), false)?;
        let opened = account_file::open(&store, name, &password)?;
        let json = serde_json::to_string_pretty(&opened.config)?;
        println!("{json}");
        return Ok(());
    }
    if args.delete {
        return delete(args, &store, name);
    }
    if let Some(new) = &args.rename {
        return rename(args, &store, name, new);
    }
    if args.update {
        return update(args, &store, name);
    }
    create(args, &store, name)
}

/// Scopes from the command line; `max` expands to everything advertised.
fn scopes(args: &Args, meta: &Metadata) -> String {
    let list: Vec<String> = args.scope.iter().flat_map(|s| split_list(s)).collect();
    if list.iter().any(|s| s == "max") {
        return meta.scopes_supported.join(" ");
    }
    if list.is_empty() {
        let wanted = ["openid", "profile", "email", "offline_access"];
        let offered: Vec<&str> = wanted
            .into_iter()
            .filter(|s| {
                meta.scopes_supported.is_empty() || meta.scopes_supported.iter().any(|o| o == s)
            })
            .collect();
        return offered.join(" ");
    }
    list.join(" ")
}

fn import_rt(args: &Args) -> anyhow::Result<Option<SecretString>> {
    if let Some(rt) = &args.rt {
        return Ok(Some(SecretString::new(rt.clone())));
    }
    if let Some(var) = &args.rt_env {
        let rt = std::env::var(var)
            .with_context(|| format!("--rt-env: the environment variable {var} is not set"))?;
        return Ok(Some(SecretString::new(rt)));
    }
    Ok(None)
}

fn create(args: &Args, store: &Store, name: &str) -> anyhow::Result<()> {
    let existing = store.path(name)?.exists();
    if existing && !args.reauthenticate && !args.only_at {
        bail!(
            "account '{name}' already exists; use `oidc-gen --reauthenticate {name}` for a new refresh token, \
             or `oidc-gen -d {name}` to delete it"
        );
    }
    let mut password = None;
    let mut config = if args.reauthenticate && existing {
        let pw = args
            .password
            .get(&format!("Password for account '{name}': "), false)?;
        let opened = account_file::open(store, name, &pw)?;
        password = Some(pw);
        opened.config
    } else {
        let issuer = args
            .issuer
            .as_deref()
            .context("--issuer URL is required to create an account")?;
        let client_id = args.client_id.as_deref().context(
            "--client-id is required (dynamic client registration is not available in this build); \
             use the id registered for this tool, e.g. `--client-id OpenCloudDesktop --pub`",
        )?;
        let mut c = AccountConfig::new(name, issuer, client_id);
        if let Some(s) = &args.client_secret {
            c.client_secret = SecretString::new(s.clone());
        }
        if let Some(cp) = &args.cert_path {
            let abs = std::fs::canonicalize(cp)
                .with_context(|| format!("--cp: cannot read {}", cp.display()))?;
            c.cert_path = abs.display().to_string();
        }
        if let Some(ep) = &args.configuration_endpoint {
            c.config_endpoint = ep.clone();
        }
        c.audience = args
            .aud
            .iter()
            .flat_map(|a| split_list(a))
            .collect::<Vec<_>>()
            .join(" ");
        c
    };
    let http = http::client(Some(std::path::Path::new(&config.cert_path)))?;
    let rt = runtime()?;
    let endpoint = Some(config.config_endpoint.as_str()).filter(|s| !s.is_empty());
    let meta = rt.block_on(discovery::discover(&http, &config.issuer_url, endpoint))?;
    if config.scope.is_none() && config.auth_scope.is_none() || !args.scope.is_empty() {
        config.set_scope(&scopes(args, &meta));
    }
    let tokens = match import_rt(args)? {
        Some(imported) => {
            // Check the imported token with one refresh; keep the rotated one.
            config.refresh_token = imported;
            rt.block_on(refresh_check(&http, &meta, &config))?
        }
        None => bail!(
            "no refresh token: pass --rt TOKEN or --rt-env (the interactive code and device flows are not yet \
             available in this build)"
        ),
    };
    if let Some(new_rt) = tokens.refresh_token.clone().filter(|t| !t.is_empty()) {
        config.refresh_token = new_rt;
    }
    if args.only_at {
        println!("{}", tokens.access_token.expose());
        return Ok(());
    }
    finish(args, store, config, password)
}

/// One refresh grant to prove the refresh token works.
pub async fn refresh_check(
    http: &reqwest::Client,
    meta: &Metadata,
    config: &AccountConfig,
) -> crate::Result<TokenSet> {
    let scopes = config.refresh_scopes();
    let p = RefreshParams {
        account: &config.name,
        token_endpoint: &meta.token_endpoint,
        creds: Credentials {
            client_id: &config.client_id,
            client_secret: Some(&config.client_secret),
        },
        refresh_token: &config.refresh_token,
        scopes: &scopes,
        audiences: &[],
    };
    Ok(token::refresh(http, p, now()).await?)
}

/// Saves the account (unless --no-save), records it in issuer.config and
/// loads it into the agent when one is running.
fn finish(
    args: &Args,
    store: &Store,
    config: AccountConfig,
    password: Option<SecretString>,
) -> anyhow::Result<()> {
    let name = config.name.clone();
    let opened = if args.no_save {
        account_file::Opened {
            path: store.path(&name)?,
            config,
            key: None,
            format: account_file::Format::Ours,
        }
    } else {
        let password = match password {
            Some(p) => p,
            None => args.password.get(
                &format!("Enter a password to encrypt account '{name}': "),
                true,
            )?,
        };
        let (path, key) = account_file::save(store, &config, &password, kdf_params())?;
        if let Err(e) = crate::issuers::record_default(store.dir(), &config.issuer_url, &name) {
            eprintln!("oidc-gen: warning: could not update issuer.config: {e}");
        }
        eprintln!("Saved account '{name}' to {}", path.display());
        account_file::Opened {
            config,
            key: Some(key),
            path,
            format: account_file::Format::Ours,
        }
    };
    match AgentClient::from_env() {
        Ok(client) => match super::add::load(&client, opened, None, false, None) {
            Ok(()) => {
                eprintln!(
                    "Account '{name}' loaded into the agent; get a token with `oidc-token {name}`"
                )
            }
            Err(e @ crate::Error::AgentUnreachable { .. }) if !args.no_save => {
                eprintln!("oidc-gen: note: {e}; load the account later with `oidc-add {name}`");
            }
            Err(e) => return Err(e.into()),
        },
        Err(_) if !args.no_save => {
            eprintln!("No agent running; load the account later with `oidc-add {name}`");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn confirm(args: &Args, question: &str) -> anyhow::Result<bool> {
    if args.yes {
        return Ok(true);
    }
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        bail!("{question} — no terminal to confirm; pass -y/--confirm-yes");
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn delete(args: &Args, store: &Store, name: &str) -> anyhow::Result<()> {
    store.read(name)?;
    if !confirm(args, &format!("Delete account '{name}'?"))? {
        bail!("not deleted");
    }
    if let Ok(client) = AgentClient::from_env() {
        let _ = client.call(&crate::protocol::Request::Remove {
            account: name.to_owned(),
        });
    }
    store.delete(name)?;
    eprintln!("Deleted account '{name}'.");
    Ok(())
}

fn rename(args: &Args, store: &Store, name: &str, new: &str) -> anyhow::Result<()> {
    crate::store::check_name(new)?;
    if store.path(new)?.exists() {
        bail!("account '{new}' already exists");
    }
    let password = args
        .password
        .get(&format!("Password for account '{name}': "), false)?;
    let mut opened = account_file::open(store, name, &password)?;
    opened.config.name = new.to_owned();
    account_file::save(store, &opened.config, &password, kdf_params())?;
    store.delete(name)?;
    eprintln!("Renamed account '{name}' to '{new}'.");
    Ok(())
}

fn update(args: &Args, store: &Store, name: &str) -> anyhow::Result<()> {
    let password = args
        .password
        .get(&format!("Password for account '{name}': "), false)?;
    let opened = account_file::open(store, name, &password)?;
    if opened.format == account_file::Format::OidcAgent {
        let backup = store.dir().join(format!("{name}.bak"));
        std::fs::copy(&opened.path, &backup)
            .with_context(|| format!("cannot back up to {}", backup.display()))?;
        crate::store::make_private(&backup)?;
        eprintln!("Kept the oidc-agent file as {}", backup.display());
    }
    let new_pw = match std::env::var("OIDC_NEW_ENCRYPTION_PW") {
        Ok(p) => SecretString::new(p),
        Err(_) if args.password.given() => password,
        Err(_) => super::prompt_password(&format!("New password for account '{name}': "), true)?,
    };
    account_file::save(store, &opened.config, &new_pw, kdf_params())?;
    eprintln!("Account '{name}' re-encrypted in the oidc-agent-rs format.");
    Ok(())
}
