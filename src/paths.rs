//! Every path and environment variable the tools use, in one place.
//!
//! Account directory: `$OIDC_CONFIG_DIR`, else `~/.config/oidc-agent` when
//! `~/.config` exists, else `~/.oidc-agent` (oidc-agent's rule). Socket:
//! `$OIDC_SOCK`, else oidc-agent 5.x's well-known service socket.

use std::path::PathBuf;

/// The socket path variable, set by `eval "$(oidc-agent)"`.
pub const ENV_SOCK: &str = "OIDC_SOCK";
/// The agent PID variable, used by `oidc-agent -k`.
pub const ENV_PID: &str = "OIDCD_PID";
/// Overrides the account directory.
pub const ENV_CONFIG_DIR: &str = "OIDC_CONFIG_DIR";
/// Default variable for `--pw-env`.
pub const ENV_PASSWORD: &str = "OIDC_ENCRYPTION_PW";
/// Default variable for `--rt-env`.
pub const ENV_REFRESH_TOKEN: &str = "OIDC_REFRESH_TOKEN";
/// The issuer list file inside the account directory.
pub const ISSUER_CONFIG: &str = "issuer.config";

/// The account directory (not created here).
pub fn config_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(ENV_CONFIG_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = dirs::home_dir().unwrap_or_else(|| PathBuf::from("."));
    let dot_config = home.join(".config");
    if dot_config.is_dir() {
        dot_config.join("oidc-agent")
    } else {
        home.join(".oidc-agent")
    }
}

/// The runtime temp directory (`$TMPDIR`, else `/tmp`).
pub fn tmp_dir() -> PathBuf {
    std::env::var_os("TMPDIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// oidc-agent 5.x's well-known socket, tried when `OIDC_SOCK` is unset
/// (`$TMPDIR/oidc-agent-service-$UID/oidc-agent.sock`).
pub fn service_socket() -> PathBuf {
    let uid = rustix::process::getuid().as_raw();
    tmp_dir()
        .join(format!("oidc-agent-service-{uid}"))
        .join("oidc-agent.sock")
}

/// The socket a client should talk to: `$OIDC_SOCK`, else the service socket
/// when it exists.
pub fn client_socket() -> Option<PathBuf> {
    if let Some(sock) = std::env::var_os(ENV_SOCK).filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(sock));
    }
    let service = service_socket();
    service.exists().then_some(service)
}
