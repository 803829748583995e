//! oidc-gen's async runtime: one current-thread runtime driven by a thread
//! of its own.
//!
//! The session's provider calls run on the main thread through
//! [`Runtime::block_on`]; the Ctrl-C task (`interrupt.rs`) runs on the
//! driver thread, so it is served while the main thread blocks outside the
//! runtime (the loopback listener, a password prompt). That is what a
//! multi-thread runtime with one worker gives, without tokio's
//! `rt-multi-thread` feature: features are per package, and with it every
//! binary that uses tokio, the agent too, would link the multi-thread
//! scheduler and, through its poll-time statistics (`f64::powf`), libm,
//! which the dynamic loader then maps and relocates in the agent for nothing
//! (about 300 kB resident; issue 15, README "Performance").

use std::future::Future;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A current-thread runtime and the thread that drives it until drop.
pub(super) struct Runtime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    driver: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Builds the runtime (I/O and timers enabled) and starts its driver.
    pub(super) fn start() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let driver = std::thread::Builder::new()
            .name("oidc-gen-runtime".into())
            .spawn(move || {
                // Runs spawned tasks and the I/O and timer drivers until the
                // session ends (`stopped` resolves when `stop` is sent or dropped).
                let _ = rt.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            driver: Some(driver),
        })
    }

    /// Runs `future` to completion on the calling thread. Its I/O and timers
    /// are driven by the driver thread (tokio `Handle::block_on` on a
    /// current-thread runtime needs another thread inside
    /// `Runtime::block_on`, which the driver is).
    pub(super) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// The handle for spawning tasks and registering signals.
    pub(super) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}
