//! Accounts loaded by oidc-agent's own `oidc-add` (4.x, 5.x), which decrypts
//! the account file itself and sends the account without a data key. With
//! the password it may send along (its `pw_entry`: `--pw-env`, `--pw-store`,
//! `--pw-file`), the agent opens the same file and can then write a rotated
//! refresh token to it, as for an account our `oidc-add` loads: an
//! oidc-agent file is converted to ours at the first rotation (the old one
//! kept as `NAME.bak`). Without a password the account has no file: a
//! rotation is kept in memory only, and the log and the reply (which that
//! `oidc-add` prints) say so.

use std::sync::Arc;

use super::ctx::Ctx;
use super::log::log;
use super::state::Persist;
use crate::account::config::AccountConfig;
use crate::protocol::PasswordEntry;
use crate::secret::SecretString;

/// Where `config`, sent by oidc-agent's `oidc-add` with password entry
/// `entry`, is persisted: its file in the agent's account directory, when
/// the password opens it and it holds the refresh token sent. Else why not,
/// for the reply (that client prints it): `None` when there is no such file.
pub(super) async fn persist_with_password(
    ctx: &Arc<Ctx>,
    config: &AccountConfig,
    entry: PasswordEntry,
) -> Result<Persist, Option<String>> {
    let name = config.name.clone();
    let path = ctx.store.path(&name).map_err(|_| None)?;
    if path.symlink_metadata().is_err() {
        return Err(None);
    }
    let sent = config.refresh_token.clone();
    // An Argon2id run (the file's KDF, and ours for a conversion).
    let _turn = ctx.kdf_turn.lock().await;
    let found = tokio::task::spawn_blocking(move || open_with_entry(path, &sent, entry)).await;
    match found {
        Ok(Ok(persist)) => {
            log!(
                "'{name}': loaded by oidc-agent's oidc-add with its password; rotated refresh \
                 tokens are saved to {}",
                persist.path.display()
            );
            Ok(persist)
        }
        Ok(Err(why)) => {
            log!(
                "'{name}': loaded by oidc-agent's oidc-add, whose account file cannot be written \
                 ({why}); a rotated refresh token is kept in memory only"
            );
            Err(Some(format!(
                "note: a rotated refresh token of '{name}' cannot be saved to its file ({why}); \
                 load it again with oidc-agent-rs's `oidc-add {name}` (the agent then writes it \
                 there), or with --pw-env or --pw-file"
            )))
        }
        Err(_) => Err(None),
    }
}

fn open_with_entry(
    path: std::path::PathBuf,
    sent: &SecretString,
    entry: PasswordEntry,
) -> Result<Persist, String> {
    let password = match (entry.password, &entry.pw_file) {
        (Some(password), _) => password,
        (None, Some(file)) => {
            // A regular file only, opened without blocking: the client's
            // `<(pass show x)` names a pipe of its own (/dev/fd/N), which
            // here would be one of the agent's descriptors.
            let source = file.display().to_string();
            let bytes = zeroize::Zeroizing::new(
                crate::account::store::read_account_file(file)
                    .map_err(|e| format!("{source}: {e}"))?,
            );
            crate::secret::first_line(&bytes[..], &source)?
        }
        (None, None) => return Err("it sent no password".into()),
    };
    let bytes = crate::account::store::read_account_file(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let opened = crate::account::open_bytes(&path, &bytes, &password).map_err(|e| e.to_string())?;
    if opened.config.refresh_token != *sent {
        return Err(format!(
            "{} holds another refresh token than the one sent",
            path.display()
        ));
    }
    let (key, template) =
        crate::account::writable(&opened, &password).map_err(|e| e.to_string())?;
    Ok(Persist {
        path,
        key,
        // The file as read (ours), or the conversion (oidc-agent's).
        convert_to: Some(template.unwrap_or(bytes)),
    })
}
