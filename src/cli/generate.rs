//! `oidc-gen`: create, re-authenticate and manage accounts.
//!
//! Creating an account: discovery, a client (given, or registered per
//! RFC 7591), then a refresh token from one of the flows (an imported one,
//! the code flow with PKCE through our own loopback listener, or the device
//! flow), the encrypted file, and loading it into the running agent. The
//! flows live in the submodules; this file holds the command line and the
//! steps every path shares. Only stdout carries results (`-p`, `-l`,
//! `--only-at`); everything for the user goes to stderr.

mod code;
mod complete;
mod create;
mod device;
mod edit;
mod given;
mod interrupt;
mod issuer;
mod manage;
mod pasted;
mod registration;
mod runtime;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{ArgGroup, Parser, ValueEnum};

use super::PasswordArgs;
use crate::account::config::{AccountConfig, split_list};
use crate::account::store::Store;
use crate::error::Error;
use crate::oidc::discovery::{self, Metadata};
use crate::oidc::http;
use crate::oidc::token::{Credentials, Endpoint};
use crate::secret::SecretString;

/// How to obtain the refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Flow {
    /// Authorization-code flow with PKCE through a loopback listener
    Code,
    /// Device authorization grant (RFC 8628)
    Device,
    /// Import a refresh token (--rt)
    Refresh,
    /// oidc-agent's resource-owner password flow: refused (not supported)
    #[value(hide = true)]
    Password,
}

/// How oidc-gen may ask the user (oidc-agent's `--prompt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PromptMode {
    /// On the terminal
    Cli,
    /// oidc-agent's GUI prompt; here the terminal, as `cli`
    Gui,
    /// Never ask: defaults for questions, a password only from --pw-*
    None,
}

/// How a confidential client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientAuthArg {
    /// HTTP Basic (`client_secret_basic`)
    Basic,
    /// In the form body (`client_secret_post`)
    Post,
}

/// Create and manage oidc-agent accounts.
#[derive(Debug, Clone, Parser)]
#[command(name = "oidc-gen", version, long_about = None,
    group(ArgGroup::new("manage").args(["accounts", "print", "delete", "update", "rename"])))]
pub struct Args {
    /// The account's short name
    #[arg(value_name = "ACCOUNT_SHORTNAME")]
    pub name: Option<String>,

    /// List the configured accounts
    #[arg(short = 'l', long = "accounts")]
    pub accounts: bool,
    /// Print the decrypted account (this one, or FILE) to stdout
    #[arg(short = 'p', long = "print", value_name = "FILE", num_args = 0..=1)]
    pub print: Option<Option<String>>,
    /// Delete the account (revoking its refresh token at the provider)
    #[arg(short = 'd', long = "delete")]
    pub delete: bool,
    /// Re-encrypt the account (this one, or FILE) in the current format, with a new password (from OIDC_NEW_ENCRYPTION_PW or the terminal); encrypt a plain JSON account
    #[arg(short = 'u', long = "update", value_name = "FILE", num_args = 0..=1)]
    pub update: Option<Option<String>>,
    /// Rename the account to NEW
    #[arg(long = "rename", value_name = "NEW")]
    pub rename: Option<String>,
    /// Get a new refresh token for an existing account, keeping its other settings
    #[arg(long = "reauthenticate")]
    pub reauthenticate: bool,
    /// Answer yes to confirmation questions
    #[arg(short = 'y', long = "confirm-yes")]
    pub yes: bool,
    /// Answer no to confirmation questions
    #[arg(long = "confirm-no", conflicts_with = "yes")]
    pub no: bool,
    /// Take the default answer of confirmation questions
    #[arg(long = "confirm-default")]
    pub confirm_default: bool,
    /// How to ask: cli, gui (the terminal here too) or none (never ask)
    #[arg(long = "prompt", value_enum, value_name = "MODE")]
    pub prompt: Option<PromptMode>,

    /// The issuer URL
    #[arg(long = "issuer", visible_alias = "iss", value_name = "URL")]
    pub issuer: Option<String>,
    /// Discovery document URL, when not under the issuer's /.well-known/
    #[arg(long = "configuration-endpoint", visible_aliases = ["config-endpoint", "discovery-endpoint"], value_name = "URL")]
    pub configuration_endpoint: Option<String>,
    /// The client id (implies --manual)
    #[arg(long = "client-id", value_name = "ID")]
    pub client_id: Option<String>,
    /// The client secret of a confidential client (empty: a public client);
    /// visible to other users in `ps`, prefer --client-secret-env or --client-secret-file
    #[arg(long = "client-secret", value_name = "SECRET")]
    pub client_secret: Option<String>,
    /// Read the client secret from the environment variable VAR [default: OIDC_CLIENT_SECRET]
    #[arg(long = "client-secret-env", value_name = "VAR", num_args = 0..=1, require_equals = true,
          default_missing_value = given::ENV_CLIENT_SECRET,
          conflicts_with_all = ["client_secret", "client_secret_file"])]
    pub client_secret_env: Option<String>,
    /// Read the client secret from the first line of FILE
    #[arg(long = "client-secret-file", value_name = "FILE", conflicts_with = "client_secret")]
    pub client_secret_file: Option<PathBuf>,
    /// Client authentication at the token endpoint [default: basic when the
    /// provider offers it, else post]
    #[arg(long = "client-auth", value_enum, value_name = "METHOD")]
    pub client_auth: Option<ClientAuthArg>,
    /// Read the client (client_id, client_secret, redirect_uris, scope,
    /// issuer) from the JSON FILE (implies --manual)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The client is public (no secret; PKCE); without --client-id, the
    /// issuer's preregistered public client from oidc-agent's
    /// pubclients.config or issuer.config(.d) (account directory, then
    /// /etc/oidc-agent)
    #[arg(long = "pub")]
    pub public: bool,
    /// Do not register a client dynamically; for an account that exists,
    /// edit its issuer, client, scopes and redirect URIs in prompts, then
    /// log in again
    #[arg(short = 'm', long = "manual")]
    pub manual: bool,
    /// Scopes (repeatable or space-separated; `max`: all the provider offers)
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scope: Vec<String>,
    /// All scopes the provider offers (same as --scope max)
    #[arg(long = "scope-all", visible_alias = "scope-max")]
    pub scope_max: bool,
    /// Audience(s) for access tokens
    #[arg(long = "aud", visible_alias = "audience", value_name = "AUDIENCE")]
    pub aud: Vec<String>,
    /// Extra CA bundle (PEM) for a provider with a private CA
    #[arg(long = "cp", visible_aliases = ["cert-path", "cert-file"], value_name = "FILE")]
    pub cert_path: Option<PathBuf>,

    /// Flow(s) to use, in order of preference
    #[arg(short = 'w', long = "flow", value_enum, value_name = "FLOW")]
    pub flow: Vec<Flow>,
    /// Import this refresh token (implies --flow refresh); visible to other
    /// users in `ps`, prefer --rt-env
    #[arg(long = "rt", visible_alias = "refresh-token", value_name = "TOKEN")]
    pub rt: Option<String>,
    /// Import the refresh token from the environment variable VAR [default: OIDC_REFRESH_TOKEN]
    #[arg(long = "rt-env", visible_alias = "refresh-token-env", value_name = "VAR", num_args = 0..=1, require_equals = true,
          default_missing_value = crate::paths::ENV_REFRESH_TOKEN)]
    pub rt_env: Option<String>,

    /// Redirect URI(s) for the code flow (repeatable, or a space-separated list)
    #[arg(
        long = "redirect-uri",
        visible_alias = "redirect-url",
        value_name = "URI",
        value_delimiter = ' '
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
    #[arg(long = "codeExchange", visible_alias = "code-exchange", value_name = "URL")]
    pub code_exchange: Option<String>,
    /// Device authorization endpoint, when discovery lacks it
    #[arg(long = "dae", visible_alias = "device-authorization-endpoint", value_name = "URL")]
    pub dae: Option<String>,
    /// Seconds to wait for the browser or device approval
    #[arg(long = "timeout", value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Access token for a protected registration endpoint
    #[arg(long = "at", visible_alias = "access-token", value_name = "TOKEN")]
    pub at: Option<String>,
    /// Client name identifier for dynamic registration
    #[arg(long = "cnid", visible_alias = "client-name-identifier", value_name = "NAME")]
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

/// The account name of `oidc-gen --only-at` without one (nothing is saved
/// under it).
const ONLY_AT_NAME: &str = "only-at";

/// Entry point of `oidc-gen`.
pub fn main() -> u8 {
    let mut args: Args = super::parse(super::flags::Tool::Gen);
    args.password.no_prompt = args.prompt == Some(PromptMode::None);
    super::run("oidc-gen", || execute(&args))
}

fn execute(args: &Args) -> anyhow::Result<()> {
    let mut store = Store::default_dir();
    if args.accounts {
        use std::io::IsTerminal as _;
        let names = store.list()?;
        let tty = std::io::stdout().is_terminal();
        super::write_stdout(&super::add::listing(
            &names,
            super::add::CONFIGURED,
            None,
            tty,
        ))?;
        return Ok(());
    }
    // oidc-agent's `-p FILE`/`-u FILE`: a short name or a path.
    let file = args.print.clone().or(args.update.clone()).flatten();
    let mut name = match (args.name.clone().or(file.clone()), &args.code_exchange) {
        (Some(name), _) => name,
        // As with oidc-agent: the pending login is found by its state.
        (None, Some(url)) => match pasted::pending_account(&store, url)? {
            Some(name) => name,
            // Handed to the oidc-gen that waits for it.
            None => return Ok(()),
        },
        // Nothing is saved: the name only labels the draft.
        (None, None) if args.only_at => ONLY_AT_NAME.to_owned(),
        (None, None) => {
            anyhow::bail!("no account short name given (usage: oidc-gen NAME --issuer URL ...)")
        }
    };
    // A FILE (with a '/'), also given as NAME: `oidc-gen -p --pw-env FILE`.
    if (args.print.is_some() || args.update.is_some()) && name.contains('/') {
        let Some((file_store, base)) = Store::of_named_file(Path::new(&name)) else {
            anyhow::bail!("not an account file: {name}");
        };
        (store, name) = (file_store, base);
    }
    let name = name.as_str();
    store.path(name)?;
    if args.print.is_some() {
        let (opened, _) = super::open_account(&args.password, &store, name)?;
        let json = serde_json::to_string_pretty(&opened.config)?;
        println!("{json}");
        return Ok(());
    }
    if args.delete {
        return manage::delete(args, &store, name);
    }
    if let Some(new) = &args.rename {
        return manage::rename(args, &store, name, new);
    }
    if args.update.is_some() {
        return manage::update(args, &store, name);
    }
    // oidc-agent's `oidc-gen -m NAME` for an account that exists: edited in
    // prompts, then logged in again.
    if args.manual && args.client_id.is_none() && !args.reauthenticate && store.path(name)?.exists()
    {
        return edit::edit(args, &store, name);
    }
    create::create(args, &store, name)
}

/// What every flow needs, set up once: the HTTP client (with the account's
/// CA bundle), a runtime for it, the provider's metadata, and (from the
/// first wait for the user on) the Ctrl-C handler.
struct Session<'a> {
    args: &'a Args,
    rt: runtime::Runtime,
    http: reqwest::Client,
    /// For the token endpoint: waits for an answer (`http::patient_client`).
    tokens: reqwest::Client,
    meta: Metadata,
    interrupt: std::cell::OnceCell<interrupt::Interrupt>,
}

/// A session that ends with an undo armed gave the login up (an error
/// ended it: a denied or expired login, a failed exchange, a password that
/// could not be had): what the run made at the provider is removed, as a
/// Ctrl-C would remove it.
impl Drop for Session<'_> {
    fn drop(&mut self) {
        let Some(undo) = self.disarm() else {
            return;
        };
        let said = self.rt.block_on(interrupt::within_deadline(undo));
        eprintln!("oidc-gen: {said}");
    }
}

impl<'a> Session<'a> {
    /// Builds the client and runs discovery for `config`'s issuer.
    fn open(args: &'a Args, config: &AccountConfig) -> anyhow::Result<Self> {
        let cert_path = Some(Path::new(&config.cert_path));
        let http = http::client(cert_path).map_err(Error::from)?;
        let tokens = http::patient_client(cert_path).map_err(Error::from)?;
        // oidc-gen makes one request at a time, on the main thread; the
        // runtime's own thread runs the Ctrl-C task while the main thread
        // blocks outside the runtime (the loopback listener, a password prompt).
        let rt = runtime::Runtime::start().context("cannot start the async runtime")?;
        let endpoint = Some(config.config_endpoint.as_str()).filter(|s| !s.is_empty());
        let meta = rt
            .block_on(discovery::discover(&http, &config.issuer_url, endpoint))
            .map_err(Error::from)?;
        Ok(Self {
            args,
            rt,
            http,
            tokens,
            meta,
            interrupt: std::cell::OnceCell::new(),
        })
    }

    /// The provider's token endpoint, asked as `config`'s client.
    fn token_endpoint<'s>(&'s self, config: &'s AccountConfig) -> Endpoint<'s> {
        Endpoint {
            http: &self.tokens,
            url: &self.meta.token_endpoint,
            creds: Credentials::of(config),
        }
    }

    /// Runs a provider call on the session's runtime; its error becomes the
    /// library's `Error`, which carries the exit code.
    fn run<T, E>(&self, call: impl std::future::Future<Output = Result<T, E>>) -> crate::Result<T>
    where
        Error: From<E>,
    {
        Ok(self.rt.block_on(call)?)
    }

    /// Runs a token request that cannot be sent again ([`Self::run`]), saying
    /// so when the provider takes longer than requests usually may: it is
    /// waited for, since its answer may replace the refresh token.
    fn await_answer<T, E>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> crate::Result<T>
    where
        Error: From<E>,
    {
        self.run(async {
            let mut call = std::pin::pin!(call);
            tokio::select! {
                answer = &mut call => answer,
                () = tokio::time::sleep(http::deadlines().request) => {
                    eprintln!(
                        "oidc-gen: the provider has not answered yet; waiting for its answer (up \
                         to {} s), which may replace the refresh token it was sent",
                        http::ANSWER_DEADLINE.as_secs()
                    );
                    call.await
                }
            }
        })
    }

    /// Runs `wait` (for the user: `what` names it) with Ctrl-C ending
    /// oidc-gen with exit code 130 and a line naming `what`, after the
    /// armed undo ([`Self::arm`]).
    fn waiting<T>(&self, what: &'static str, wait: impl FnOnce() -> T) -> anyhow::Result<T> {
        Ok(self.interrupt()?.during(what, wait))
    }

    /// Arms `undo`: what this run made at the provider and nothing would
    /// use if the login ended here ([`interrupt::Interrupt::arm`]); a
    /// signal runs it, and so does the session's end unless disarmed.
    fn arm(&self, undo: Option<interrupt::Undo>) -> anyhow::Result<()> {
        self.interrupt()?.arm(undo);
        Ok(())
    }

    /// Nothing is to be undone: the login is saved, or handed on. Returns
    /// what was armed, for a caller that may arm it again.
    fn disarm(&self) -> Option<interrupt::Undo> {
        self.interrupt.get().and_then(interrupt::Interrupt::disarm)
    }

    /// Runs `step` (`what`: "saving the account") to its end whatever signal
    /// comes ([`interrupt::Interrupt::critical`]).
    fn critical<T>(
        &self,
        what: &'static str,
        step: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.interrupt()?.critical(what, step)
    }

    fn interrupt(&self) -> anyhow::Result<&interrupt::Interrupt> {
        if let Some(installed) = self.interrupt.get() {
            return Ok(installed);
        }
        let installed = interrupt::Interrupt::install(self.rt.handle())
            .context("cannot install the Ctrl-C handler")?;
        Ok(self.interrupt.get_or_init(|| installed))
    }
}

/// Asks for the password of an existing account and decrypts it (for
/// `--reauthenticate`: the new refresh token keeps the other fields).
fn open_existing(
    args: &Args,
    store: &Store,
    name: &str,
) -> anyhow::Result<(AccountConfig, SecretString)> {
    let (opened, pw) = super::open_account(&args.password, store, name)?;
    Ok((opened.config, pw))
}

/// The authorization scopes of `config`, split on white space.
fn auth_scopes(config: &AccountConfig) -> Vec<String> {
    split_list(
        config
            .auth_scope
            .as_deref()
            .or(config.scope.as_deref())
            .unwrap_or(""),
    )
}

/// Whether the provider offers `scope` (one that lists none offers all).
fn offered(meta: &Metadata, scope: &str) -> bool {
    meta.scopes_supported.is_empty() || meta.scopes_supported.iter().any(|o| o == scope)
}

/// Scopes from the command line; `max` expands to everything advertised.
fn scopes(args: &Args, meta: &Metadata) -> String {
    let list: Vec<String> = args.scope.iter().flat_map(|s| split_list(s)).collect();
    if scope_max(args) {
        return meta.scopes_supported.join(" ");
    }
    if list.is_empty() {
        let wanted = ["openid", "profile", "email", "offline_access"];
        let offered: Vec<&str> = wanted.into_iter().filter(|s| offered(meta, s)).collect();
        return offered.join(" ");
    }
    list.join(" ")
}

/// `--scope max` (or `--scope-all`): every scope the client may ask for.
fn scope_max(args: &Args) -> bool {
    args.scope_max
        || args
            .scope
            .iter()
            .flat_map(|s| split_list(s))
            .any(|s| s == "max")
}

/// What a login asks for: `scope` with `openid` and `offline_access` added
/// where the provider offers them, as oidc-agent's `defineUsableScopes`
/// adds them to every `--scope`: without `openid` an OpenID provider refuses
/// the request (OIDC Core §3.1.2.1), without `offline_access` many issue no
/// refresh token, or one that ends with the browser session (§11). A
/// provider that lists scopes without one of them (a pure OAuth 2 server
/// without `openid`; Google, which wants `access_type=offline` instead of
/// `offline_access`) is not asked for it.
fn login_scopes(mut list: Vec<String>, meta: &Metadata) -> String {
    for required in ["openid", "offline_access"] {
        if !list.iter().any(|s| s == required) && offered(meta, required) {
            list.push(required.to_owned());
        }
    }
    list.join(" ")
}
