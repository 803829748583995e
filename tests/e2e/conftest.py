"""Fixtures for the oidc-agent-rs end-to-end suite.

Environment:
  OIDC_BIN_DIR     where our oidc-agent, oidc-gen, oidc-add, oidc-token are
                   (default <repo>/target/debug)
  E2E_KEEP=1       keep each test's sandbox under /tmp/e2e-* (logs, config)
  E2E_AGENT_MODE   "daemon" (default: plain `oidc-agent`, started the way
                   `eval "$(oidc-agent)"` starts it, logging to a file) or
                   "console" (`oidc-agent --console` in the background)
  E2E_AGENT_ARGS   extra arguments for our oidc-agent (e.g. "-g")
  E2E_HUMAN_PAUSE  seconds the browser waits on each provider page (default 2)
  E2E_SLOW_LOGIN   seconds the slow browser login takes at least (default 22)
  E2E_ARTIFACTS    where screenshots of oidc-gen's pages go
                   (default tests/e2e/artifacts; printed at the end of the run)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import Agent, Cli, Sandbox, have_our_binaries, BIN_DIR
from op import Provider, private_ca
from procs import kill_pid
from real_browser import ARTIFACTS, Chromium

MAX_LOG_LINES = 250


def _tail(text: str, n: int = MAX_LOG_LINES) -> str:
    lines = text.splitlines()
    if len(lines) <= n:
        return text
    return f"... ({len(lines) - n} earlier lines cut)\n" + "\n".join(lines[-n:])


def _attach_log(request, title: str, fn) -> None:
    logs = request.node.__dict__.setdefault("_e2e_logs", [])
    logs.append((title, fn))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.__dict__["_e2e_call_failed"] = rep.failed
    if rep.failed and rep.when in ("setup", "call"):
        for title, fn in item.__dict__.get("_e2e_logs", []):
            try:
                text = fn()
            except Exception as e:  # never hide the real failure
                text = f"(could not read: {e})"
            rep.sections.append((f"e2e {title}", _tail(text) or "(empty)"))


def pytest_report_header(config):
    state = "present" if have_our_binaries() else "MISSING (build with cargo build)"
    return [f"oidc-agent-rs binaries: {BIN_DIR} ({state})", f"browser screenshots: {ARTIFACTS}"]


def pytest_collection_modifyitems(items):
    """Long tests first, each followed by a short one. run.sh spreads the
    tests over pytest-xdist workers with `--maxschedchunk=1`: a worker holds
    the test it runs plus one queued, so a short test behind each long one
    keeps two long tests from queueing on one worker while another idles.
    Most of a test's time is waiting (a person's pace, token lifetimes), and
    the run ends when the longest queue does. A long test carries
    `@pytest.mark.slow(SECONDS)`, its rough duration."""

    def expected(item) -> float:
        mark = item.get_closest_marker("slow")
        return float(mark.args[0]) if mark and mark.args else (20.0 if mark else 0.0)

    slow = sorted((i for i in items if expected(i) > 0), key=expected, reverse=True)
    short = [i for i in items if expected(i) == 0]  # file order
    order = []
    for n, item in enumerate(slow):
        order.append(item)
        if n < len(short):
            order.append(short[n])
    order.extend(short[len(slow):])
    items[:] = order


def pytest_sessionstart(session):
    # this run's screenshots only; under xdist the controller clears them
    # once, before any worker takes screenshots
    if hasattr(session.config, "workerinput"):
        return
    if ARTIFACTS.is_dir():
        for png in ARTIFACTS.glob("*.png"):
            png.unlink()


def pytest_terminal_summary(terminalreporter):
    shots = sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.is_dir() else []
    if shots:
        terminalreporter.write_line(f"e2e: {len(shots)} browser screenshots in {ARTIFACTS}")


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory):
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost."""
    return private_ca(tmp_path_factory.mktemp("tls"))


# ---------------------------------------------------------------- sandbox


def _reap_sandbox_processes(sandbox: Sandbox) -> list[str]:
    """Kill any process still running with this sandbox's TMPDIR (a leak)."""
    marker = f"TMPDIR={sandbox.tmp}".encode()
    leaked = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmd = "?"
            leaked.append(f"{pid} {cmd}")
            kill_pid(pid)
    return leaked


@pytest.fixture
def sandbox(request):
    """Per-test HOME / OIDC_CONFIG_DIR / TMPDIR / XDG dirs (short /tmp path)."""
    sb = Sandbox(keep=os.environ.get("E2E_KEEP") == "1")
    _attach_log(request, f"commands ({sb.command_log})", sb.log_text)
    yield sb
    leaked = _reap_sandbox_processes(sb)
    sb.cleanup()
    if leaked:
        # a leaked agent is a bug of the binaries (or of the harness)
        print("e2e: killed leaked processes:\n  " + "\n  ".join(leaked))


# ---------------------------------------------------------------- provider


@pytest.fixture
def make_provider(request, sandbox, tls_ca):
    """Factory: make_provider(https=False, rotate=False, at_ttl=60, refresh_delay_ms=0)."""
    started: list[Provider] = []

    def factory(https: bool = False, rotate: bool = False, at_ttl: int = 60, refresh_delay_ms: int = 0,
                port: int = 0, post_only: bool = False) -> Provider:
        idx = len(started)
        log = sandbox.logs / f"provider{idx}.log"
        p = Provider.start(
            log,
            https=(tls_ca["cert"], tls_ca["key"]) if https else None,
            ca_file=tls_ca["ca"] if https else None,
            rotate=rotate,
            at_ttl=at_ttl,
            refresh_delay_ms=refresh_delay_ms,
            port=port,
            post_only=post_only,
        )
        started.append(p)
        _attach_log(request, f"provider {p.issuer} ({log})", p.log_text)
        return p

    yield factory
    for p in started:
        p.stop()


@pytest.fixture
def provider(make_provider) -> Provider:
    """A plain-http provider, no rotation, 60 s access tokens."""
    return make_provider()


# ---------------------------------------------------------------- agent


@pytest.fixture
def need_binaries():
    if not have_our_binaries():
        pytest.fail(f"our binaries are not built in {BIN_DIR} (set OIDC_BIN_DIR or run cargo build)")


@pytest.fixture
def make_agent(request, sandbox, need_binaries):
    """Factory: make_agent(mode=None|"console"|"daemon", debian=False, name=None) -> Agent."""
    agents: list[Agent] = []

    def factory(mode: str | None = None, debian: bool = False, name: str | None = None, extra_args=(),
                extra_env=None) -> Agent:
        mode = mode or os.environ.get("E2E_AGENT_MODE", "daemon")
        name = name or (f"debian-agent{len(agents)}" if debian else f"agent{len(agents)}")
        a = Agent(sandbox, mode=mode, debian_agent=debian, extra_args=extra_args, name=name, extra_env=extra_env)
        agents.append(a)
        _attach_log(request, f"{name} ({a.log_path})", a.log_text)
        return a

    yield factory
    for a in reversed(agents):
        try:
            a.stop()
        except Exception as e:  # keep tearing down the others
            print(f"e2e: stopping {a.name} failed: {e}")


@pytest.fixture
def agent(make_agent) -> Agent:
    return make_agent()


@pytest.fixture
def cli(sandbox, agent) -> Cli:
    """Runs our binaries against `agent`; swap `cli.agent` after a restart."""
    return Cli(sandbox, agent)


# ---------------------------------------------------------------- browser


@pytest.fixture
def chromium(request):
    """A fresh headless Chromium (own profile) driven through WebDriver."""
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name).strip("-")
    browser = Chromium(name)
    _attach_log(request, f"chromedriver ({browser.log_path})", browser.log_text)
    yield browser
    if request.node.__dict__.get("_e2e_call_failed"):
        browser.screenshot("at-failure")
    browser.quit()
