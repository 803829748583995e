//! What every way of getting tokens shares, set up once: the [`Session`]
//! (HTTP client, runtime, the provider's metadata, Ctrl-C), the account
//! already on disk, and which scopes a login asks for.

use std::path::Path;

use anyhow::Context as _;

use super::args::Args;
use super::{interrupt, runtime};
use crate::account::config::{AccountConfig, split_list};
use crate::account::store::Store;
use crate::error::Error;
use crate::oidc::discovery::{self, Metadata};
use crate::oidc::http;
use crate::oidc::token::{Credentials, Endpoint};
use crate::secret::SecretString;

/// What every flow needs, set up once: the HTTP client (with the account's
/// CA bundle), a runtime for it, the provider's metadata, and (from the
/// first wait for the user on) the Ctrl-C handler.
pub(super) struct Session<'a> {
    pub(super) args: &'a Args,
    pub(super) rt: runtime::Runtime,
    pub(super) http: reqwest::Client,
    /// For the token endpoint: waits for an answer (`http::patient_client`).
    pub(super) tokens: reqwest::Client,
    pub(super) meta: Metadata,
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
    pub(super) fn open(args: &'a Args, config: &AccountConfig) -> anyhow::Result<Self> {
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
    pub(super) fn token_endpoint<'s>(&'s self, config: &'s AccountConfig) -> Endpoint<'s> {
        Endpoint {
            http: &self.tokens,
            url: &self.meta.token_endpoint,
            creds: Credentials::of(config),
        }
    }

    /// Runs a provider call on the session's runtime; its error becomes the
    /// library's `Error`, which carries the exit code.
    pub(super) fn run<T, E>(
        &self,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> crate::Result<T>
    where
        Error: From<E>,
    {
        Ok(self.rt.block_on(call)?)
    }

    /// Runs a token request that cannot be sent again ([`Self::run`]), saying
    /// so when the provider takes longer than requests usually may: it is
    /// waited for, since its answer may replace the refresh token.
    pub(super) fn await_answer<T, E>(
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
    pub(super) fn waiting<T>(
        &self,
        what: &'static str,
        wait: impl FnOnce() -> T,
    ) -> anyhow::Result<T> {
        Ok(self.interrupt()?.during(what, wait))
    }

    /// Arms `undo`: what this run made at the provider and nothing would
    /// use if the login ended here ([`interrupt::Interrupt::arm`]); a
    /// signal runs it, and so does the session's end unless disarmed.
    pub(super) fn arm(&self, undo: Option<interrupt::Undo>) -> anyhow::Result<()> {
        self.interrupt()?.arm(undo);
        Ok(())
    }

    /// Nothing is to be undone: the login is saved, or handed on. Returns
    /// what was armed, for a caller that may arm it again.
    pub(super) fn disarm(&self) -> Option<interrupt::Undo> {
        self.interrupt.get().and_then(interrupt::Interrupt::disarm)
    }

    /// Runs `step` (`what`: "saving the account") to its end whatever signal
    /// comes ([`interrupt::Interrupt::critical`]).
    pub(super) fn critical<T>(
        &self,
        what: &'static str,
        step: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.interrupt()?.critical(what, step)
    }

    pub(super) fn interrupt(&self) -> anyhow::Result<&interrupt::Interrupt> {
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
pub(super) fn open_existing(
    args: &Args,
    store: &Store,
    name: &str,
) -> anyhow::Result<(AccountConfig, SecretString)> {
    let (opened, pw) = crate::cli::open_account(&args.password, store, name)?;
    Ok((opened.config, pw))
}

/// The authorization scopes of `config`, split on white space.
pub(super) fn auth_scopes(config: &AccountConfig) -> Vec<String> {
    split_list(
        config
            .auth_scope
            .as_deref()
            .or(config.scope.as_deref())
            .unwrap_or(""),
    )
}

/// Whether the provider offers `scope` (one that lists none offers all).
pub(super) fn offered(meta: &Metadata, scope: &str) -> bool {
    meta.scopes_supported.is_empty() || meta.scopes_supported.iter().any(|o| o == scope)
}

/// Scopes from the command line; `max` expands to everything advertised.
pub(super) fn scopes(args: &Args, meta: &Metadata) -> String {
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
pub(super) fn scope_max(args: &Args) -> bool {
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
pub(super) fn login_scopes(mut list: Vec<String>, meta: &Metadata) -> String {
    for required in ["openid", "offline_access"] {
        if !list.iter().any(|s| s == required) && offered(meta, required) {
            list.push(required.to_owned());
        }
    }
    list.join(" ")
}
