//! `oidc-add`: load, unload, list, lock and unlock accounts in the agent.
//!
//! Decryption happens here, in the client; the agent receives the account
//! and the file's data key (never the password), so it can save a rotated
//! refresh token without asking anyone.

use anyhow::Context as _;
use clap::{ArgGroup, Parser};

use super::PasswordArgs;
use crate::account::Opened;
use crate::account::store::Store;
use crate::client::{AgentClient, Load, Loaded};
use crate::error::{Error, ErrorKind};
use crate::protocol::Request;
use crate::secret::SecretString;

/// Load accounts into oidc-agent, unload them, lock and unlock the agent.
#[derive(Debug, Parser)]
#[command(name = "oidc-add", version, long_about = None,
    group(ArgGroup::new("mode").args(["list", "loaded", "remove", "remove_all", "lock", "unlock", "print"])))]
pub struct Args {
    /// The account to load (or unload with -r); an issuer URL loads its default account
    #[arg(value_name = "ACCOUNT_SHORTNAME", required_unless_present_any = ["list", "loaded", "remove_all", "lock", "unlock", "list_issuers"])]
    pub name: Option<String>,
    /// List the configured accounts
    #[arg(short = 'l', long = "list")]
    pub list: bool,
    /// List the accounts loaded in the agent
    #[arg(short = 'a', long = "loaded")]
    pub loaded: bool,
    /// With -a: each loaded account's state as JSON (issuer, client id,
    /// token expiry, lifetime end, last refresh, refused, unsaved)
    #[arg(long = "json", requires = "loaded")]
    pub json: bool,
    /// Unload the account
    #[arg(short = 'r', long = "remove")]
    pub remove: bool,
    /// Unload all accounts
    #[arg(short = 'R', long = "remove-all")]
    pub remove_all: bool,
    /// Unload the account after SECONDS (0: never)
    #[arg(short = 't', long = "lifetime", value_name = "SECONDS")]
    pub lifetime: Option<u64>,
    /// Lock the agent with a password
    #[arg(short = 'x', long = "lock")]
    pub lock: bool,
    /// Unlock the agent
    #[arg(short = 'X', long = "unlock")]
    pub unlock: bool,
    /// Print the decrypted account (its JSON) and exit
    #[arg(short = 'p', long = "print")]
    pub print: bool,
    /// Print the issuers of issuer.config, one per line (for completions)
    #[arg(long = "list-issuers", hide = true)]
    pub list_issuers: bool,
    /// Load without the agent's test refresh
    #[arg(long = "skip-check")]
    pub skip_check: bool,
    /// Load the account even when it is loaded already (a file changed
    /// behind the agent, a new lifetime)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Keep a WLCG bearer-token file with a fresh access token of the account [default: $BEARER_TOKEN_FILE, else $XDG_RUNTIME_DIR/bt_u$UID, else /tmp/bt_u$UID]
    #[arg(long = "token-file", value_name = "PATH", num_args = 0..=1, require_equals = true,
          default_missing_value = "", conflicts_with_all = ["no_token_file", "remove"])]
    pub token_file: Option<String>,
    /// Stop keeping the account's token file and remove it
    #[arg(long = "no-token-file", conflicts_with = "remove")]
    pub no_token_file: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Entry point of `oidc-add`.
pub fn main() -> u8 {
    let args: Args = super::parse(super::flags::Tool::Add);
    super::run("oidc-add", || execute(&args))
}

fn execute(args: &Args) -> anyhow::Result<()> {
    if let Some(mode) = std::env::var_os(super::autoload::CLIENT_ENV) {
        // Run by oidc-token or git-credential-oidc to autoload NAME.
        super::autoload::end_with_parent();
        let name = args.name.as_deref().context("no account given")?;
        let mode = mode.to_string_lossy();
        let no_prompt = (mode != "prompt")
            .then(|| mode.strip_prefix("keyring:").unwrap_or("no prompt allowed"));
        load_for_client(name, no_prompt)?;
        return Ok(());
    }
    if args.list {
        let names = Store::default_dir().list()?;
        if names.is_empty() {
            eprintln!("No accounts configured; create one with `oidc-gen NAME`.");
        }
        super::write_stdout(&listing(&names, CONFIGURED, None, is_tty()))?;
        return Ok(());
    }
    if args.list_issuers {
        let config = crate::account::issuers::read(Store::default_dir().dir())?;
        for issuer in config.issuers() {
            println!("{issuer}");
        }
        return Ok(());
    }
    if args.print {
        // As oidc-agent's oidc-add does (its --help says "encrypted", its
        // code decrypts): the account's JSON, one line.
        let name = args.name.as_deref().context("no account given")?;
        let (opened, _) = super::open_account(&args.password, &Store::default_dir(), name)?;
        let json = opened.config.to_json();
        super::write_stdout(json.expose())?;
        super::write_stdout("\n")?;
        return Ok(());
    }
    let client = AgentClient::from_env()?;
    if args.loaded && args.json {
        let accounts = client.status()?.accounts;
        super::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&accounts)?))?;
        return Ok(());
    }
    if args.loaded {
        let names = client.loaded_accounts()?;
        super::write_stdout(&listing(&names, LOADED, Some(NONE_LOADED), is_tty()))?;
        return Ok(());
    }
    if args.remove_all {
        client.call(&Request::RemoveAll)?;
        println!("All accounts unloaded.");
        return Ok(());
    }
    if args.lock || args.unlock {
        let password = args.password.get(
            if args.lock {
                "Lock password: "
            } else {
                "Unlock password: "
            },
            args.lock,
        )?;
        let reply = client.call(&if args.lock {
            Request::Lock { password }
        } else {
            Request::Unlock { password }
        })?;
        println!(
            "{}",
            reply
                .info
                .and_then(|i| i.as_str().map(str::to_owned))
                .unwrap_or_default()
        );
        return Ok(());
    }
    let name = args.name.as_deref().context("no account given")?;
    if args.remove {
        crate::account::store::check_name(name)?;
        client
            .call(&Request::Remove {
                account: name.to_owned(),
            })
            .map_err(|e| match e {
                // The agent's words are oidc-agent's; say which account.
                crate::Error::Agent {
                    kind: ErrorKind::NotLoaded,
                    message,
                } => crate::Error::Agent {
                    kind: ErrorKind::NotLoaded,
                    message: format!(
                        "'{name}': {message} (`oidc-add -a` lists the loaded accounts)"
                    ),
                },
                other => other,
            })?;
        println!("Account '{name}' unloaded.");
        return Ok(());
    }
    if args.token_file.is_some() || args.no_token_file {
        return token_file(&client, args, name);
    }
    // oidc-agent since 4.3: a loaded account is not loaded again without
    // -f, so an `oidc-add NAME` in every new shell asks for no password.
    let name = default_for_issuer(&Store::default_dir(), name)?;
    // Loaded again: one whose login the provider refused (its file may hold
    // a new login the agent cannot read: an account made anew elsewhere has
    // a new data key), and one loaded without a file the agent can write
    // (by oidc-agent's oidc-add without a password), which it then writes
    // its newest refresh token to.
    let load_again = || {
        client
            .status()
            .ok()
            .and_then(|s| {
                let a = s.account(&name)?;
                Some(a.needs_reauthentication || a.account_file.is_none())
            })
            .unwrap_or(false)
    };
    if !args.force && client.loaded_accounts()?.contains(&name) && !load_again() {
        match args.lifetime {
            None => println!("Account '{name}' already loaded"),
            Some(_) => println!(
                "Account '{name}' already loaded; its lifetime is as it was (-f loads it again \
                 with -t)"
            ),
        }
        return Ok(());
    }
    open_and_load(&client, args, &name)?;
    println!("Account '{name}' loaded.");
    Ok(())
}

/// oidc-agent's headings of the lists, printed only on a terminal (a
/// script reads the names alone, as with oidc-agent).
pub const CONFIGURED: &str = "The following account configurations are usable: ";
const LOADED: &str = "The following account configurations are currently loaded: ";
const NONE_LOADED: &str = "No account configurations are currently loaded.";

fn is_tty() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal()
}

/// A list of account names, one per line; on a terminal under oidc-agent's
/// heading (or its line for an empty list).
pub fn listing(names: &[String], heading: &str, none: Option<&str>, tty: bool) -> String {
    let mut out = String::new();
    match (tty, names.is_empty(), none) {
        (true, true, Some(none)) => out.push_str(&format!("{none}\n")),
        (true, false, _) => out.push_str(&format!("{heading}\n")),
        _ => {}
    }
    for n in names {
        out.push_str(&format!("{n}\n"));
    }
    out
}

/// Decrypts account `name` (the password as `args` say) and loads it.
fn open_and_load(client: &AgentClient, args: &Args, name: &str) -> anyhow::Result<()> {
    let store = Store::default_dir();
    // From the read to the agent's reply: an `oidc-gen --rename` meanwhile
    // would leave the agent saving under the old name (see `lock_account`).
    let _loading = store.lock_account(name, || waiting_for_another(name))?;
    super::newest::refuse_if_held_elsewhere(client, &store, name)?;
    let (opened, password) = super::open_account(&args.password, &store, name)?;
    load(
        client,
        opened,
        Load {
            lifetime: args.lifetime,
            skip_check: args.skip_check,
            password: Some(&password),
            ..Default::default()
        },
    )?;
    Ok(())
}

/// Says (on stderr) why a program waits for the lock on account `name`.
pub(super) fn waiting_for_another(name: &str) {
    eprintln!("{}", waiting_text(name));
}

/// Why a program waits for the lock on account `name`.
fn waiting_text(name: &str) -> String {
    format!("Another program is loading or renaming '{name}'; waiting for it.")
}

/// The account `oidc-add TARGET` loads: TARGET itself, or for an issuer URL
/// (containing "://", as `oidc-token` takes it) the issuer's default account
/// in issuer.config (oidc-agent 5.2's `oidc-add <issuer_url>`).
fn default_for_issuer(store: &Store, target: &str) -> crate::Result<String> {
    if !target.contains("://") {
        return Ok(target.to_owned());
    }
    let issuers = crate::account::issuers::read(store.dir())?;
    match issuers.default_account_for(target) {
        Some(name) => Ok(name.to_owned()),
        None => Err(crate::Error::Agent {
            kind: ErrorKind::NotLoaded,
            message: format!(
                "no default account for issuer {target} in {}; load one by name (`oidc-add -l` \
                 lists them)",
                store.dir().join(crate::paths::ISSUER_CONFIG).display()
            ),
        }),
    }
}

/// Sends a decrypted account to the agent ([`AgentClient::load`]) and says
/// when a file in oidc-agent's format will be converted.
pub fn load(client: &AgentClient, mut opened: Opened, how: Load<'_>) -> crate::Result<()> {
    // The account is the one its file name says, the name the person typed:
    // a file copied (or moved by hand) under a new name is loaded under that
    // name, not under the one inside it (then `oidc-token NEW` failed).
    if let Some(file_name) = opened.path.file_name().and_then(|f| f.to_str())
        && file_name != opened.config.name
    {
        opened.config.name = file_name.to_owned();
    }
    let name = opened.config.name.clone();
    // A stopped agent's newest token, which its file never got.
    let left = super::newest::take_left_behind(&mut opened);
    let mut how = how;
    if let Some(left) = &left {
        how.unwritten = Some((&left.sealed, &left.why));
    }
    let path = opened.path.clone();
    let loaded = client.load(opened, how)?;
    if let Some(left) = &left {
        left.handed_on(&path);
    }
    match loaded {
        Loaded::ConvertsOnRotation => eprintln!(
            "oidc-add: note: '{name}' is in oidc-agent's format; it stays as it is unless the provider rotates the \
             refresh token, then it is converted to the oidc-agent-rs format (the old file kept as {name}.bak)"
        ),
        Loaded::Plain(Some(warning)) => eprintln!("oidc-add: warning: {warning}"),
        Loaded::Plain(None) => {}
    }
    Ok(())
}

/// `--token-file` / `--no-token-file`: loads the account unless it is
/// loaded already, then tells the agent which file to keep (or to stop).
fn token_file(client: &AgentClient, args: &Args, name: &str) -> anyhow::Result<()> {
    if args.no_token_file {
        let reply = client.call(&Request::TokenFile {
            account: name.to_owned(),
            path: None,
        })?;
        match reply.info.as_ref().and_then(|i| i.as_str()) {
            Some(old) => println!("The agent no longer keeps {old} for '{name}' (removed)."),
            None => println!("No token file was kept for '{name}'."),
        }
        return Ok(());
    }
    let path = match args.token_file.as_deref() {
        Some(p) if !p.is_empty() => {
            std::path::absolute(p).with_context(|| format!("cannot resolve {p}"))?
        }
        _ => crate::paths::bearer_token_file(),
    };
    // A lifetime is given with a load: also for a loaded account, whose
    // lifetime a load renews (it was dropped here without a word).
    let was_loaded = client.loaded_accounts()?.iter().any(|n| n == name);
    if args.lifetime.is_some() || !was_loaded {
        open_and_load(
            client,
            args,
            &default_for_issuer(&Store::default_dir(), name)?,
        )?;
    }
    let kept = client.call(&Request::TokenFile {
        account: name.to_owned(),
        path: Some(path.clone()),
    });
    if let Err(e) = kept {
        // All or nothing: an account loaded only for the file goes again
        // (the exit code says it failed; it did not half succeed).
        if !was_loaded {
            let _ = client.call(&Request::Remove {
                account: name.to_owned(),
            });
        }
        return Err(e.into());
    }
    if !was_loaded || args.lifetime.is_some() {
        println!("Account '{name}' loaded.");
    }
    println!(
        "The agent keeps a fresh access token of '{name}' in {}{}.",
        path.display(),
        how_tools_find(&path)
    );
    Ok(())
}

/// How WLCG tools find token file `path`: by `BEARER_TOKEN_FILE` as it is
/// set, by the discovery location, or once the variable names it.
fn how_tools_find(path: &std::path::Path) -> String {
    use crate::paths::{ENV_BEARER_TOKEN_FILE, bearer_token_file_from_env, wlcg_token_file};
    if bearer_token_file_from_env().as_deref() == Some(path) {
        format!(" (${ENV_BEARER_TOKEN_FILE})")
    } else if path == wlcg_token_file() {
        " (where WLCG tools look without BEARER_TOKEN_FILE)".to_owned()
    } else {
        format!(
            "; for tools to find it: export {ENV_BEARER_TOKEN_FILE}={}",
            path.display()
        )
    }
}

/// oidc-add's side of `oidc-token`'s autoload (`super::autoload`): loads
/// account `name`, configured here, with the password from the keyring or,
/// unless `no_prompt` says why not (a kubectl exec plugin run with
/// `interactiveMode: Never`, git with `GIT_TERMINAL_PROMPT=0`) and there is
/// a terminal, from a prompt on it (also when the keyring's is wrong).
/// Without either: the agent's "not loaded" error, saying why no autoload
/// happened.
fn load_for_client(name: &str, no_prompt: Option<&str>) -> crate::Result<()> {
    let client = AgentClient::from_env()?;
    let can_ask = || no_prompt.is_none() && super::autoload::have_terminal();
    let store = Store::default_dir();
    let path = store.path(name)?;
    // One load of the account at a time: a second oidc-token started with
    // the first (a script's `&`, rclone's parallel transfers) waits for the
    // first one's prompt, then finds the account loaded.
    let _loading = store.lock_account(name, || {
        if can_ask() {
            // On the terminal: oidc-token reads this program's stderr.
            super::tty::say(&format!("{}\n", waiting_text(name)));
        }
    })?;
    if client.loaded_accounts()?.iter().any(|n| n == name) {
        return Ok(());
    }
    super::newest::refuse_if_held_elsewhere(&client, &store, name)?;
    let bytes = store.read(name)?;
    // A damaged file is said before anyone is asked for its password.
    crate::account::check_shape(&path, &bytes)?;
    let stored = crate::keyring::get(&path).ok().flatten();
    let mut tried_keyring = false;
    let opened = match stored {
        Some(pw) => {
            tried_keyring = true;
            match crate::account::open_bytes(&path, &bytes, &pw) {
                Ok(opened) => Some((opened, pw)),
                // A stale keyring entry: ask on the terminal, if any.
                Err(Error::WrongPassword { .. }) if can_ask() => None,
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    let (opened, password): (_, SecretString) = match opened {
        Some(found) => found,
        None if can_ask() => {
            let prompt = if tried_keyring {
                format!("The keyring's password for '{name}' is wrong; password to load it: ")
            } else {
                format!("Account '{name}' is not loaded; password to load it: ")
            };
            super::password::prompt_to_open(&prompt, &path, &bytes)?
        }
        None => {
            return Err(Error::Agent {
                kind: ErrorKind::NotLoaded,
                message: format!(
                    "{}{}no password for '{name}' in the keyring and {}",
                    crate::protocol::strings::NOT_LOADED,
                    super::autoload::NO_AUTOLOAD,
                    match no_prompt {
                        None => "no terminal to ask on (or it runs in the background)".to_owned(),
                        Some(why) => format!("no prompt allowed ({why})"),
                    }
                ),
            });
        }
    };
    load(
        &client,
        opened,
        Load {
            password: Some(&password),
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// oidc-agent's headings, on a terminal only: a script gets the names.
    #[test]
    fn lists_carry_oidc_agents_heading_on_a_terminal_only() {
        let names = ["a".to_owned(), "b".to_owned()];
        assert_eq!(listing(&names, CONFIGURED, None, false), "a\nb\n");
        assert_eq!(
            listing(&names, LOADED, Some(NONE_LOADED), true),
            format!("{LOADED}\na\nb\n")
        );
        assert_eq!(
            listing(&[], LOADED, Some(NONE_LOADED), true),
            format!("{NONE_LOADED}\n")
        );
        assert_eq!(listing(&[], LOADED, Some(NONE_LOADED), false), "");
        assert_eq!(listing(&[], CONFIGURED, None, true), "");
    }
}
