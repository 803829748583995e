//! Stopping an agent (`oidc-agent -k`, `oidc-agent-service stop`): which
//! process it is, the checks before the signal (not a stopped agent, not one
//! holding a rotation it could not save) and the wait after it.

use std::path::Path;

use anyhow::{Context as _, bail};

use crate::client::AgentClient;
use crate::paths::{ENV_PID, ENV_SOCK};

/// How long `-k` waits for the agent to exit before it says why it waits.
const KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for agent `pid`, sent SIGTERM, to exit. It first lets a refresh
/// under way land its rotated token in the file, waiting for the
/// provider's answer as long as a refresh does: until then a new agent
/// started (or an `oidc-add` run) would read the token the provider is
/// replacing, a replay that revokes the login. Past that, an error: the
/// agent still runs. `who` names the program in the note it prints.
pub(super) fn wait_stopped(pid: rustix::process::Pid, who: &str) -> anyhow::Result<()> {
    let raw = pid.as_raw_nonzero();
    let watch = |limit| {
        crate::process::wait_exit(pid, limit)
            .with_context(|| format!("cannot watch the agent (pid {raw})"))
    };
    if watch(KILL_WAIT)? {
        return Ok(());
    }
    let longest = crate::oidc::http::ANSWER_DEADLINE;
    eprintln!(
        "{who}: the agent (pid {raw}) is still finishing a refresh (the provider has not \
         answered); waiting for it, up to {} s",
        longest.as_secs()
    );
    if !watch(longest)? {
        bail!(
            "the agent (pid {raw}) did not exit within {} s; `kill -9 {raw}` ends it (a refresh \
             under way is then lost)",
            longest.as_secs() + KILL_WAIT.as_secs()
        );
    }
    Ok(())
}

pub(super) fn kill(json: bool) -> anyhow::Result<()> {
    let var = std::env::var(ENV_PID)
        .context("OIDCD_PID is not set; nothing to kill (run `eval \"$(oidc-agent)\"` first)")?;
    let pid = agent_pid(&var)?;
    // The agent asked is the one signalled: OIDC_SOCK may name another.
    let raw = pid.as_raw_nonzero().get();
    crate::process::refuse_if_stopped(raw, "oidc-agent -k")?;
    let client = match crate::process::listening_socket(raw) {
        Some(socket) => Some(AgentClient::new(socket)),
        None => AgentClient::from_env().ok(),
    };
    if let Some(client) = client {
        refuse_if_unsaved(&client, raw, "oidc-agent -k")?;
    }
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)
        .with_context(|| format!("cannot kill agent pid {}", pid.as_raw_nonzero()))?;
    wait_stopped(pid, "oidc-agent")?;
    let pid = pid.as_raw_nonzero();
    if json {
        println!("{}", serde_json::json!({"killed": pid.to_string()}));
    } else {
        println!("unset {ENV_SOCK};\nunset {ENV_PID};\necho Agent pid {pid} killed;");
    }
    Ok(())
}

/// Refuses to stop agent `pid` (at `client`) while it holds a rotated
/// refresh token it could not write to its account file (a full or
/// read-only disk): its last write at exit would fail too, and the token
/// would be lost. The agent retries on its own; once `--status` shows
/// nothing unsaved, `again` (the command that stops it) goes ahead. An
/// agent that cannot be asked is stopped as before.
pub(super) fn refuse_if_unsaved(client: &AgentClient, pid: i32, again: &str) -> anyhow::Result<()> {
    let Ok(status) = client.status() else {
        return Ok(());
    };
    if status.pid.and_then(|p| i32::try_from(p).ok()) != Some(pid) {
        return Ok(());
    }
    if let Some(a) = status.accounts.iter().find(|a| a.unsaved) {
        let name = &a.name;
        let why = a.unsaved_error.as_deref().unwrap_or("unknown");
        let kill = match &a.unsaved_kept_in {
            Some(note) => format!(
                "`kill {pid}` stops it anyway, and the next `oidc-add {name}` takes the token from \
                 {note}"
            ),
            None => format!("`kill {pid}` stops it anyway and loses that token"),
        };
        // Sealed by a lock, the account is not written until unlocked.
        let retry = if status.locked == Some(true) {
            "unlock the agent (`oidc-add -X`) so that it can write it"
        } else {
            "the agent retries every 10 s"
        };
        bail!(
            "agent {pid} not stopped: account '{name}' holds a rotated refresh token it could not save ({why}); \
             free space or fix the account directory ({retry}), then run {again} again; {kill}"
        );
    }
    Ok(())
}

/// The agent `OIDCD_PID` (`var`) names, checked before a signal goes to
/// it: a process id (not 0, a negative process group or -1, which
/// kill(2) would read as "every process"), not init, and, where /proc
/// says, a process named oidc-agent: a stale `OIDCD_PID` whose number now
/// belongs to another program is refused, not killed.
fn agent_pid(var: &str) -> anyhow::Result<rustix::process::Pid> {
    let pid = var
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 1)
        .and_then(rustix::process::Pid::from_raw)
        .with_context(|| {
            format!("OIDCD_PID={var:?} is not an agent's process id; nothing killed")
        })?;
    let raw = pid.as_raw_nonzero();
    if Path::new("/proc/self/comm").exists() {
        let comm = std::fs::read_to_string(format!("/proc/{raw}/comm")).map_err(|_| {
            anyhow::anyhow!(
                "no process {raw}: the agent of OIDCD_PID has stopped already; \
                 `unset OIDC_SOCK OIDCD_PID` to forget it"
            )
        })?;
        let comm = comm.trim_end();
        if comm != "oidc-agent" {
            bail!(
                "OIDCD_PID={raw} is '{comm}', not an oidc-agent (a stale OIDCD_PID?); nothing killed. \
                 `unset OIDCD_PID`, or set it to the agent's pid"
            );
        }
    }
    Ok(pid)
}
