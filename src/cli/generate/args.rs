//! `oidc-gen`'s command line: its flags and the choices they take.

use std::path::PathBuf;

use clap::{ArgGroup, Parser, ValueEnum};

use crate::cli::PasswordArgs;

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
    /// Discovery document URL (file:///PATH too), when not under the
    /// issuer's /.well-known/; without --issuer, the document's issuer
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
          default_missing_value = crate::paths::ENV_CLIENT_SECRET,
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
