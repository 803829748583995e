//! `oidc-gen -m NAME` for an account that exists, as oidc-agent's quickstart
//! documents it ("updating an existing account configuration"): the
//! issuer, client and scopes asked for again, each with the saved value as
//! the default, then a new login with them. The file keeps the old refresh
//! token until the new login is saved (the re-authentication's rule), so
//! an edit given up half-way loses nothing. A value given on the command
//! line (`--issuer`, a client secret, `--scope`, `--redirect-uri`/`--port`)
//! is taken without its prompt, as oidc-agent's `-m` reads it; `--aud`,
//! `--cp` and `--configuration-endpoint`, which it does not prompt for, are
//! taken from the command line too.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::Context as _;

use super::args::Args;
use super::{create, given};
use crate::account::config::{AccountConfig, split_list};
use crate::account::store::Store;
use crate::secret::SecretString;

/// What an answer to the client-secret prompt removes the secret with.
const NO_SECRET: &str = "-";

pub(super) fn edit(args: &Args, store: &Store, name: &str) -> anyhow::Result<()> {
    let (saved, password) = super::session::open_existing(args, store, name)?;
    let mut answers = Answers::from_stdin();
    eprintln!("Editing account '{name}'; press Enter to keep a value.");
    let config = edited(args, &saved, &mut answers)?;
    if same_login(&saved, &config) {
        eprintln!(
            "Account '{name}' is unchanged; `oidc-gen --reauthenticate {name}` logs in again."
        );
        return Ok(());
    }
    eprintln!("Logging in again with the edited account.");
    // From here on a re-authentication, with the edited account as the
    // saved one: its scopes and redirect URIs, not the defaults.
    let mut again = args.clone();
    again.reauthenticate = true;
    let issuer_changed = saved.issuer_url != config.issuer_url;
    create::login(&again, store, name, None, config, Some(password))?;
    // The old issuer's default account is no longer of that issuer.
    if issuer_changed
        && let Err(e) =
            crate::account::issuers::account_moved(store.dir(), &saved.issuer_url, name, None)
    {
        eprintln!("oidc-gen: warning: could not update issuer.config: {e}");
    }
    Ok(())
}

/// `saved` with the command line's values and the answers put in: an
/// empty answer keeps a value.
fn edited(
    args: &Args,
    saved: &AccountConfig,
    answers: &mut Answers,
) -> anyhow::Result<AccountConfig> {
    let mut config = saved.clone();
    given::fill_provider(args, &mut config)?;
    if let Some(issuer) = &args.issuer {
        config.issuer_url = issuer.clone();
    } else if let Some(issuer) = answers.line("Issuer", &saved.issuer_url)? {
        config.issuer_url = issuer;
    }
    if let Some(id) = answers.line("Client id", &saved.client_id)? {
        config.client_id = id;
    }
    if given::secret_given(args) {
        config.client_secret = given::secret(args, None)?.unwrap_or_default();
    } else {
        let shown = if saved.client_secret.is_empty() {
            "none".to_owned()
        } else {
            format!("kept; {NO_SECRET} for none")
        };
        if let Some(secret) = answers.secret(&format!("Client secret [{shown}]: "))? {
            config.client_secret = if secret.expose() == NO_SECRET {
                SecretString::default()
            } else {
                secret
            };
        }
    }
    // `--scope` and the redirect options: as the login puts them in again,
    // here so that `same_login` sees them.
    let scope = saved
        .auth_scope
        .clone()
        .or_else(|| saved.scope.clone())
        .unwrap_or_default();
    if !args.scope.is_empty() {
        let list: Vec<String> = args.scope.iter().flat_map(|s| split_list(s)).collect();
        config.set_scope(&list.join(" "));
    } else if let Some(scope) = answers.line("Scopes", &scope)? {
        config.set_scope(&split_list(&scope).join(" "));
    }
    let redirects_given = !args.redirect_uri.is_empty() || !args.port.is_empty();
    if redirects_given {
        config.redirect_uris = super::code::explicit_redirect_uris(args);
    } else if let Some(uris) = answers.line("Redirect URIs", &saved.redirect_uris.join(" "))? {
        config.redirect_uris = split_list(&uris);
    }
    Ok(config)
}

/// Whether `a` and `b` log in the same way (nothing a new login is needed for).
fn same_login(a: &AccountConfig, b: &AccountConfig) -> bool {
    a.issuer_url == b.issuer_url
        && a.client_id == b.client_id
        && a.client_secret == b.client_secret
        && a.scope == b.scope
        && a.auth_scope == b.auth_scope
        && a.redirect_uris == b.redirect_uris
        && a.audience == b.audience
        && a.cert_path == b.cert_path
        && a.config_endpoint == b.config_endpoint
}

/// The person's answers: lines of standard input (a terminal, or a script
/// piping them in); at its end every further value is kept.
struct Answers {
    terminal: bool,
    ended: bool,
}

impl Answers {
    fn from_stdin() -> Self {
        Self {
            terminal: std::io::stdin().is_terminal(),
            ended: false,
        }
    }

    /// Asks for `what` (saved: `current`); `None` keeps it.
    fn line(&mut self, what: &str, current: &str) -> anyhow::Result<Option<String>> {
        eprint!("{what} [{current}]: ");
        let answer = self
            .read()
            .with_context(|| format!("cannot read the {what}"))?;
        Ok(answer.filter(|a| a != current))
    }

    /// Asks for a secret: without echo on a terminal.
    fn secret(&mut self, prompt: &str) -> anyhow::Result<Option<SecretString>> {
        if self.terminal && !self.ended {
            let typed = crate::cli::tty::ask(prompt).context("cannot read the client secret")?;
            eprintln!();
            return Ok(Some(typed).filter(|t| !t.expose().trim().is_empty()));
        }
        eprint!("{prompt}");
        Ok(self
            .read()
            .context("cannot read the client secret")?
            .map(SecretString::new))
    }

    /// The next answer, trimmed; `None` for an empty one or the end of
    /// input (said once on a terminal's line).
    fn read(&mut self) -> std::io::Result<Option<String>> {
        if self.ended {
            eprintln!();
            return Ok(None);
        }
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            self.ended = true;
            eprintln!();
            return Ok(None);
        }
        let line = line.trim();
        Ok((!line.is_empty()).then(|| line.to_owned()))
    }
}
