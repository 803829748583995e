//! The client of a new account when no `--client-id` is given: oidc-agent's
//! preregistered public client for the issuer (`--pub`, or when dynamic
//! registration fails, as oidc-agent's oidc-gen falls back to it), or
//! dynamic client registration (RFC 7591) with what oidc-agent registers,
//! and its removal (RFC 7592) when the account is deleted or never saved.
//!
//! The registration's `registration_client_uri` and
//! `registration_access_token` go into the account JSON under oidc-agent's
//! names (the token in its typed, zeroizing field), so both tools can manage
//! the client later.

use anyhow::Context as _;
use serde_json::Value;

use super::args::Args;
use super::session::Session;
use crate::account::config::AccountConfig;
use crate::account::pubclients::{self, PublicClient};
use crate::account::store::Store;
use crate::error::Error;
use crate::oidc::OidcError;
use crate::oidc::registration::{self, ClientMetadata, DEVICE_GRANT};
use crate::secret::SecretString;

/// oidc-agent's account keys for the RFC 7592 registration handle.
const KEY_CLIENT_URI: &str = "registration_client_uri";

/// Loopback redirect URIs registered for every client: without a port, so
/// that any port is accepted (RFC 8252 §7.3) and the listener can take an
/// ephemeral one.
const LOOPBACK_REDIRECTS: [&str; 2] = ["http://127.0.0.1", "http://localhost"];

/// oidc-agent's preregistered public client for the issuer of `config`, a
/// new account without a client id: from the account directory, then
/// `/etc/oidc-agent` (what oidc-agent's package ships).
pub(super) fn preregistered(config: &AccountConfig, store: &Store) -> Option<PublicClient> {
    if !config.client_id.is_empty() {
        return None;
    }
    // The person's own files only: /etc/oidc-agent is the package's.
    for (file, e) in pubclients::unreadable_issuer_files(store.dir()) {
        eprintln!(
            "oidc-gen: warning: {} is passed over: not an issuer file ({e})",
            file.display()
        );
    }
    pubclients::find(&config.issuer_url, &issuer_dirs(store))
}

/// Where oidc-agent's issuer files are, the one that wins first.
fn issuer_dirs(store: &Store) -> [&std::path::Path; 2] {
    [store.dir(), std::path::Path::new(pubclients::SYSTEM_DIR)]
}

/// The issuers oidc-agent's files know, for the issuer prompt.
pub(super) fn known_issuers(store: &Store) -> Vec<String> {
    pubclients::known_issuers(&issuer_dirs(store))
}

/// Why `--pub` without `--client-id` found no client for the issuer of
/// `config`, and what to do: when the provider `registers` clients, leave
/// out `--pub`; else register one by hand.
pub(super) fn no_public_client(
    args: &Args,
    config: &AccountConfig,
    store: &Store,
    registers: bool,
) -> String {
    let [own, system] = issuer_dirs(store);
    let what = if registers {
        "leave out --pub to register a client, or pass the id of one: `--client-id ID --pub`"
            .to_owned()
    } else {
        by_hand(args, config, store)
    };
    format!(
        "--pub: no preregistered public client for {} in pubclients.config or \
         issuer.config(.d) ({} or {}); {what}",
        config.issuer_url,
        own.display(),
        system.display()
    )
}

/// Says where to register a client for the issuer of `config` by hand,
/// when oidc-agent's issuer files know (after a failed registration).
pub(super) fn say_where_to_register(config: &AccountConfig, store: &Store) {
    if let Some(help) = pubclients::register_help(&config.issuer_url, &issuer_dirs(store)) {
        eprintln!("oidc-gen: note: {help}");
    }
}

/// What to do for a client when the provider registers none: where to
/// register one by hand (when oidc-agent's issuer files know), and the
/// flags that name it. The secret by `--client-secret-env`, not on the
/// command line (README); `--pub` only to one who has not passed it.
fn by_hand(args: &Args, config: &AccountConfig, store: &Store) -> String {
    let register = pubclients::register_help(&config.issuer_url, &issuer_dirs(store))
        .unwrap_or_else(|| "register a client at the provider and pass --client-id".to_owned());
    if args.public {
        format!("{register} ID")
    } else {
        format!(
            "{register} ID, with --client-secret-env for a confidential client or --pub for a \
             public one"
        )
    }
}

/// Makes `client` the client of `config`: its id and secret and, unless
/// the command line names redirect URIs, the ones it was registered with
/// (a provider may accept no others).
pub(super) fn use_public_client(args: &Args, config: &mut AccountConfig, client: &PublicClient) {
    config.client_id = client.client_id.clone();
    config.client_secret = client.client_secret.clone().unwrap_or_default();
    if args.redirect_uri.is_empty() && args.port.is_empty() {
        config.redirect_uris = if client.redirect_uris.is_empty() {
            pubclients::REDIRECT_URIS.map(str::to_owned).to_vec()
        } else {
            client.redirect_uris.clone()
        };
    }
    eprintln!(
        "Using the public client '{}' for {} from {}",
        client.client_id,
        config.issuer_url,
        client.source.display()
    );
}

/// Registers a client for account `name` and stores its credentials in
/// `config`.
pub(super) fn register(
    session: &Session<'_>,
    store: &Store,
    config: &mut AccountConfig,
    name: &str,
) -> anyhow::Result<()> {
    let args = session.args;
    let meta = &session.meta;
    let Some(endpoint) = meta.registration_endpoint.as_deref() else {
        return Err(Error::from(OidcError::MissingEndpoint {
            issuer: config.issuer_url.clone(),
            what: "dynamic client registration",
            remedy: by_hand(args, config, store).into(),
        })
        .into());
    };
    let mut redirect_uris = config.redirect_uris.clone();
    for uri in LOOPBACK_REDIRECTS {
        if !redirect_uris.iter().any(|u| u == uri) {
            redirect_uris.push(uri.to_owned());
        }
    }
    let mut grant_types = vec!["authorization_code".to_owned(), "refresh_token".to_owned()];
    // Only where the provider offers it: some providers refuse the whole
    // registration over a grant type they do not know.
    if args.dae.is_some()
        || meta.device_authorization_endpoint.is_some()
        || meta.grant_types_supported.iter().any(|g| g == DEVICE_GRANT)
    {
        grant_types.push(DEVICE_GRANT.to_owned());
    }
    let metadata = ClientMetadata {
        client_name: args
            .cnid
            .clone()
            .unwrap_or_else(|| format!("oidc-agent:{name}-{}", hostname())),
        redirect_uris: redirect_uris.clone(),
        grant_types,
        response_types: vec!["code".to_owned()],
        // `--pub` takes a preregistered client, never a registered one.
        token_endpoint_auth_method: "client_secret_basic".to_owned(),
        scope: config.auth_scope.clone().unwrap_or_default(),
        application_type: "native".to_owned(),
    };
    let at = args.at.as_ref().map(|t| SecretString::new(t.clone()));
    let client = session
        .run(registration::register(
            &session.http,
            endpoint,
            at.as_ref(),
            &metadata,
        ))
        .context("dynamic client registration failed")?;
    eprintln!(
        "Registered client '{}' at {}",
        client.client_id, config.issuer_url
    );
    config.client_id = client.client_id;
    config.client_secret = client.client_secret.unwrap_or_default();
    config.redirect_uris = redirect_uris;
    if let Some(uri) = client.registration_client_uri {
        config
            .extra
            .insert(KEY_CLIENT_URI.to_owned(), Value::String(uri));
    }
    config.registration_access_token = client.registration_access_token;
    // Until a login is saved with it, nothing would use the client.
    session.arm(deletion(session, config))
}

/// Where and with which token the client of `config` can be deleted (RFC
/// 7592), if it was registered dynamically.
pub(super) fn registered(config: &AccountConfig) -> Option<(&str, &SecretString)> {
    registration_handle(config)
}

fn registration_handle(config: &AccountConfig) -> Option<(&str, &SecretString)> {
    match (
        config.extra.get(KEY_CLIENT_URI),
        config.registration_access_token.as_ref(),
    ) {
        (Some(Value::String(uri)), Some(token)) => Some((uri, token)),
        _ => None,
    }
}

/// What deletes the client this run registered for `config` when the
/// login is given up (a Ctrl-C, an error): `None` without one, and for a
/// re-authentication, whose client is the account's own.
pub(super) fn deletion(
    session: &Session<'_>,
    config: &AccountConfig,
) -> Option<super::interrupt::Undo> {
    if session.args.reauthenticate {
        return None;
    }
    let (uri, token) = registration_handle(config)?;
    let (http, uri, token) = (session.http.clone(), uri.to_owned(), token.clone());
    let id = config.client_id.clone();
    Some(Box::pin(async move {
        match registration::delete_client(&http, &uri, &token).await {
            Ok(()) => format!("deleted the client '{id}' registered for this login"),
            Err(e) => format!("could not delete the client '{id}' registered for this login: {e}"),
        }
    }))
}

/// Deletes the dynamically registered client of `config`, if it has one
/// (RFC 7592 §2.3). Best effort: a leftover client costs the provider a
/// database row, not the user a secret, so failures are only reported.
pub(super) fn unregister(session: &Session<'_>, config: &AccountConfig) {
    unregister_saying(session, config, "");
}

/// [`unregister`] for the client of a pending login (`why` it ends).
pub(super) fn unregister_for(session: &Session<'_>, config: &AccountConfig, why: &str) {
    unregister_saying(session, config, &format!(" of the pending login ({why})"));
}

fn unregister_saying(session: &Session<'_>, config: &AccountConfig, of: &str) {
    let Some((uri, token)) = registration_handle(config) else {
        return;
    };
    match session
        .rt
        .block_on(registration::delete_client(&session.http, uri, token))
    {
        Ok(()) => eprintln!("Deleted the registered client '{}'{of}.", config.client_id),
        Err(e) => eprintln!(
            "oidc-gen: note: could not delete the registered client '{}'{of}: {e}",
            config.client_id
        ),
    }
}

/// This machine's host name, for client names and SSH hints.
pub(super) fn hostname() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().into_owned();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name
    }
}
