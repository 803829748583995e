//! `oidc-agent-service`: one agent per user at the well-known socket
//! (`$XDG_RUNTIME_DIR/oidc-agent/agent.sock`, else oidc-agent 5.x's
//! `$TMPDIR/oidc-agent-service-$UID/oidc-agent.sock`).
//!
//! Same subcommands and eval-able output as oidc-agent 5.x's shell script, so
//! `eval "$(oidc-agent-service use)"` in a shell profile starts the agent once
//! and every later shell reuses it. The clients find the well-known socket
//! without `OIDC_SOCK`, so the eval only matters for tools that need it set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};

use crate::client::AgentClient;
use crate::paths::{ENV_PID, ENV_SOCK};

/// Variable with extra options for the agent `start` launches (oidc-agent's name).
pub const ENV_AGENT_OPTS: &str = "OIDC_AGENT_OPTS";
/// Variable naming the `oidc-agent` binary to launch (oidc-agent's name).
pub const ENV_AGENT_BIN: &str = "OIDC_AGENT";
/// Written by `use`/`start`: the service's PID file.
pub const ENV_PID_FILE: &str = "OIDCD_PID_FILE";

/// Start, reuse or stop the per-user oidc-agent at the well-known socket.
#[derive(Debug, Parser)]
#[command(name = "oidc-agent-service", version, long_about = None)]
pub struct Args {
    /// What to do
    #[arg(value_enum, value_name = "COMMAND")]
    pub action: Action,
}

/// The subcommands of oidc-agent 5.x's `oidc-agent-service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Action {
    /// Print the variables of the running service agent, starting it if none runs
    Use,
    /// Start the service agent (fails when one runs)
    Start,
    /// Stop the service agent and start a new one with the same options
    Restart,
    /// Like restart, printing nothing
    #[value(name = "restart-s")]
    RestartS,
    /// Stop the service agent
    Stop,
    /// Same as stop
    Kill,
    /// Same as use (oidc-agent's X session hook)
    #[value(hide = true)]
    StartFromX,
}

/// Entry point of `oidc-agent-service`.
pub fn main() -> u8 {
    let args: Args = super::parse_plain();
    super::run("oidc-agent-service", || execute(args.action))
}

fn execute(action: Action) -> anyhow::Result<()> {
    let sock = crate::paths::service_socket();
    let pid_file = crate::paths::service_pid_file();
    check_dir(&crate::paths::service_dir())?;
    let mut out = String::new();
    match action {
        Action::Use | Action::StartFromX => match probe(&sock) {
            Probe::Running(pid) => vars(&mut out, &sock, pid, &pid_file),
            Probe::Absent => {
                if let Err(e) = start(&mut out, &sock, &pid_file, &agent_opts()) {
                    // Two `use` at once (a terminal restoring its tabs): the
                    // one whose agent lost the race uses the other's.
                    let Probe::Running(pid) = probe(&sock) else {
                        return Err(e);
                    };
                    vars(&mut out, &sock, pid, &pid_file);
                }
            }
        },
        Action::Start => {
            if probe(&sock) != Probe::Absent {
                bail!(
                    "an agent is already running at {}; run `oidc-agent-service stop` to stop it \
                     or `oidc-agent-service restart` to restart it",
                    sock.display()
                );
            }
            start(&mut out, &sock, &pid_file, &agent_opts())?;
        }
        Action::Restart | Action::RestartS => {
            let opts = previous_opts(&sock).unwrap_or_else(agent_opts);
            stop(&mut out, &sock, &pid_file)?;
            start(&mut out, &sock, &pid_file, &opts)?;
            if action == Action::RestartS {
                out.clear();
            }
        }
        Action::Stop | Action::Kill => stop(&mut out, &sock, &pid_file)?,
    }
    super::write_stdout(&out)?;
    Ok(())
}

/// Whether an agent answers at `sock`, and its pid when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Nothing listens there.
    Absent,
    /// An agent answers; its pid when it could be told.
    Running(Option<u32>),
}

/// Probes the socket. The pid comes from the socket's peer credentials,
/// which name the process that called `listen()`: the agent itself, or
/// systemd for a socket-activated agent (then the pid is not known).
pub fn probe(sock: &Path) -> Probe {
    // Once, without waiting on a full queue (that agent lives, stuck).
    let stream = match crate::client::connect(sock, std::time::Duration::ZERO) {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Probe::Running(None),
        Err(_) => return Probe::Absent,
    };
    let pid = rustix::net::sockopt::socket_peercred(&stream)
        .ok()
        .and_then(|c| u32::try_from(c.pid.as_raw_nonzero().get()).ok())
        .filter(|p| is_agent(*p));
    Probe::Running(pid)
}

/// True when process `pid` is an oidc-agent (never signal anything else,
/// e.g. a recycled pid from a stale PID file).
fn is_agent(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "oidc-agent")
}

fn recorded_pid(pid_file: &Path) -> Option<u32> {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
}

fn vars(out: &mut String, sock: &Path, pid: Option<u32>, pid_file: &Path) {
    let sock = super::shell_word(&sock.display().to_string()).into_owned();
    out.push_str(&format!("{ENV_SOCK}={sock}; export {ENV_SOCK};\n"));
    let Some(pid) = pid else {
        // systemd's socket unit owns the agent: there is no pid to export,
        // and `systemctl --user stop oidc-agent.service` stops it.
        out.push_str(&format!("echo Agent at ${ENV_SOCK};\n"));
        return;
    };
    out.push_str(&format!("{ENV_PID}={pid}; export {ENV_PID};\n"));
    if recorded_pid(pid_file) == Some(pid) {
        let file = super::shell_word(&pid_file.display().to_string()).into_owned();
        out.push_str(&format!("{ENV_PID_FILE}={file}; export {ENV_PID_FILE};\n"));
        out.push_str(&format!("/bin/cat {file}\n"));
    } else {
        out.push_str(&format!("echo Agent pid ${ENV_PID}\n"));
    }
}

/// The service directory, when it exists, must be ours and closed to others
/// (in a shared `$TMPDIR` someone else could have created it first).
fn check_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return Ok(());
    };
    let uid = rustix::process::getuid().as_raw();
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        bail!(
            "{} is not a directory of yours with mode 0700; remove it (someone else may have created it) \
             and run oidc-agent-service again",
            dir.display()
        );
    }
    Ok(())
}

/// `$OIDC_AGENT_OPTS`, split on white space as the shell script does.
fn agent_opts() -> Vec<String> {
    std::env::var(ENV_AGENT_OPTS)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The options the running agent was started with, minus the ones `start`
/// sets itself (oidc-agent's `OIDC_AGENT_RESTART_WITH_SAME_OPTS`): ours
/// lists them whole; oidc-agent 5.x gives one string, split on white space
/// as its script does.
fn previous_opts(sock: &Path) -> Option<Vec<String>> {
    let status = AgentClient::new(sock).status().ok()?;
    if status.restart_options.is_some() {
        return status.restart_options;
    }
    let line = status.command_line_options?;
    let argv: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    Some(super::agent::restart_options(&argv))
}

/// The `oidc-agent` to launch: `$OIDC_AGENT`, else the one next to this
/// binary, else the one on `PATH`.
fn agent_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os(ENV_AGENT_BIN).filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("oidc-agent")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("oidc-agent"))
}

fn start(out: &mut String, sock: &Path, pid_file: &Path, opts: &[String]) -> anyhow::Result<()> {
    let bin = agent_binary();
    let res = Command::new(&bin)
        .args(opts)
        .arg("--json")
        .arg("--socket-path")
        .arg(sock)
        .env_remove(ENV_SOCK)
        .env_remove(ENV_PID)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !res.status.success() {
        let err = String::from_utf8_lossy(&res.stderr);
        let err = err.trim();
        let err = err.strip_prefix("oidc-agent: ").unwrap_or(err);
        return Err(crate::Error::Failure(format!("the agent did not start: {err}")).into());
    }
    let json: serde_json::Value = serde_json::from_slice(&res.stdout)
        .with_context(|| format!("{} printed no JSON", bin.display()))?;
    let pid: u32 = json
        .get("dpid")
        .and_then(|p| {
            p.as_str()
                .and_then(|s| s.parse().ok())
                .or(p.as_u64().map(|n| n as u32))
        })
        .context("the agent's start-up output has no pid")?;
    crate::account::store::write_atomic(pid_file, format!("{pid}\n").as_bytes())?;
    vars(out, sock, Some(pid), pid_file);
    Ok(())
}

fn stop(out: &mut String, sock: &Path, pid_file: &Path) -> anyhow::Result<()> {
    let probed = probe(sock);
    let pid = match probed {
        Probe::Running(Some(pid)) => Some(pid),
        Probe::Running(None) => match recorded_pid(pid_file).filter(|p| is_agent(*p)) {
            Some(pid) => Some(pid),
            None => bail!(
                "the agent at {} was not started by oidc-agent-service (systemd's oidc-agent.socket?); \
                 stop it with `systemctl --user stop oidc-agent.service`",
                sock.display()
            ),
        },
        Probe::Absent => recorded_pid(pid_file).filter(|p| is_agent(*p)),
    };
    let Some(pid) = pid else {
        let _ = std::fs::remove_file(pid_file);
        return Ok(());
    };
    let raw = i32::try_from(pid).context("bad pid")?;
    let target = rustix::process::Pid::from_raw(raw).context("bad pid")?;
    crate::process::refuse_if_stopped(raw, "oidc-agent-service stop")?;
    // As `oidc-agent -k`: not while a rotated refresh token is unsaved.
    super::stop::refuse_if_unsaved(&AgentClient::new(sock), raw, "oidc-agent-service stop")?;
    match rustix::process::kill_process(target, rustix::process::Signal::TERM) {
        Ok(()) => {}
        // Gone already.
        Err(rustix::io::Errno::SRCH) => {
            let _ = std::fs::remove_file(pid_file);
            return Ok(());
        }
        Err(e) => bail!("cannot stop the agent (pid {pid}): {e}"),
    }
    // Wait until the agent has exited (and so let go of the socket), so
    // that a `use` right after this starts a fresh agent instead of
    // reaching the dying one.
    super::stop::wait_stopped(target, "oidc-agent-service")?;
    // Only now: an agent that has not exited is still the service's.
    let _ = std::fs::remove_file(pid_file);
    out.push_str(&format!(
        "unset {ENV_SOCK};\nunset {ENV_PID};\necho Agent pid {pid} killed;\nunset {ENV_PID_FILE};\n"
    ));
    Ok(())
}
