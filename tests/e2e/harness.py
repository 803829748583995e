"""Sandboxes, agents and CLI wrappers for the end-to-end tests.

Our binaries are always called by full path from $OIDC_BIN_DIR (default
<repo>/target/debug); Debian's oidc-agent 4.2.6 tools by /usr/bin/... .
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Mapping, Sequence

from fsevents import file_size, wait_for_file_line, wait_for_path
from procs import Background, Result, Timeout, kill_pid, pid_alive, run, wait_exit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BIN_DIR = Path(os.environ.get("OIDC_BIN_DIR") or (REPO / "target" / "debug")).resolve()
DEBIAN_BIN = Path("/usr/bin")

PASSWORD = "e2e-Encryption-Pw-1"
DEFAULT_SCOPE = "openid offline_access profile"

# Exit codes of our binaries (the CLI contract).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NO_AGENT = 3
EXIT_NOT_LOADED = 4
EXIT_LOCKED = 5
EXIT_PROVIDER_UNREACHABLE = 6
EXIT_REFRESH_REJECTED = 7
EXIT_PROVIDER_ERROR = 8
EXIT_WRONG_PASSWORD = 9
EXIT_FILE_CORRUPT = 10

# variables passed through from the runner's environment
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "USER", "LOGNAME", "SHELL", "RUST_LOG", "RUST_BACKTRACE", "TZ")


def ours(name: str) -> Path:
    return BIN_DIR / name


def debian(name: str) -> Path:
    return DEBIAN_BIN / name


def have_our_binaries() -> bool:
    return all(os.access(ours(n), os.X_OK) for n in ("oidc-agent", "oidc-gen", "oidc-add", "oidc-token"))


class Sandbox:
    """Per-test HOME, OIDC_CONFIG_DIR, TMPDIR and XDG dirs under a short /tmp path
    (UNIX socket paths must stay under 108 bytes), plus a command log."""

    def __init__(self, keep: bool = False):
        self.base = Path(tempfile.mkdtemp(prefix="e2e-", dir="/tmp"))
        self.keep = keep
        self.home = self.base / "h"
        self.config_dir = self.home / ".config" / "oidc-agent"
        self.tmp = self.base / "t"
        self.run_dir = self.base / "r"
        self.logs = self.base / "logs"
        self.work = self.base / "w"
        for d in (self.config_dir, self.tmp, self.run_dir, self.logs, self.work):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.base, self.run_dir, self.tmp):
            d.chmod(0o700)
        self.command_log = self.logs / "commands.log"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.setdefault("LANG", "C.UTF-8")
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(
            HOME=str(self.home),
            TMPDIR=str(self.tmp),
            OIDC_CONFIG_DIR=str(self.config_dir),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local" / "share"),
            XDG_STATE_HOME=str(self.home / ".local" / "state"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_RUNTIME_DIR=str(self.run_dir),
            BROWSER="/bin/false",  # never open a real browser
        )
        env.update(extra)
        return env

    def log(self, text: str) -> None:
        with open(self.command_log, "a") as f:
            f.write(f"==== {time.strftime('%H:%M:%S')} ====\n{text}\n")

    def log_text(self) -> str:
        try:
            return self.command_log.read_text(errors="replace")
        except OSError:
            return ""

    def account_file(self, name: str) -> Path:
        return self.config_dir / name

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)


_SOCK_RE = re.compile(r"^OIDC_SOCK=([^;]+); export OIDC_SOCK;$")
_PID_RE = re.compile(r"^OIDCD_PID=(\d+); export OIDCD_PID;$")


def parse_agent_eval(text: str) -> tuple[str | None, int | None]:
    sock = pid = None
    for line in text.splitlines():
        line = line.strip()
        m = _SOCK_RE.match(line)
        if m:
            sock = m.group(1)
        m = _PID_RE.match(line)
        if m:
            pid = int(m.group(1))
    return sock, pid


class Agent:
    """A running oidc-agent (ours unless debian=True).

    mode="console": `oidc-agent --console` in the background (stderr logged);
    mode="daemon": plain `oidc-agent`, which daemonizes, as `eval "$(oidc-agent)"`
    starts it; our daemon appends its log to `<name>.daemon.log` (--log-file).
    """

    def __init__(self, sandbox: Sandbox, mode: str = "console", debian_agent: bool = False,
                 extra_args: Sequence[str] = (), name: str = "agent", timeout: float = 15,
                 extra_env: Mapping[str, str] | None = None):
        self.sandbox = sandbox
        self.mode = mode
        self.debian = debian_agent
        self.binary = debian("oidc-agent") if debian_agent else ours("oidc-agent")
        self.name = name
        self.log_path = sandbox.logs / f"{name}.log"
        self.daemon_log = sandbox.logs / f"{name}.daemon.log"
        self.proc: Background | None = None
        self.sock: str | None = None
        self.pid: int | None = None
        argv = [str(self.binary), *extra_args]
        extra = os.environ.get("E2E_AGENT_ARGS", "").split() if not debian_agent else []
        argv += extra
        env = sandbox.env()
        env.update(extra_env or {})
        if mode == "console":
            argv.append("--console")
            self.proc = Background(argv, env, log_path=self.log_path, name=name)
            try:
                self.proc.wait_for_line(lambda l: _PID_RE.match(l.strip()), timeout=timeout, streams=("stdout",),
                                        what="OIDCD_PID line")
            except BaseException:
                self.proc.stop()
                raise
            self.sock, self.pid = parse_agent_eval(self.proc.text("stdout"))
            if self.pid is None:
                self.pid = self.proc.pid
        elif mode == "daemon":
            if not debian_agent:
                argv += ["--log-file", str(self.daemon_log)]
            res = run(argv, env, timeout=timeout, log=sandbox.log)
            self.log_path.write_text(res.describe())
            if res.returncode != 0:
                raise AssertionError(f"{name} failed to start:\n{res.describe()}")
            self.sock, self.pid = parse_agent_eval(res.stdout)
            if res.stdout.count("\n") < 2 or not self.sock or not self.pid:
                raise AssertionError(f"{name}: unexpected start-up output:\n{res.describe()}")
        else:
            raise ValueError(mode)
        if not self.sock or not self.pid:
            self.stop()
            raise AssertionError(f"{name}: no OIDC_SOCK/OIDCD_PID in output:\n{self.log_text()}")
        if not debian_agent:
            # Ours prints the eval lines only once it listens: the socket is there.
            if not os.path.exists(self.sock):
                self.stop()
                raise AssertionError(f"{name} printed OIDC_SOCK={self.sock} before creating it")
            return
        # oidc-agent 4.x prints them in the parent while its daemon goes on to
        # bind (its main calls printEnvs before ipc_bindAndListen): wait for the
        # socket to appear. The daemon's listen() follows its bind at once,
        # before any client we start after this can connect.
        try:
            wait_for_path(self.sock, timeout=5, what=f"{name}'s socket")
        except Timeout:
            self.stop()
            raise

    @property
    def env(self) -> dict[str, str]:
        return self.sandbox.env(OIDC_SOCK=self.sock, OIDCD_PID=str(self.pid))

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.running()
        return self.pid is not None and pid_alive(self.pid)

    def stop(self) -> None:
        """Stop the agent: `oidc-agent -k` for a daemon, SIGTERM for a console agent."""
        if self.proc is not None:
            if self.proc.running() and self.pid and self.pid != self.proc.pid:
                kill_pid(self.pid)
            self.proc.stop()
            return
        if self.pid and pid_alive(self.pid):
            try:
                run([str(self.binary), "-k"], self.env, timeout=10, log=self.sandbox.log)
            except Timeout:
                pass
            try:
                wait_exit(self.pid, 5, "agent exit")
            except Timeout:
                kill_pid(self.pid)

    def log_mark(self) -> int:
        """Where the agent's log is now: wait_for_log(since=...) looks only after it."""
        if self.proc is not None:
            return self.proc.line_count()
        return file_size(self.daemon_log)

    def wait_for_log(self, pred, timeout: float, since: int = 0, what: str = "log line"):
        """Waits for a line of our agent's log (console: its stderr; daemon:
        its --log-file) matching `pred`, after mark `since`; returns pred's result."""
        if self.debian:
            raise ValueError("Debian's agent logs to syslog only")
        if self.proc is not None:
            return self.proc.wait_for_line(pred, timeout, streams=("stderr",), what=what, since=since)
        return wait_for_file_line(self.daemon_log, pred, timeout, since=since, what=what)

    def log_text(self) -> str:
        parts = []
        for path in (self.log_path, self.daemon_log):
            try:
                parts.append(path.read_text(errors="replace"))
            except OSError:
                pass
        return "\n".join(parts)


class Cli:
    """Runs our (or Debian's) binaries inside a sandbox, against an agent."""

    def __init__(self, sandbox: Sandbox, agent: Agent | None = None):
        self.sandbox = sandbox
        self.agent = agent

    def env(self, **extra: str) -> dict[str, str]:
        base = self.agent.env if self.agent else self.sandbox.env()
        base.update(extra)
        return base

    def run(self, binary: str | Path, *args: str, env: Mapping[str, str] | None = None,
            timeout: float = 30, extra_env: Mapping[str, str] | None = None, input: str | None = None) -> Result:
        e = dict(env) if env is not None else self.env()
        if extra_env:
            e.update(extra_env)
        path = binary if isinstance(binary, Path) or "/" in str(binary) else ours(str(binary))
        return run([str(path), *args], e, timeout=timeout, log=self.sandbox.log, input=input)

    def token(self, *args: str, **kw) -> Result:
        return self.run("oidc-token", *args, **kw)

    def add(self, *args: str, password: str | None = PASSWORD, **kw) -> Result:
        extra = dict(kw.pop("extra_env", None) or {})
        if password is not None:
            extra.setdefault("OIDC_ENCRYPTION_PW", password)
        return self.run("oidc-add", *args, extra_env=extra, **kw)

    def gen(self, *args: str, password: str | None = PASSWORD, **kw) -> Result:
        extra = dict(kw.pop("extra_env", None) or {})
        if password is not None:
            extra.setdefault("OIDC_ENCRYPTION_PW", password)
        return self.run("oidc-gen", *args, extra_env=extra, **kw)

    def gen_background(self, *args: str, password: str | None = PASSWORD, name: str = "oidc-gen",
                       extra_env: Mapping[str, str] | None = None) -> Background:
        env = self.env()
        if password is not None:
            env["OIDC_ENCRYPTION_PW"] = password
        if extra_env:
            env.update(extra_env)
        argv = [str(ours("oidc-gen")), *args]
        self.sandbox.log(f"$ {' '.join(argv)}  (background)")
        return Background(argv, env, log_path=self.sandbox.logs / f"{name}.log", name=name)

    def import_account(self, name: str, provider, client_id: str, refresh_token: str,
                       client_secret: str | None = None, scope: str | None = None,
                       cert_path: str | None = None, password: str = PASSWORD,
                       issuer: str | None = None, timeout: float = 60) -> Result:
        """`oidc-gen NAME --issuer ISS --client-id ID [--client-secret S] --rt-env --pw-env`."""
        args = [name, "--issuer", issuer or provider.issuer, "--client-id", client_id]
        if client_secret:
            args += ["--client-secret", client_secret]
        if scope:
            args += ["--scope", scope]
        if cert_path:
            args += ["--cp", cert_path]
        args += ["--rt-env", "--pw-env"]
        return self.gen(*args, password=password, extra_env={"OIDC_REFRESH_TOKEN": refresh_token}, timeout=timeout)


def ipc_plain_request(sock_path: str, request: dict, timeout: float = 15) -> dict:
    """Send one plain-JSON request to an agent socket and read until it closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(json.dumps(request).encode())
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise Timeout("agent did not close the connection")
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return json.loads(b"".join(chunks).decode())


def one_line(stdout: str) -> str:
    """The single line of a command's stdout (asserting there is exactly one)."""
    lines = stdout.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stdout, got {len(lines)}: {stdout!r}"
    assert stdout.endswith("\n"), f"stdout should end with a newline: {stdout!r}"
    return lines[0]


def assert_token_output(res: Result) -> str:
    """oidc-token succeeded and printed exactly one token and nothing else."""
    assert res.returncode == 0, res.describe()
    tok = one_line(res.stdout)
    assert tok and tok == tok.strip() and " " not in tok, f"not a bare token: {res.stdout!r}"
    return tok


def import_fresh_account(cli: Cli, provider, name: str, client_id: str = "OpenCloudDesktop",
                         scope: str | None = None, rt_scope: str = "openid offline_access profile email",
                         cert_path: str | None = "auto") -> str:
    """Get a refresh token from `provider` with the scripted browser and import it
    with `oidc-gen --rt-env --pw-env`. Returns the refresh token."""
    from browser import get_refresh_token
    from op import CLIENT_SECRETS

    secret = CLIENT_SECRETS[client_id]
    rt = get_refresh_token(provider.issuer, client_id, secret, scope=rt_scope, verify=provider.verify)
    if cert_path == "auto":
        cert_path = provider.ca_file
    res = cli.import_account(name, provider, client_id, rt, client_secret=secret, scope=scope, cert_path=cert_path)
    assert res.returncode == 0, f"importing the refresh token failed:\n{res.describe()}"
    return rt


def same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")
