//! `oidc-agent`: start the agent, print the eval-able lines, or talk to a
//! running one (`--kill`, `--status`).
//!
//! Output is exactly oidc-agent's, so `eval "$(oidc-agent)"` and the scripts
//! written for it keep working. Also: `oidc-agent [--] COMMAND ARGS...`
//! (an agent for the lifetime of one command, as `ssh-agent bash`), and the
//! agent started by systemd's socket unit (socket activation).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;

use crate::account::store::Store;
use crate::agent::{self, Ctx, daemon};
use crate::client::AgentClient;
use crate::oidc::http;
use crate::paths::{ENV_PID, ENV_SOCK};
use crate::protocol::Request;

/// The OpenID Connect token agent.
#[derive(Debug, Parser)]
#[command(name = "oidc-agent", version, long_about = None, args_override_self = true)]
pub struct Args {
    /// Create the socket at PATH instead of a fresh temporary directory
    #[arg(short = 'a', long = "socket-path", visible_aliases = ["bind-address", "bind_address"], value_name = "PATH")]
    pub socket_path: Option<PathBuf>,
    /// Kill the agent named by $OIDCD_PID
    #[arg(short = 'k', long = "kill")]
    pub kill: bool,
    /// Stay in the foreground (do not daemonize); log to stderr
    #[arg(short = 'd', long = "console")]
    pub console: bool,
    /// Print the socket and pid as JSON instead of shell code
    #[arg(long = "json")]
    pub json: bool,
    /// Leave out the `echo Agent pid ...` line
    #[arg(long = "quiet")]
    pub quiet: bool,
    /// Default lifetime of loaded accounts in seconds (0: forever)
    #[arg(short = 't', long = "lifetime", value_name = "SECONDS", default_value_t = 0)]
    pub lifetime: u64,
    /// Deadline for connecting (TCP and TLS) to a provider, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = CONNECT_SECS, value_parser = secs(600))]
    pub connect_timeout: u64,
    /// How long a client waits for the provider's answer to a refresh, in
    /// seconds, at most 40 (the agent waits on, so that a rotated token is
    /// not lost)
    #[arg(long, value_name = "SECONDS", default_value_t = REQUEST_SECS,
          value_parser = secs(crate::client::MAX_REQUEST_TIMEOUT))]
    pub request_timeout: u64,
    /// Ask the running agent for its status (with --json: as JSON)
    #[arg(long = "status")]
    pub status: bool,
    /// Append the daemon's log to FILE (default: its last 300 lines are kept in memory, shown by --status)
    #[arg(long = "log-file", value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Never load an account for a token request (only oidc-add loads)
    #[arg(long = "no-autoload")]
    pub no_autoload: bool,
    /// Run COMMAND with OIDC_SOCK and OIDCD_PID set; stop the agent when it exits
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<String>,
    /// Write the agent's pid to PATH (as oidc-agent-service does)
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
}

const CONNECT_SECS: u64 = http::CONNECT_TIMEOUT.as_secs();
const REQUEST_SECS: u64 = http::REQUEST_TIMEOUT.as_secs();

/// Whole seconds from 1 to `max` (a deadline of 0 would fail every request).
fn secs(max: u64) -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=max)
}

/// Entry point of `oidc-agent`.
pub fn main() -> u8 {
    let args: Args = super::parse(super::flags::Tool::Agent);
    if !args.command.is_empty() && std::env::var_os(daemon::CHILD_ENV).is_none() {
        return match run_command(&args) {
            Ok(code) => code,
            Err(err) => {
                eprintln!("oidc-agent: {err:#}");
                super::exit_code(&err)
            }
        };
    }
    super::run("oidc-agent", || execute(&args))
}

fn execute(args: &Args) -> anyhow::Result<()> {
    // Started by systemd's socket unit: serve the passed socket in the
    // foreground (systemd supervises; the log goes to the journal).
    if let Some(listener) = agent::activation::listener()? {
        return run_agent(args, listener, None, None);
    }
    if args.kill {
        return super::stop::kill(args.json);
    }
    if args.status {
        return status(args);
    }
    if std::env::var_os(daemon::CHILD_ENV).is_some() {
        return run_child(args);
    }
    daemon::enough_files()?;
    // Opened before the agent starts: a path that cannot be written fails
    // the start instead of leaving an agent nobody was told about.
    let pid_file = open_pid_file(args)?;
    if args.console {
        let (socket, dir) = socket_path(args)?;
        let listener = daemon::bind(&socket)?;
        write_pid_file(pid_file, std::process::id())?;
        print_env(args, &socket, std::process::id());
        return run_agent(args, listener, Some(socket), dir);
    }
    let (socket, pid) = spawn_daemon(args)?;
    if let Err(e) = write_pid_file(pid_file, pid) {
        forward(pid, rustix::process::Signal::TERM);
        return Err(e.context("the agent was stopped again"));
    }
    print_env(args, &socket, pid);
    Ok(())
}

/// Re-execs ourselves as the daemon with the socket path fixed here, so the
/// parent knows what to print. Returns (socket, daemon pid).
fn spawn_daemon(args: &Args) -> anyhow::Result<(PathBuf, u32)> {
    let (socket, dir) = socket_path(args)?;
    let mut child_args: Vec<String> = std::env::args().skip(1).collect();
    // The daemon does not run COMMAND: leave it (and its `--`) out.
    child_args.truncate(child_args.len() - args.command.len());
    if child_args.last().is_some_and(|a| a == "--") {
        child_args.pop();
    }
    // The socket as resolved here (a template's random name, a directory's
    // `oidc-agent.<ppid>`); a later option overrides an earlier one.
    child_args.push("--socket-path".into());
    child_args.push(socket.display().to_string());
    let pid = daemon::spawn_child(&child_args, dir.as_deref()).inspect_err(|_| {
        // The fresh directory made for this agent: nothing is in it now.
        if let Some(dir) = &dir {
            let _ = std::fs::remove_dir(dir);
        }
    })?;
    Ok((socket, pid))
}

/// `oidc-agent [--] COMMAND ARGS...`: starts the agent, runs COMMAND with
/// `OIDC_SOCK`/`OIDCD_PID` set, stops the agent when COMMAND exits and exits
/// with COMMAND's status. Ctrl-C reaches COMMAND (same process group) and is
/// ignored here, so the agent is always stopped.
fn run_command(args: &Args) -> anyhow::Result<u8> {
    use std::os::unix::process::ExitStatusExt as _;
    use tokio::signal::unix::{SignalKind, signal};
    daemon::enough_files()?;
    let (socket, pid) = spawn_daemon(args)?;
    let stop_agent = || forward(pid, rustix::process::Signal::TERM);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        // Handlers first: from here on SIGINT/SIGQUIT do not kill us.
        let mut int = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut child = match std::process::Command::new(&args.command[0])
            .args(&args.command[1..])
            .env(ENV_SOCK, &socket)
            .env(ENV_PID, pid.to_string())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return Err(anyhow::anyhow!("cannot run `{}`: {e}", args.command[0]));
            }
        };
        let child_pid = child.id();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        loop {
            tokio::select! {
                status = &mut rx => return Ok(status??),
                _ = int.recv() => {}
                _ = quit.recv() => {}
                _ = term.recv() => forward(child_pid, rustix::process::Signal::TERM),
                _ = hup.recv() => forward(child_pid, rustix::process::Signal::HUP),
            }
        }
    });
    stop_agent();
    let status = status?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(1),
        _ => 1,
    })
}

fn forward(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(p, sig);
    }
}

fn socket_path(args: &Args) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    match &args.socket_path {
        Some(p) => Ok(daemon::socket_path_from(p)?),
        None => {
            let (dir, sock) = daemon::default_socket_path()?;
            Ok((sock, Some(dir)))
        }
    }
}

/// `--pid-file PATH`, opened (created or emptied) for [`write_pid_file`].
fn open_pid_file(args: &Args) -> anyhow::Result<Option<(std::fs::File, &Path)>> {
    let Some(path) = &args.pid_file else {
        return Ok(None);
    };
    let file = std::fs::File::create(path)
        .with_context(|| format!("--pid-file: cannot write {}", path.display()))?;
    Ok(Some((file, path)))
}

/// The pid and a newline, as oidc-agent 5.x writes its pid file.
fn write_pid_file(file: Option<(std::fs::File, &Path)>, pid: u32) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some((mut file, path)) = file {
        file.write_all(format!("{pid}\n").as_bytes())
            .with_context(|| format!("--pid-file: cannot write {}", path.display()))?;
    }
    Ok(())
}

fn print_env(args: &Args, socket: &std::path::Path, pid: u32) {
    let sock = socket.display();
    if args.json {
        // oidc-agent prints the pid as a string.
        println!(
            "{}",
            serde_json::json!({"socket": sock.to_string(), "dpid": pid.to_string()})
        );
        return;
    }
    let sock = super::shell_word(&sock.to_string()).into_owned();
    println!("{ENV_SOCK}={sock}; export {ENV_SOCK};");
    println!("{ENV_PID}={pid}; export {ENV_PID};");
    if !args.quiet {
        println!("echo Agent pid ${ENV_PID}");
    }
}

fn run_child(args: &Args) -> anyhow::Result<()> {
    daemon::detach();
    let socket = args
        .socket_path
        .clone()
        .context("daemon child started without a socket path")?;
    let listener = daemon::bind(&socket)?;
    let log = match &args.log_file {
        Some(path) => Some(daemon::open_log(path).inspect_err(|_| {
            let _ = std::fs::remove_file(&socket);
        })?),
        None => None,
    };
    println!("{}", daemon::READY);
    daemon::redirect_stdio(log).context("cannot redirect the daemon's output")?;
    // Only the fresh directory made for this agent; never one it was given
    // (the service directory, which a restarted agent is about to reuse).
    let dir = std::env::var_os(daemon::DIR_ENV).map(PathBuf::from);
    run_agent(args, listener, Some(socket), dir)
}

fn run_agent(
    args: &Args,
    listener: std::os::unix::net::UnixListener,
    socket: Option<PathBuf>,
    dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    daemon::harden();
    daemon::raise_files();
    let reply_deadline = std::time::Duration::from_secs(args.request_timeout);
    http::set_deadlines(http::Deadlines {
        connect: std::time::Duration::from_secs(args.connect_timeout),
        // A backstop: the agent waits for a refresh's answer up to
        // UNSTOPPED_ANSWER_DEADLINE of the time it ran (`agent::provider`),
        // which a stopped agent's clock jump would otherwise cut short.
        request: reply_deadline.max(http::UNSTOPPED_ANSWER_DEADLINE * 4),
    });
    listener.set_nonblocking(true)?;
    let lifetime = (args.lifetime > 0).then_some(args.lifetime);
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut ctx = Ctx::new(Store::default_dir(), lifetime, restart_options(&argv));
    ctx.autoload = !args.no_autoload;
    ctx.reply_deadline = reply_deadline;
    let ctx = Arc::new(ctx);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::UnixListener::from_std(listener)?;
        agent::serve(listener, ctx, socket).await
    })?;
    // Remove the temporary directory we created (it is empty by now).
    if let Some(dir) = dir {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

/// The options a restart of this agent should keep (`status_json`'s
/// `command_line_options`, which oidc-agent-service reads on `restart`):
/// the command line without what a start sets itself (socket, pid file,
/// output format, foreground) and without a command to run (`-- CMD`).
pub fn restart_options(argv: &[String]) -> Vec<String> {
    const WITH_VALUE: [&str; 5] = [
        "-a",
        "--socket-path",
        "--bind-address",
        "--bind_address",
        "--pid-file",
    ];
    const DROPPED: [&str; 8] = [
        "--json",
        "--quiet",
        "--console",
        "-d",
        "--kill",
        "-k",
        "--status",
        "--no-daemon",
    ];
    let mut kept = Vec::new();
    let mut args = argv.iter();
    while let Some(arg) = args.next() {
        let name = arg.split_once('=').map_or(arg.as_str(), |(n, _)| n);
        if arg == "--" {
            break;
        } else if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !WITH_VALUE.contains(&name) && !DROPPED.contains(&arg.as_str()) {
            kept.push(arg.clone());
        }
    }
    kept
}

fn status(args: &Args) -> anyhow::Result<()> {
    let client = AgentClient::from_env()?;
    if args.json {
        // oidc-agent 4.x has no `status_json`: show its text status instead.
        let reply = match client.call(&Request::StatusJson) {
            Ok(reply) => reply,
            Err(crate::Error::Agent { .. }) => {
                let text = client.call(&Request::Status)?.info.unwrap_or_default();
                crate::protocol::Response::info(serde_json::json!({ "status": text }))
            }
            Err(e) => return Err(e.into()),
        };
        let info = reply.info.unwrap_or_default();
        let mut out = serde_json::json!({"socket": client.path().display().to_string()});
        if let (Some(o), Some(i)) = (out.as_object_mut(), info.as_object()) {
            o.extend(i.clone());
        }
        super::write_stdout(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
    } else {
        let reply = client.call(&Request::Status)?;
        // The agent's text first, as oidc-agent's --status prints it.
        let text = reply
            .info
            .and_then(|i| i.as_str().map(str::to_owned))
            .unwrap_or_default();
        // Read by `| head` and the like: a reader gone is no error.
        super::write_stdout(&format!(
            "{text}Agent socket: {}\n",
            client.path().display()
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::restart_options;

    #[test]
    fn a_restart_keeps_the_settings_not_what_a_start_sets() {
        let argv = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            restart_options(&argv(
                "--lifetime=100 --json -a /run/s.sock --socket-path=/x --pid-file /p --quiet \
                 --log-file /l -t 5 --pid-file=/q -d -- make deploy --lifetime=1"
            )),
            argv("--lifetime=100 --log-file /l -t 5")
        );
        assert!(restart_options(&[]).is_empty());
    }
}
