//! Creating and re-authenticating an account: the account draft, the choice
//! of flow, and what happens with the tokens the flow returns.
//!
//! The decision table: `--rt`/`--rt-env` imports a refresh token (checked
//! with one refresh); otherwise the first of `--flow` the provider supports
//! runs, by default the code flow when a browser can be opened or a
//! redirect URI or port is given, and the device flow when not.
//! `--reauthenticate` starts from the saved account and replaces only its
//! refresh token.

use anyhow::{Context as _, bail};

use super::args::{Args, Flow};
use super::complete::{complete, new_password};
use super::session::{Session, auth_scopes, login_scopes, scopes};
use super::{code, device, given, import, pasted, registration};
use crate::account::config::AccountConfig;
use crate::account::store::Store;
use crate::error::Error;
use crate::oidc::OidcError;
use crate::oidc::discovery::Metadata;
use crate::secret::SecretString;

/// Room an account file and issuer.config take, with a margin (ours are
/// under 2 KiB).
const ROOM_FOR_AN_ACCOUNT: usize = 16 * 1024;

/// `oidc-gen NAME ...` without a management flag.
pub(super) fn create(args: &Args, store: &Store, name: &str) -> anyhow::Result<()> {
    let existing = store.path(name)?.exists();
    if !existing {
        crate::account::store::check_new_name(name)?;
    }
    let file = given::client_file(args)?;
    check_client_args(args, file.as_ref())?;
    if !args.no_save && !args.only_at {
        store.check_writable(ROOM_FOR_AN_ACCOUNT).with_context(|| {
            format!(
                "account '{name}' could not be saved in {}; nothing was sent to the provider: \
                 free space or make the directory writable, then run oidc-gen again",
                store.dir().display()
            )
        })?;
    }
    // `--no-save` keeps the account in the agent alone: without one, the
    // login would go nowhere.
    if args.no_save && !args.only_at {
        crate::client::AgentClient::from_env()
            .and_then(|client| client.loaded_accounts())
            .context(
                "--no-save keeps the account only in the agent; nothing was sent to the provider",
            )?;
    }
    if let Some(url) = &args.code_exchange {
        return pasted::finish_pasted(args, store, name, url);
    }
    if args.reauthenticate && !existing {
        // Reading the missing file gives the "no account named" error.
        store.read(name)?;
    }
    if existing && !args.reauthenticate && !args.only_at {
        bail!(
            "account '{name}' already exists; use `oidc-gen --reauthenticate {name}` for a new refresh token, \
             or `oidc-gen -d {name}` to delete it"
        );
    }
    let (config, password) = if args.reauthenticate {
        let (config, pw) = super::session::open_existing(args, store, name)?;
        (config, Some(pw))
    } else {
        (new_config(args, store, name, file.as_ref())?, None)
    };
    login(args, store, name, file.as_ref(), config, password)
}

/// The login for `config` (a new account, or with its `password` one
/// re-authenticated) and what comes of it: the account saved and loaded.
pub(super) fn login(
    args: &Args,
    store: &Store,
    name: &str,
    file: Option<&given::ClientFile>,
    mut config: AccountConfig,
    password: Option<SecretString>,
) -> anyhow::Result<()> {
    // The new account's password is asked after the login: make sure now
    // that it can be had then.
    if password.is_none() && !args.no_save && !args.only_at {
        args.password.check_before_login()?;
    }
    if !args.redirect_uri.is_empty() || !args.port.is_empty() {
        config.redirect_uris = code::explicit_redirect_uris(args);
    }
    let imported = import::given_token(args)?;
    let preregistered = registration::preregistered(&config, store);
    if args.public
        && let Some(client) = &preregistered
    {
        registration::use_public_client(args, &mut config, client);
    }
    // `--scope max` with a preregistered client: the scopes it may ask for.
    let client_max = preregistered
        .as_ref()
        .filter(|p| p.client_id == config.client_id && super::session::scope_max(args))
        .and_then(|p| p.scope.clone());
    let session = Session::open(args, &config)?;
    // Spelled as the provider names itself (discovery checked it is the
    // same issuer, give or take a trailing '/'): the spelling `oidc-token
    // -i` and `-c` print, which scripts compare with the tokens' `iss`.
    if !args.reauthenticate {
        config.issuer_url = session.meta.issuer.clone();
    }
    // `--pub` asks for the preregistered client: none is not a reason to
    // register one (oidc-agent stops here too).
    if args.public && config.client_id.is_empty() && preregistered.is_none() {
        let registers = session.meta.registration_endpoint.is_some();
        let why = registration::no_public_client(args, &config, store, registers);
        return Err(crate::Error::Failure(why).into());
    }
    given::choose_auth(args, &session.meta, &mut config);
    let file_redirects = file.is_some_and(|f| !f.redirect_uris.is_empty());
    // The flows a preregistered client may use (Google's: the device flow).
    let client_flows: Vec<Flow> = preregistered
        .iter()
        .filter(|p| p.client_id == config.client_id)
        .flat_map(|p| &p.flows)
        .filter_map(|f| <Flow as clap::ValueEnum>::from_str(f, true).ok())
        .collect();
    let flow = choose_flow(
        args,
        &session.meta,
        &config.issuer_url,
        imported.is_some(),
        file_redirects,
        &client_flows,
    )?;
    // An imported refresh token keeps the scopes it was granted: without
    // --scope, its refreshes send none (RFC 6749 §6), since asking for a scope
    // the grant lacks (offline_access, say) gets `invalid_scope`.
    // `--scope-max` is `--scope max` (oidc-agent's alias).
    let scope_given = !args.scope.is_empty() || args.scope_max;
    let needs_scope = flow != Flow::Refresh || scope_given;
    if needs_scope && (config.scope.is_none() && config.auth_scope.is_none() || scope_given) {
        config.set_scope(&client_max.unwrap_or_else(|| scopes(args, &session.meta)));
    }
    if flow != Flow::Refresh {
        config.set_scope(&login_scopes(auth_scopes(&config), &session.meta));
    }
    let tokens = match (flow, imported) {
        (Flow::Refresh, Some(imported)) => {
            if config.client_id.is_empty() {
                return Err(crate::Error::Usage(
                    "--rt needs --client-id (and --client-secret) of the client the refresh token was issued to"
                        .into(),
                )
                .into());
            }
            // Check the imported token with one refresh; keep the rotated one.
            // From the moment it is sent, a rotating provider may have
            // invalidated the pasted token: no signal ends oidc-gen before
            // the new one is saved.
            // The password is asked first, so that the step holds no prompt.
            config.refresh_token = imported;
            let password = match password {
                None if !args.no_save && !args.only_at => Some(new_password(args, name)?),
                given => given,
            };
            return session.critical("saving the refresh token", || {
                let tokens = import::check(&session, &config)?;
                complete(&session, store, config, password, tokens, flow)
            });
        }
        (Flow::Code | Flow::Device, _) => {
            if config.client_id.is_empty() {
                match registration::register(&session, store, &mut config, name) {
                    Ok(()) => {}
                    Err(e) => {
                        // No registration endpoint: its error says where to
                        // register by hand; a failed registration does not.
                        let offered = session.meta.registration_endpoint.is_some();
                        let Some(client) = &preregistered else {
                            if offered {
                                registration::say_where_to_register(&config, store);
                            }
                            return Err(e);
                        };
                        // Without an endpoint nothing failed: the client is
                        // what oidc-agent uses too (`use_public_client` says so).
                        if offered {
                            eprintln!(
                                "oidc-gen: note: {e:#}; trying a preregistered public client"
                            );
                        }
                        registration::use_public_client(args, &mut config, client);
                    }
                }
            }
            // A login of this name still pending is replaced by this one.
            pasted::drop_pending(&session, store, name, "replaced by this login");
            let tokens = match flow {
                Flow::Code if args.no_webserver => pasted::run_pasted(&session, store, &config)?,
                Flow::Code => Some(code::run(&session, &config)?),
                _ => Some(device::run(&session, &config)?),
            };
            let Some(tokens) = tokens else {
                // --no-webserver without a terminal: finished by --codeExchange.
                return Ok(());
            };
            tokens
        }
        (Flow::Password, _) => {
            return Err(Error::Usage("the password flow is not supported".into()).into());
        }
        (Flow::Refresh, None) => {
            return Err(Error::Usage(
                "--flow refresh needs a refresh token: pass --rt TOKEN or --rt-env".into(),
            )
            .into());
        }
    };
    complete(&session, store, config, password, tokens, flow)
}

/// Rejects client flags that contradict each other. An empty secret is no
/// secret, so `--pub --client-secret=""` is a public client.
fn check_client_args(args: &Args, file: Option<&given::ClientFile>) -> anyhow::Result<()> {
    if args.public && given::secret(args, file)?.is_some() {
        return Err(crate::Error::Usage(
            "--pub and --client-secret contradict each other: a public client has no secret".into(),
        )
        .into());
    }
    if !args.flow.is_empty() && args.flow.iter().all(|f| *f == Flow::Password) {
        return Err(crate::Error::Usage(
            "the password flow is not supported; use --flow code or --flow device".into(),
        )
        .into());
    }
    if args.manual && args.client_id.is_none() && args.file.is_none() && !args.reauthenticate {
        return Err(crate::Error::Usage(
            "--manual needs --client-id ID (with --client-secret SECRET or --pub)".into(),
        )
        .into());
    }
    Ok(())
}

/// The draft of a new account from the command line. Without `--client-id`
/// the client id stays empty until dynamic registration fills it in.
fn new_config(
    args: &Args,
    store: &Store,
    name: &str,
    file: Option<&given::ClientFile>,
) -> anyhow::Result<AccountConfig> {
    let issuer = match (given::issuer(args, file), &args.configuration_endpoint) {
        (Some(issuer), _) => issuer,
        (None, Some(endpoint)) => issuer_at(args, endpoint)?,
        (None, None) => super::issuer::ask(args, store)?,
    };
    let mut c = AccountConfig::new(name, &issuer, "");
    given::fill(args, file, &mut c)?;
    given::fill_provider(args, &mut c)?;
    Ok(c)
}

/// The issuer the configuration endpoint's document names (no session
/// yet: the account it is for is being drafted).
fn issuer_at(args: &Args, endpoint: &str) -> anyhow::Result<String> {
    let http = crate::oidc::http::client(args.cert_path.as_deref()).map_err(Error::from)?;
    let rt = super::runtime::Runtime::start().context("cannot start the async runtime")?;
    Ok(rt
        .block_on(crate::oidc::discovery::issuer_at(&http, endpoint))
        .map_err(Error::from)?)
}

/// The flow to run: an imported token wins; otherwise the first of the
/// preferred flows (`--flow`, else `client_flows`, those the client allows)
/// the provider supports. `file_redirects`: the `-f` file lists redirect
/// URIs.
fn choose_flow(
    args: &Args,
    meta: &Metadata,
    issuer: &str,
    have_rt: bool,
    file_redirects: bool,
    client_flows: &[Flow],
) -> crate::Result<Flow> {
    if have_rt {
        return Ok(Flow::Refresh);
    }
    // A redirect URI or port on the command line or in the `-f` file asks
    // for the code flow, also without a display (the URL is opened
    // elsewhere or by a script: the upstream docs' `oidc-gen --only-at
    // -f FILE --prompt=none`); so does --no-webserver (paste the redirected
    // URL), which only the code flow has.
    let asks_for_code = !args.redirect_uri.is_empty()
        || !args.port.is_empty()
        || file_redirects
        || args.no_webserver;
    let preferred = if !args.flow.is_empty() {
        args.flow.clone()
    } else if !client_flows.is_empty() {
        client_flows.to_vec()
    } else if asks_for_code || code::browser_available() {
        vec![Flow::Code, Flow::Device]
    } else {
        vec![Flow::Device, Flow::Code]
    };
    let supported = |flow: &Flow| match flow {
        Flow::Code => meta.authorization_endpoint.is_some(),
        Flow::Device => args.dae.is_some() || meta.device_authorization_endpoint.is_some(),
        // Reported with its own message in `create`.
        Flow::Refresh => true,
        // Refused by `check_client_args` when it is the only one.
        Flow::Password => false,
    };
    if let Some(flow) = preferred.iter().find(|f| supported(f)) {
        return Ok(*flow);
    }
    Err(match preferred.first() {
        Some(Flow::Code) if preferred.len() == 1 => OidcError::MissingEndpoint {
            issuer: issuer.to_owned(),
            what: "authorization endpoint (code flow)",
            remedy: "use --flow device, or import a refresh token with --rt".into(),
        },
        Some(Flow::Device) if preferred.len() == 1 => OidcError::MissingEndpoint {
            issuer: issuer.to_owned(),
            what: "device authorization endpoint",
            remedy: "pass it with --dae URL, or use --flow code".into(),
        },
        _ => OidcError::MissingEndpoint {
            issuer: issuer.to_owned(),
            what: "authorization or device authorization endpoint",
            remedy: "pass a device endpoint with --dae URL, or import a refresh token with --rt"
                .into(),
        },
    }
    .into())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn args(argv: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("oidc-gen").chain(argv.iter().copied()))
            .expect("valid command line")
    }

    fn meta(authorization: bool, device: bool) -> Metadata {
        let mut doc = serde_json::json!({"issuer": "https://op", "token_endpoint": "https://op/t"});
        if authorization {
            doc["authorization_endpoint"] = "https://op/a".into();
        }
        if device {
            doc["device_authorization_endpoint"] = "https://op/d".into();
        }
        serde_json::from_value(doc).expect("metadata")
    }

    #[test]
    fn flow_order_is_preference_with_fallback() {
        let both = args(&["x", "--flow", "device", "--flow", "code"]);
        let pick = |a: &Args, m: &Metadata| choose_flow(a, m, "https://op", false, false, &[]);
        assert_eq!(pick(&both, &meta(true, true)).expect("flow"), Flow::Device);
        assert_eq!(pick(&both, &meta(true, false)).expect("flow"), Flow::Code);
        let device = args(&["x", "--flow", "device"]);
        let err = pick(&device, &meta(true, false)).expect_err("no device endpoint");
        assert!(err.to_string().contains("--dae"), "{err}");
        let with_dae = args(&["x", "--flow", "device", "--dae", "https://op/d"]);
        assert_eq!(
            pick(&with_dae, &meta(true, false)).expect("flow"),
            Flow::Device
        );
        let code = args(&["x", "--flow", "code"]);
        let err = pick(&code, &meta(false, true)).expect_err("no authorization endpoint");
        assert!(err.to_string().contains("--flow device"), "{err}");
        // An imported refresh token needs no interactive flow at all.
        assert_eq!(
            choose_flow(&code, &meta(false, false), "https://op", true, false, &[]).expect("flow"),
            Flow::Refresh
        );
        // --no-webserver (paste the redirected URL) is the code flow's, with
        // or without a display.
        let paste = args(&["x", "--no-webserver", "--no-url-call"]);
        assert_eq!(pick(&paste, &meta(true, true)).expect("flow"), Flow::Code);
        // So do redirect URIs in the -f file, as on the command line.
        let plain = args(&["x"]);
        let from_file = choose_flow(&plain, &meta(true, true), "https://op", false, true, &[]);
        assert_eq!(from_file.expect("flow"), Flow::Code);
        // A preregistered client's flows (Google's: device only) come
        // before the default order, --flow before them.
        let device_only = [Flow::Device];
        let client = |a: &Args| {
            choose_flow(
                a,
                &meta(true, true),
                "https://op",
                false,
                true,
                &device_only,
            )
        };
        assert_eq!(client(&plain).expect("flow"), Flow::Device);
        assert_eq!(client(&code).expect("flow"), Flow::Code);
    }

    #[test]
    fn contradictory_client_flags_are_usage_errors() {
        for argv in [
            &["x", "--pub", "--client-secret", "s", "--client-id", "c"][..],
            &["x", "-m"][..],
        ] {
            let err = check_client_args(&args(argv), None).expect_err("refused");
            assert_eq!(crate::cli::exit_code(&err), 2, "{argv:?}: {err}");
        }
        check_client_args(&args(&["x", "--client-id", "c", "--pub", "-m"]), None).expect("fine");
        // The ownCloud Infinite Scale documentation's form: an empty secret.
        check_client_args(
            &args(&["x", "--client-id=c", "--client-secret=", "--pub"]),
            None,
        )
        .expect("an empty secret is a public client");
    }
}
