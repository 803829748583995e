//! `oidc-gen`: create, re-authenticate and manage accounts.
//!
//! Creating an account: discovery, a client (given, or registered per
//! RFC 7591), then a refresh token from one of the flows (an imported one,
//! the code flow with PKCE through our own loopback listener, or the device
//! flow), the encrypted file, and loading it into the running agent. This
//! file only dispatches. The steps, each using only those before it:
//! `args` (the command line), `runtime` and `interrupt` (the async runtime
//! and Ctrl-C), `session` (what every path shares), `given` (a client
//! given by flags or a file), `registration` (a registered client),
//! `issuer` (asking for the issuer), `undo` (what a login given up
//! revokes), the ways of getting tokens `import`, `code` and `device`,
//! `complete` (save and load), `pasted` (`--codeExchange`), and the paths
//! `create`, `edit` and `manage`. Only stdout carries results (`-p`, `-l`,
//! `--only-at`); everything for the user goes to stderr.

mod args;
mod code;
mod complete;
mod create;
mod device;
mod edit;
mod given;
mod import;
mod interrupt;
mod issuer;
mod manage;
mod pasted;
mod registration;
mod runtime;
mod session;
mod undo;

use std::path::Path;

use crate::account::store::Store;

pub use args::{Args, ClientAuthArg, Flow, PromptMode};

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
        // On a terminal asked for, as oidc-agent's oidc-gen asks.
        (None, None) => issuer::ask_name(args)?,
    };
    // A FILE (with a '/'), also given as NAME: `oidc-gen -p --pw-env FILE`.
    if (args.print.is_some() || args.update.is_some()) && name.contains('/') {
        let Some((file_store, base)) = Store::of_named_file(Path::new(&name)) else {
            return Err(crate::Error::Usage(format!("not an account file: {name}")).into());
        };
        (store, name) = (file_store, base);
    }
    let name = name.as_str();
    store.path(name)?;
    if args.print.is_some() {
        let (opened, _) = super::open_account(&args.password, &store, name)?;
        let json = serde_json::to_string_pretty(&opened.config)?;
        super::write_stdout(&format!("{json}\n"))?;
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
