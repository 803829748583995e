//! Every path and environment variable the tools use, in one place.
//!
//! Account directory: `$OIDC_CONFIG_DIR`, else the first of
//! `~/.config/oidc-agent` and `~/.oidc-agent` that exists (oidc-agent's
//! rule). Socket: `$OIDC_SOCK`, else the per-user service socket: ours in
//! `$XDG_RUNTIME_DIR/oidc-agent/agent.sock` (where the systemd socket unit
//! puts it), else oidc-agent 5.x's `$TMPDIR/oidc-agent-service-$UID/`.

use std::path::PathBuf;

/// The socket path variable, set by `eval "$(oidc-agent)"`.
pub const ENV_SOCK: &str = "OIDC_SOCK";
/// The agent PID variable, used by `oidc-agent -k`.
pub const ENV_PID: &str = "OIDCD_PID";
/// Overrides the account directory.
pub const ENV_CONFIG_DIR: &str = "OIDC_CONFIG_DIR";
/// Default variable for `--pw-env`.
pub const ENV_PASSWORD: &str = "OIDC_ENCRYPTION_PW";
/// The new password for `oidc-gen -u` (without a terminal).
pub const ENV_NEW_PASSWORD: &str = "OIDC_NEW_ENCRYPTION_PW";
/// Default variable for `--rt-env`.
pub const ENV_REFRESH_TOKEN: &str = "OIDC_REFRESH_TOKEN";
/// Default variable for `--client-secret-env`.
pub const ENV_CLIENT_SECRET: &str = "OIDC_CLIENT_SECRET";
/// The variables that may hold a secret given to a command: removed from
/// the environment of every program the tools start that does not need them
/// (a browser, an autoloading `oidc-add`).
pub const SECRET_ENV: [&str; 4] = [
    ENV_PASSWORD,
    ENV_NEW_PASSWORD,
    ENV_REFRESH_TOKEN,
    ENV_CLIENT_SECRET,
];
/// The variable WLCG tools read the token file's path from.
pub const ENV_BEARER_TOKEN_FILE: &str = "BEARER_TOKEN_FILE";
/// The issuer list file inside the account directory.
pub const ISSUER_CONFIG: &str = "issuer.config";

/// The account directory (not created here), absolute: a relative
/// `OIDC_CONFIG_DIR` is taken from the current directory here, once, since
/// the agent, which saves rotated tokens into the files, runs from `/`.
pub fn config_dir() -> PathBuf {
    let dir = match std::env::var_os(ENV_CONFIG_DIR).filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => config_dir_in(&dirs::home_dir().unwrap_or_else(|| PathBuf::from("."))),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// oidc-agent's rule under `home` (`getOidcDir`, `createOidcDir`): the first
/// of `~/.config/oidc-agent` and `~/.oidc-agent` that exists; with neither,
/// the first whose parent exists (where `oidc-gen` creates it). So accounts
/// in `~/.oidc-agent` are found also once a `~/.config` appears.
fn config_dir_in(home: &std::path::Path) -> PathBuf {
    let candidates = [
        home.join(".config").join("oidc-agent"),
        home.join(".oidc-agent"),
    ];
    let existing = candidates.iter().find(|d| d.is_dir());
    let creatable = || {
        candidates
            .iter()
            .find(|d| d.parent().is_some_and(std::path::Path::is_dir))
    };
    existing
        .or_else(creatable)
        .cloned()
        .unwrap_or_else(|| home.join(".oidc-agent"))
}

/// The runtime temp directory: `$TMPDIR` (absolute) when it is a
/// directory, else `/tmp`, as mktemp(1) and oidc-agent fall back (a
/// `TMPDIR` left over from another session, or relative, would put the
/// socket where no client looks).
pub fn tmp_dir() -> PathBuf {
    std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .and_then(|d| std::path::absolute(d).ok())
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// The per-user service directory: `$XDG_RUNTIME_DIR/oidc-agent` where the
/// runtime directory exists (systemd's `%t/oidc-agent`), else oidc-agent
/// 5.x's `$TMPDIR/oidc-agent-service-$UID`.
pub fn service_dir() -> PathBuf {
    runtime_service_dir().unwrap_or_else(tmp_service_dir)
}

/// The per-user service socket inside [`service_dir`].
pub fn service_socket() -> PathBuf {
    match runtime_service_dir() {
        Some(dir) => dir.join("agent.sock"),
        None => tmp_service_dir().join("oidc-agent.sock"),
    }
}

/// The service's PID file (written by `oidc-agent-service`).
pub fn service_pid_file() -> PathBuf {
    service_dir().join("oidc-agent.pid")
}

fn runtime_service_dir() -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    runtime_dir(
        std::env::var_os("XDG_RUNTIME_DIR"),
        PathBuf::from(format!("/run/user/{uid}")),
    )
    .map(|d| d.join("oidc-agent"))
}

/// `$XDG_RUNTIME_DIR`; where it is not set (cron, a `sudo -u`, an ssh
/// command without a login session), the directory systemd-logind makes for
/// the user, `run_user` (`/run/user/$UID`), so that they find the same
/// service socket as the user's shells.
fn runtime_dir(xdg: Option<std::ffi::OsString>, run_user: PathBuf) -> Option<PathBuf> {
    let dir = xdg
        .filter(|d| !d.is_empty())
        .map_or(run_user, PathBuf::from);
    dir.is_dir().then_some(dir)
}

fn tmp_service_dir() -> PathBuf {
    let uid = rustix::process::getuid().as_raw();
    tmp_dir().join(format!("oidc-agent-service-{uid}"))
}

/// The well-known sockets a client tries when `OIDC_SOCK` is unset, in
/// order: ours under `$XDG_RUNTIME_DIR`, then oidc-agent 5.x's.
pub fn well_known_sockets() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = runtime_service_dir()
        .map(|d| d.join("agent.sock"))
        .into_iter()
        .collect();
    out.push(tmp_service_dir().join("oidc-agent.sock"));
    out
}

/// The socket a client should talk to: `$OIDC_SOCK`, else the first
/// well-known service socket that exists and is private (see [`is_private`]).
pub fn client_socket() -> Option<PathBuf> {
    if let Some(sock) = std::env::var_os(ENV_SOCK).filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(sock));
    }
    well_known_sockets().into_iter().find(|s| is_private(s))
}

/// True when `path` exists, is ours, and sits in a directory that is ours
/// and closed to others. A well-known name in a shared `/tmp` could have
/// been planted by another user to receive the accounts `oidc-add` sends.
pub fn is_private(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let uid = rustix::process::getuid().as_raw();
    let ours = |p: &std::path::Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.uid() == uid);
    let dir_private = path.parent().is_some_and(|d| {
        std::fs::symlink_metadata(d)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o077 == 0)
    });
    dir_private && ours(path)
}

/// The bearer-token file of WLCG Bearer Token Discovery: `$BEARER_TOKEN_FILE`,
/// else `$XDG_RUNTIME_DIR/bt_u$UID`, else `/tmp/bt_u$UID` (the discovery
/// rules name `/tmp` itself, not `$TMPDIR`).
pub fn bearer_token_file() -> PathBuf {
    bearer_token_file_from_env().unwrap_or_else(wlcg_token_file)
}

/// `$BEARER_TOKEN_FILE` when set; a relative one from the current
/// directory, where a tool started here would look (the agent, which
/// writes it, runs from `/`).
pub fn bearer_token_file_from_env() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os(ENV_BEARER_TOKEN_FILE).filter(|s| !s.is_empty())?);
    Some(std::path::absolute(&p).unwrap_or(p))
}

/// The WLCG discovery location tools look in without `BEARER_TOKEN_FILE`:
/// `$XDG_RUNTIME_DIR/bt_u$UID`, else `/tmp/bt_u$UID`.
pub fn wlcg_token_file() -> PathBuf {
    let uid = rustix::process::getuid().as_raw();
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    dir.join(format!("bt_u{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_xdg_runtime_dir_the_logind_directory_is_used() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (xdg, run_user) = (tmp.path().join("xdg"), tmp.path().join("run-user"));
        assert_eq!(runtime_dir(None, run_user.clone()), None, "neither exists");
        std::fs::create_dir(&run_user).expect("mkdir");
        assert_eq!(runtime_dir(None, run_user.clone()), Some(run_user.clone()));
        assert_eq!(
            runtime_dir(Some("".into()), run_user.clone()),
            Some(run_user.clone())
        );
        std::fs::create_dir(&xdg).expect("mkdir");
        assert_eq!(runtime_dir(Some(xdg.clone().into()), run_user), Some(xdg));
    }

    #[test]
    fn the_account_directory_follows_oidc_agents_rule() {
        let home = tempfile::tempdir().expect("tempdir");
        let h = home.path();
        // Neither exists nor ~/.config: ~/.oidc-agent is created.
        assert_eq!(config_dir_in(h), h.join(".oidc-agent"));
        std::fs::create_dir(h.join(".config")).expect("mkdir");
        assert_eq!(config_dir_in(h), h.join(".config/oidc-agent"));
        // An existing ~/.oidc-agent is found although ~/.config exists.
        std::fs::create_dir(h.join(".oidc-agent")).expect("mkdir");
        assert_eq!(config_dir_in(h), h.join(".oidc-agent"));
        // Both: ~/.config/oidc-agent first.
        std::fs::create_dir(h.join(".config/oidc-agent")).expect("mkdir");
        assert_eq!(config_dir_in(h), h.join(".config/oidc-agent"));
    }
}
