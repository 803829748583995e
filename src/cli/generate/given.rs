//! The client given on oidc-gen's command line: `--client-id`, the secret
//! from `--client-secret`, `--client-secret-env` or `--client-secret-file`,
//! or a client file (`-f FILE`, oidc-agent's client configuration), and how
//! it authenticates at the token endpoint.
//!
//! An empty secret means a public client, as in oidc-agent: the ownCloud
//! Infinite Scale documentation passes `--client-secret="" --pub`.

use anyhow::Context as _;
use serde::Deserialize;

use super::args::{Args, ClientAuthArg};
use crate::account::config::{AccountConfig, split_list};
use crate::error::Error;
use crate::oidc::discovery::Metadata;
use crate::oidc::token::{self, KEY_AUTH_METHOD};
use crate::secret::SecretString;

/// oidc-agent's client file (`-f FILE`): a registration response or a
/// hand-written client; the fields we use.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ClientFile {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    #[serde(default)]
    pub(super) redirect_uris: Vec<String>,
    scope: Option<String>,
    #[serde(default, alias = "issuer")]
    issuer_url: Option<String>,
    token_endpoint_auth_method: Option<String>,
}

/// Reads `-f FILE`, if given.
pub(super) fn client_file(args: &Args) -> anyhow::Result<Option<ClientFile>> {
    let Some(path) = &args.file else {
        return Ok(None);
    };
    let text = crate::files::read_regular(path, 1 << 20, "a client file")
        .and_then(|b| {
            String::from_utf8(b)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
        .map_err(|e| Error::io("read client file", path, e))?;
    let file = serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "-f {}: not a client configuration (JSON with client_id): {e}",
            path.display()
        ))
    })?;
    Ok(Some(file))
}

/// The issuer: `--issuer`, else the client file's.
pub(super) fn issuer(args: &Args, file: Option<&ClientFile>) -> Option<String> {
    args.issuer
        .clone()
        .or_else(|| file.and_then(|f| f.issuer_url.clone()))
}

/// The client secret from the command line or the client file; `None` for
/// a public client (no secret, or an empty one). Warns when it was given in
/// argv, where `ps` shows it to every local user.
pub(super) fn secret(
    args: &Args,
    file: Option<&ClientFile>,
) -> anyhow::Result<Option<SecretString>> {
    let secret = if let Some(s) = &args.client_secret {
        if !s.is_empty() {
            crate::cli::warn_secret_in_argv(
                "oidc-gen",
                "--client-secret",
                "--client-secret-env or --client-secret-file",
            );
        }
        Some(SecretString::new(s.clone()))
    } else if let Some(var) = &args.client_secret_env {
        Some(crate::cli::secret_from_env("--client-secret-env", var)?)
    } else if let Some(path) = &args.client_secret_file {
        Some(crate::cli::secret_from_file(
            "read client secret file",
            path,
        )?)
    } else {
        file.and_then(|f| f.client_secret.clone())
    };
    Ok(secret.filter(|s| !s.is_empty()))
}

/// Fills the client of a new account from the command line and client file.
pub(super) fn fill(
    args: &Args,
    file: Option<&ClientFile>,
    config: &mut AccountConfig,
) -> anyhow::Result<()> {
    if let Some(id) = args
        .client_id
        .clone()
        .or_else(|| file.and_then(|f| f.client_id.clone()))
    {
        config.client_id = id;
    }
    if let Some(s) = secret(args, file)? {
        config.client_secret = s;
    }
    if let Some(f) = file {
        if config.redirect_uris.is_empty() {
            config.redirect_uris = f.redirect_uris.clone();
        }
        if let Some(scope) = f.scope.as_deref().filter(|s| !s.is_empty()) {
            config.set_scope(&split_list(scope).join(" "));
        }
        if let Some(m) = &f.token_endpoint_auth_method {
            config
                .extra
                .insert(KEY_AUTH_METHOD.to_owned(), m.clone().into());
        }
    }
    Ok(())
}

/// Puts the provider options given on the command line into `config`: the
/// CA bundle (`--cp`, made absolute: the agent and later runs resolve it
/// from elsewhere), the configuration endpoint and the audiences.
pub(super) fn fill_provider(args: &Args, config: &mut AccountConfig) -> anyhow::Result<()> {
    if let Some(cp) = &args.cert_path {
        let abs = std::fs::canonicalize(cp)
            .with_context(|| format!("--cp: cannot read {}", cp.display()))?;
        config.cert_path = abs.display().to_string();
    }
    if let Some(ep) = &args.configuration_endpoint {
        config.config_endpoint = ep.clone();
    }
    if !args.aud.is_empty() {
        config.audience = args
            .aud
            .iter()
            .flat_map(|a| split_list(a))
            .collect::<Vec<_>>()
            .join(" ");
    }
    Ok(())
}

/// Whether a client secret, or its absence (an empty one), was given.
pub(super) fn secret_given(args: &Args) -> bool {
    args.client_secret.is_some()
        || args.client_secret_env.is_some()
        || args.client_secret_file.is_some()
}

/// Records how a confidential client authenticates: `--client-auth`, else
/// Basic when the provider offers it, else post (RFC 8414's
/// `token_endpoint_auth_methods_supported`). A public client sends no
/// secret, so nothing is recorded; Basic is the default and not recorded.
pub(super) fn choose_auth(args: &Args, meta: &Metadata, config: &mut AccountConfig) {
    if config.client_secret.is_empty() {
        return;
    }
    let post = match args.client_auth {
        Some(ClientAuthArg::Post) => true,
        Some(ClientAuthArg::Basic) => false,
        None if config.extra.contains_key(KEY_AUTH_METHOD) => return,
        None => token::prefer_post(&meta.token_endpoint_auth_methods_supported),
    };
    if post {
        config
            .extra
            .insert(KEY_AUTH_METHOD.to_owned(), token::CLIENT_SECRET_POST.into());
    } else {
        config.extra.remove(KEY_AUTH_METHOD);
    }
}
