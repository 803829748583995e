//! Saving a loaded account's newest refresh token to its file.
//!
//! A save is a compare-and-swap under the account directory's lock
//! (`store::lock_dir`): the file is opened with the account's data key and
//! overwritten only while it still holds the refresh token the agent last
//! saw there. So `oidc-gen --reauthenticate` or another agent that rewrote
//! the file meanwhile is never clobbered, and `oidc-gen -u` (which keeps the
//! data key) never interleaves with a save. A file not in our format (still
//! oidc-agent's, or damaged) cannot be opened without the password: it is
//! backed up and replaced from the account's template (`Persist::convert_to`:
//! the conversion, or the file as last read or written); a renamed file is
//! followed (`follow`); a deleted file is written again from the template,
//! under the same header, so the same password opens it.
//!
//! A save that fails leaves the newest token in memory, marked unsaved
//! ([`record_save`]): `accounts` retries it on a timer, on every request for
//! the account, before any unload and at SIGTERM, and `--status` and every
//! `oidc-token` caller are told.

use std::path::{Path, PathBuf};

use super::ctx::Ctx;
use super::log::{fingerprint, log};
use super::rotated::Rotated;
use super::state::{Persist, Unsaved};
use crate::account::config::AccountConfig;
use crate::account::format;
use crate::account::store;
use crate::secret::SecretString;

/// One write of an account.
pub struct SaveJob {
    /// Where and under which key.
    pub persist: Persist,
    /// What to write (the newest refresh token included).
    pub config: AccountConfig,
    /// The refresh token the file is expected to hold.
    pub expected: Option<SecretString>,
    /// The tokens the account has rotated away from.
    pub rotated: Rotated,
}

/// What a successful save did; with the file written, the account's new
/// template (`Persist::convert_to`).
#[derive(Debug, PartialEq, Eq)]
pub enum Saved {
    /// Re-sealed the file.
    Written(Vec<u8>),
    /// The file already held this refresh token.
    AlreadyThere,
    /// Replaced a file not of ours (oidc-agent's, or damaged); the old one
    /// kept at this path.
    Converted(PathBuf, Vec<u8>),
    /// Wrote the file again, which had been deleted.
    Recreated(Vec<u8>),
    /// The file was renamed (`oidc-gen --rename` in a shell this agent is
    /// not reached from): wrote the one file its key opens now, at this path.
    Moved(PathBuf, Vec<u8>),
}

impl SaveJob {
    /// Runs the write on the blocking pool (Argon2-free, but disk I/O and
    /// `flock` must not stall the runtime).
    pub async fn run(self) -> Result<Saved, String> {
        tokio::task::spawn_blocking(move || self.write())
            .await
            .unwrap_or_else(|e| Err(format!("the save task failed: {e}")))
    }

    fn write(&self) -> Result<Saved, String> {
        let path = &self.persist.path;
        let dir = path.parent().unwrap_or(Path::new("."));
        let _lock = store::lock_dir(dir).map_err(|e| e.to_string())?;
        write_to(
            path,
            &self.persist,
            &self.config,
            self.expected.as_ref(),
            &self.rotated,
        )
    }
}

/// Writes `config` to `path` (sealed under `persist.key`), comparing with
/// the file's current refresh token first: the `expected` one, or one the
/// account has `rotated` away from, is overwritten. The caller holds the
/// directory lock. Also used by `rename`, with `path` the new file and
/// `persist.path` the file to read the header from.
pub fn write_to(
    path: &Path,
    persist: &Persist,
    config: &AccountConfig,
    expected: Option<&SecretString>,
    rotated: &Rotated,
) -> Result<Saved, String> {
    let source = &persist.path;
    // The account is the one its file name says: an agent that followed a
    // rename writes the new name in it, not the one it serves it under.
    let json = match path.file_name().and_then(|n| n.to_str()) {
        Some(name) if name != config.name => AccountConfig {
            name: name.to_owned(),
            ..config.clone()
        }
        .to_json(),
        _ => config.to_json(),
    };
    // Whom `oidc-add -f` reloads: the account as its file is named now (a
    // rename writes the new name's file from the old one).
    let reload = source
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&config.name);
    let file = match store::read_account_file(source) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Renamed while loaded: the file is followed, never written
            // again under the old name, where a later load would find the
            // newest token while the new name keeps one the provider has
            // rotated away from.
            if path == source
                && let Some(moved) = super::follow::moved_to(source, &persist.key)
            {
                return write_moved(moved, persist, config, expected, rotated);
            }
            // Deleted while loaded: written again from the file as last
            // seen (same header, so the same password opens it).
            let Some(template) = &persist.convert_to else {
                return Err(format!("cannot read {}: {e}", source.display()));
            };
            let sealed = format::reseal(template, &persist.key, json.expose().as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            store::write_atomic(path, &sealed).map_err(|e| e.to_string())?;
            return Ok(Saved::Recreated(sealed));
        }
        Err(e) => return Err(format!("cannot read {}: {e}", source.display())),
    };
    if !format::is_ours(&file) {
        let Some(template) = &persist.convert_to else {
            return Err(format!(
                "{} is not in the oidc-agent-rs format and the agent has no key for it; \
                 load the account again with `oidc-add -f {}`",
                source.display(),
                reload
            ));
        };
        let backup = store::backup(source, &file).map_err(|e| e.to_string())?;
        let sealed = format::reseal(template, &persist.key, json.expose().as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        store::write_atomic(path, &sealed).map_err(|e| e.to_string())?;
        return Ok(Saved::Converted(backup, sealed));
    }
    // Not the file's own words ("restore it from a backup"): a backup would
    // put back a refresh token the provider has rotated away from.
    let on_disk = crate::account::open_with_key(source, &file, &persist.key).map_err(|_| {
        format!(
            "{} no longer opens with the key '{}' was loaded with (re-encrypted by another \
             program, or damaged); load the account again with `oidc-add -f {}`",
            source.display(),
            config.name,
            reload
        )
    })?;
    if source == path && on_disk.refresh_token == config.refresh_token {
        return Ok(Saved::AlreadyThere);
    }
    if expected.is_some_and(|e| *e != on_disk.refresh_token)
        && !rotated.contains(&on_disk.refresh_token)
    {
        return Err(format!(
            "{} was changed by another program since the account was loaded (a new login?); \
             not overwritten — load it again with `oidc-add -f {}`",
            source.display(),
            reload
        ));
    }
    let sealed = format::reseal(&file, &persist.key, json.expose().as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    store::write_atomic(path, &sealed).map_err(|e| e.to_string())?;
    Ok(Saved::Written(sealed))
}

/// Writes `config` to the file it was renamed to, `moved` (under the name
/// the file has now), with the same compare-and-swap as any save.
fn write_moved(
    moved: PathBuf,
    persist: &Persist,
    config: &AccountConfig,
    expected: Option<&SecretString>,
    rotated: &Rotated,
) -> Result<Saved, String> {
    let persist = Persist {
        path: moved.clone(),
        ..persist.clone()
    };
    let sealed = match write_to(&moved, &persist, config, expected, rotated)? {
        Saved::Written(sealed) => sealed,
        _ => store::read_account_file(&moved).map_err(|e| e.to_string())?,
    };
    Ok(Saved::Moved(moved, sealed))
}

/// Records the outcome of writing refresh token `rt` of `name`; logs it.
/// Returns the error of a failed write.
pub(super) fn record_save(
    ctx: &Ctx,
    name: &str,
    rt: &SecretString,
    result: Result<Saved, String>,
) -> Result<(), String> {
    let mut st = ctx.state();
    let acct = st.accounts.get_mut(name);
    let fp = fingerprint(rt);
    match result {
        Ok(saved) => {
            let path = acct
                .as_ref()
                .and_then(|a| a.persist.as_ref())
                .map(|p| p.path.display().to_string())
                .unwrap_or_default();
            // Never written: oidc-gen could not write the new account's file.
            let first = acct.as_ref().is_some_and(|a| a.file_rt.is_none());
            if let Some(a) = acct {
                a.file_rt = Some(rt.clone());
                if a.config.refresh_token == *rt && a.unsaved.take().is_some() {
                    super::note::withdraw_note(a);
                    // The rename took the note along (`held::moved`).
                    if let Saved::Moved(to, _) = &saved {
                        crate::account::held::withdraw(to);
                    }
                }
                if let (
                    Some(p),
                    Saved::Written(file)
                    | Saved::Converted(_, file)
                    | Saved::Recreated(file)
                    | Saved::Moved(_, file),
                ) = (a.persist.as_mut(), &saved)
                {
                    p.convert_to = Some(file.clone());
                }
                if let (Some(p), Saved::Moved(to, _)) = (a.persist.as_mut(), &saved) {
                    p.path = to.clone();
                }
            }
            match saved {
                Saved::Written(_) => log!("'{name}': saved refresh token {fp} to {path}"),
                Saved::AlreadyThere => {}
                Saved::Converted(backup, _) => log!(
                    "'{name}': {path} was not in the oidc-agent-rs format (oidc-agent's, or damaged): \
                     wrote refresh token {fp} in ours; the old file is kept as {}",
                    backup.display()
                ),
                Saved::Recreated(_) if first => {
                    log!(
                        "'{name}': wrote {path}, which oidc-gen could not, with refresh token {fp}"
                    )
                }
                Saved::Moved(to, _) => log!(
                    "'{name}': {path} was renamed to {} (oidc-gen --rename elsewhere): saved \
                     refresh token {fp} there",
                    to.display()
                ),
                Saved::Recreated(_) => log!(
                    "'{name}': {path} was gone: wrote it again with refresh token {fp} \
                     (the same password opens it)"
                ),
            }
            Ok(())
        }
        Err(e) => {
            if let Some(a) = acct {
                let (since, noted) = a
                    .unsaved
                    .take()
                    .map_or_else(|| (ctx.clock.now(), None), |u| (u.since, u.noted));
                a.unsaved = Some(Unsaved {
                    since,
                    error: e.clone(),
                    noted,
                });
                super::note::note_holder(ctx, name, a);
            }
            log!(
                "'{name}': NOT SAVED: refresh token {fp} could not be written ({e}); \
                 it is kept in memory and the write is retried"
            );
            Err(e)
        }
    }
}

/// The warning every token reply for an account with an unsaved rotation
/// carries (`oidc-token` prints it on stderr).
pub(super) fn unsaved_warning(st: &super::state::State, name: &str) -> Option<String> {
    let a = st.accounts.get(name)?;
    let u = a.unsaved.as_ref()?;
    // A file another program changed (a new login) or re-encrypted names
    // its own remedy; the disk's is for a write that failed.
    let remedy = if u.error.contains("`oidc-add -f ") {
        ""
    } else {
        " — free space or fix the directory, the agent retries the write"
    };
    Some(format!(
        "the newest refresh token of '{name}' is not saved to {} ({}); it is kept in memory \
         only{remedy}",
        a.persist
            .as_ref()
            .map(|p| p.path.display().to_string())
            .unwrap_or_default(),
        u.error
    ))
}

/// The pending save of `name`, if it has an unsaved rotation.
fn pending(ctx: &Ctx, name: &str) -> Option<SaveJob> {
    let st = ctx.state();
    let a = st.accounts.get(name)?;
    a.unsaved.as_ref()?;
    Some(SaveJob {
        persist: a.persist.clone()?,
        config: a.config.clone(),
        expected: a.file_rt.clone(),
        rotated: a.rotated.clone(),
    })
}

/// Writes `name`'s unsaved rotation, if any. Call holding its lane.
pub(super) async fn save_pending(ctx: &Ctx, name: &str) -> Result<(), String> {
    let Some(job) = pending(ctx, name) else {
        return Ok(());
    };
    let rt = job.config.refresh_token.clone();
    let result = job.run().await;
    record_save(ctx, name, &rt, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::format::KdfParams;

    fn account(rt: &str) -> AccountConfig {
        let mut c = AccountConfig::new("a", "https://op", "cid");
        c.refresh_token = rt.into();
        c
    }

    /// The disk's remedy only where the write failed: a file changed by a
    /// new login names its own (tester7 F6).
    #[test]
    fn the_unsaved_warning_names_the_remedy_of_its_cause() {
        let (_tmp, persist) = setup("rt-1");
        let mut st = crate::agent::state::State::default();
        let lane = st.lane("a");
        let warning = |st: &mut crate::agent::state::State, error: &str| {
            let mut loaded = crate::agent::state::Loaded::new(
                account("rt-2"),
                Some(persist.clone()),
                lane.clone(),
                0,
            );
            loaded.unsaved = Some(Unsaved {
                since: 0,
                error: error.to_owned(),
                noted: None,
            });
            st.insert(loaded);
            unsaved_warning(st, "a").expect("a warning")
        };
        let full = warning(&mut st, "No space left on device (os error 28)");
        assert!(full.contains("free space"), "{full}");
        let changed = warning(
            &mut st,
            "/x/a was changed by another program since the account was loaded (a new login?); \
             not overwritten — load it again with `oidc-add -f a`",
        );
        assert!(!changed.contains("free space"), "{changed}");
    }

    fn setup(rt: &str) -> (tempfile::TempDir, Persist) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("a");
        let json = account(rt).to_json();
        let (bytes, key) =
            format::seal_new(b"pw", json.expose().as_bytes(), KdfParams::TESTING).expect("seal");
        std::fs::write(&path, bytes).expect("write");
        (
            tmp,
            Persist {
                path,
                key,
                convert_to: None,
            },
        )
    }

    fn rt_on_disk(p: &Persist) -> String {
        let file = std::fs::read(&p.path).expect("read");
        let c = crate::account::open_with_key(&p.path, &file, &p.key).expect("open");
        c.refresh_token.expose().to_owned()
    }

    #[test]
    fn saves_only_over_the_expected_token() {
        let (_tmp, p) = setup("rt1");
        let job = |rt: &str, expected: &str| SaveJob {
            persist: p.clone(),
            config: account(rt),
            expected: Some(expected.into()),
            rotated: Rotated::default(),
        };
        assert!(matches!(job("rt2", "rt1").write(), Ok(Saved::Written(_))));
        assert_eq!(rt_on_disk(&p), "rt2");
        assert_eq!(job("rt2", "rt1").write(), Ok(Saved::AlreadyThere));
        // Another program wrote rt9: a stale rotation does not clobber it.
        let err = job("rt3", "rt1").write().expect_err("conflict");
        assert!(err.contains("changed by another program"), "{err}");
        assert_eq!(rt_on_disk(&p), "rt2");
    }

    #[test]
    fn a_file_under_another_key_is_not_overwritten() {
        let (_tmp, p) = setup("rt1");
        let stale = Persist {
            key: crate::secret::SecretKey::random(),
            ..p.clone()
        };
        let err = SaveJob {
            persist: stale,
            config: account("rt2"),
            expected: Some("rt1".into()),
            rotated: Rotated::default(),
        }
        .write()
        .expect_err("other key");
        assert!(err.contains("re-encrypted"), "{err}");
        assert_eq!(rt_on_disk(&p), "rt1");
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_panic() {
        let (_tmp, p) = setup("rt1");
        std::fs::remove_file(&p.path).expect("rm");
        let err = SaveJob {
            persist: p,
            config: account("rt2"),
            expected: None,
            rotated: Rotated::default(),
        }
        .write()
        .expect_err("missing");
        assert!(err.contains("cannot read"), "{err}");
    }

    /// With the file as last seen (what the agent keeps once it has read
    /// it), a deleted file is written again, opened by the same password,
    /// and a file that is not ours (damaged) is kept as `.bak` and replaced.
    #[test]
    fn a_deleted_or_damaged_file_is_written_again_from_the_last_one_seen() {
        let (_tmp, mut p) = setup("rt1");
        p.convert_to = Some(std::fs::read(&p.path).expect("read"));
        std::fs::remove_file(&p.path).expect("rm");
        let job = |rt: &str| SaveJob {
            persist: p.clone(),
            config: account(rt),
            expected: Some("rt1".into()),
            rotated: Rotated::default(),
        };
        assert!(matches!(job("rt2").write(), Ok(Saved::Recreated(_))));
        assert_eq!(rt_on_disk(&p), "rt2");
        let file = std::fs::read(&p.path).expect("read");
        let opened =
            crate::account::open_bytes(&p.path, &file, &"pw".into()).expect("same password");
        assert_eq!(opened.config.refresh_token.expose(), "rt2");

        std::fs::write(&p.path, b"damaged").expect("damage");
        let Ok(Saved::Converted(backup, _)) = job("rt3").write() else {
            panic!("not replaced")
        };
        assert_eq!(std::fs::read(&backup).expect("backup"), b"damaged");
        assert_eq!(rt_on_disk(&p), "rt3");
    }
}
