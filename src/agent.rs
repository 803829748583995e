//! The agent daemon: the accept loop, the timers and shutdown.
//!
//! A task per connection (`conn`) on a current-thread tokio runtime. The
//! modules below, inside out: `state` (what is held), `clock` (the time
//! lifetimes and expiry are measured against), `ctx` (what every connection
//! shares), `task` (how tasks start), `cache` (cached access tokens),
//! `rotated` (the tokens an account rotated away from), `save` (writing an
//! account file), `note` (the sealed note that keeps a rotation the file
//! could not take), `follow` (reading the file again as other programs
//! change it), `provider` (calls to the provider), `refresh` (single
//! flight), `tokens` (token requests), `token_file` (taking WLCG token
//! files), `ahead` (refresh ahead, writing token files), `accounts`,
//! `foreign` (accounts oidc-agent's own `oidc-add` loads), `rename` and
//! `lock` (every change to a loaded account, each holding the account's
//! lane), `handlers` and `status` (one reply per request), `conn` (framing
//! and oidc-agent's encrypted mode), `activation` (a socket passed by
//! systemd), `autoload`, `daemon` (process set-up) and `log`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;

pub use ctx::Ctx;
pub(crate) use log::log;

mod accounts;
pub mod activation;
mod ahead;
pub mod autoload;
mod cache;
pub mod clock;
pub mod conn;
mod ctx;
pub mod daemon;
mod follow;
mod foreign;
mod handlers;
mod lock;
pub mod log;
mod note;
mod provider;
mod refresh;
mod rename;
pub mod rotated;
mod save;
pub mod state;
mod status;
mod task;
mod token_file;
mod tokens;

pub use conn::{dispatch, read_message};

/// How often unsaved rotations are written again.
const SAVE_RETRY: Duration = Duration::from_secs(10);

/// Connections whose requests are read at once. Past it the agent takes
/// no more until one is read (they wait in the socket's backlog): a script
/// that opens connections and sends nothing holds each for at most the
/// read timeout, and cannot take the agent's file descriptors nor grow its
/// memory without bound. A request read gives its place up while it is
/// answered, so clients waiting on one slow provider keep no one else out.
const MAX_CONNECTIONS: usize = 512;

/// How often the agent checks that its socket is still its own.
const SOCKET_CHECK: Duration = Duration::from_secs(10);

/// The file at `path` (device and inode), if there is one.
fn identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Serves until SIGTERM/SIGINT/SIGHUP; then writes what is unsaved and
/// removes the socket (`None`: a socket systemd owns, which stays).
pub async fn serve(
    listener: UnixListener,
    ctx: Arc<Ctx>,
    socket: Option<PathBuf>,
) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let timers = {
        let ctx = ctx.clone();
        task::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut last_retry = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                accounts::expire_due(&ctx).await;
                ahead::tick(&ctx).await;
                if last_retry.elapsed() >= SAVE_RETRY {
                    last_retry = tokio::time::Instant::now();
                    accounts::retry_unsaved(&ctx, None).await;
                }
            }
        })
    };
    if let Some(path) = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(std::path::Path::to_path_buf))
    {
        let _ = ctx.socket.set(path);
    }
    match &socket {
        Some(socket) => log!("started; listening on {}", socket.display()),
        None => log!("started; serving the socket passed by systemd"),
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    // The socket as bound: an agent whose socket was removed (its runtime
    // directory emptied at logout) or replaced (another agent bound the
    // path) can no longer be reached, asked or stopped, yet would go on
    // refreshing its accounts beside the agent that replaced it.
    let bound = socket.as_deref().and_then(identity);
    let mut watch = tokio::time::interval(SOCKET_CHECK);
    let signal = loop {
        tokio::select! {
            (accepted, slot) = async {
                let slot = slots.clone().acquire_owned().await;
                (listener.accept().await, slot)
            } => match accepted {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    task::spawn(async move {
                        if let Err(e) = conn::serve(ctx, stream, slot.ok()).await {
                            log::connection_error(&e);
                        }
                    });
                }
                Err(e) => {
                    // Rate-limited: an fd limit reached lasts, and its line
                    // every 50 ms would push everything else out of the log.
                    log::connection_error(&format!("accept: {e}"));
                    // A retry interval, not synchronization: errors such as
                    // EMFILE persist for a while, and retrying at once would
                    // spin and flood the log.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = watch.tick(), if bound.is_some() => {
                if socket.as_deref().and_then(identity) != bound {
                    break "its socket was removed or replaced (its runtime directory emptied at \
                           logout?), so no one can reach it";
                }
            }
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => break "SIGHUP",
        }
    };
    timers.abort();
    ctx.stopping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Stop taking connections first, so no new rotation begins; then let
    // refreshes under way finish and write what is unsaved.
    drop(listener);
    // Not another agent's socket bound at the same path since.
    if let Some(socket) = socket.as_deref().filter(|s| identity(s) == bound) {
        let _ = std::fs::remove_file(socket);
    }
    log!("{signal}: stopping");
    // No token file write starts from here; `save_all` waits for every
    // lane, so a write under way lands before its file is removed.
    let token_files = ahead::take_token_files(&mut ctx.state());
    accounts::save_all(&ctx).await;
    for (name, path) in token_files {
        token_file::remove(&name, &path);
    }
    Ok(())
}
