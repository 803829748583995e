"""One agent per user: `oidc-agent-service use|stop`, clients finding the
well-known socket without OIDC_SOCK (shells, rclone), the agent started with
a listening socket passed the way systemd's socket unit passes it, and
`oidc-agent -- COMMAND`."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from harness import (EXIT_NOT_LOADED, Cli, assert_token_output, import_fresh_account, ours, parse_agent_eval)
from procs import Background, pid_alive, run, wait_exit
from test_real_world import RCLONE, _make_tree, _rclone
from webdav_server import WebDavServer

NAME = "svc"
HERE = Path(__file__).resolve().parent


def _bare_env(sandbox) -> dict[str, str]:
    """A fresh shell's environment: no OIDC_SOCK, our binaries on PATH."""
    env = sandbox.env()
    env.pop("OIDC_SOCK", None)
    env["PATH"] = f"{ours('oidc-token').parent}:{env['PATH']}"
    return env


def _service(sandbox, *args: str):
    return run([ours("oidc-agent-service"), *args], _bare_env(sandbox), timeout=30, log=sandbox.log)


def _shell(sandbox, script: str):
    """`bash -c` as a new login shell would run it (profile line included)."""
    profile = 'eval "$(oidc-agent-service use)" >/dev/null || exit 98\n'
    return run(["bash", "-c", profile + script], _bare_env(sandbox), timeout=60, log=sandbox.log)


@pytest.fixture
def service(sandbox, need_binaries):
    """The service agent, started with `oidc-agent-service use`; stopped after."""
    res = _service(sandbox, "use")
    assert res.returncode == 0, res.describe()
    sock, pid = parse_agent_eval(res.stdout)
    assert sock == str(sandbox.run_dir / "oidc-agent" / "agent.sock"), res.stdout
    assert pid and pid_alive(pid), res.stdout
    assert f"OIDCD_PID_FILE={sandbox.run_dir}/oidc-agent/oidc-agent.pid; export OIDCD_PID_FILE;" in res.stdout
    yield sock, pid
    _service(sandbox, "stop")


def test_two_shells_share_the_service_agent_and_stop_starts_fresh(sandbox, provider, service):
    sock, pid = service
    # The account goes into the service agent (oidc-gen finds it without OIDC_SOCK).
    import_fresh_account(Cli(sandbox), provider, NAME)
    first = _shell(sandbox, 'echo "$OIDCD_PID $OIDC_SOCK"; oidc-add -a')
    second = _shell(sandbox, 'echo "$OIDCD_PID"; oidc-token svc')
    assert first.returncode == 0 and second.returncode == 0, first.describe() + second.describe()
    assert first.stdout.splitlines()[0] == f"{pid} {sock}", first.describe()
    assert NAME in first.stdout.splitlines()[1:], "the first shell sees the loaded account"
    lines = second.stdout.splitlines()
    assert lines[0] == str(pid), "the second shell reuses the same agent"
    assert len(lines) == 2 and lines[1], second.describe()
    # `start` refuses while one runs.
    res = _service(sandbox, "start")
    assert res.returncode != 0 and "already running" in res.stderr, res.describe()

    res = _service(sandbox, "stop")
    assert res.returncode == 0, res.describe()
    assert f"echo Agent pid {pid} killed;" in res.stdout, res.describe()
    wait_exit(pid, 10, "old service agent exit")
    res = _service(sandbox, "use")
    assert res.returncode == 0, res.describe()
    new_sock, new_pid = parse_agent_eval(res.stdout)
    assert new_sock == sock and new_pid != pid, res.stdout
    # A fresh agent: nothing loaded, and with no terminal and no keyring
    # oidc-token cannot autoload, so it says what to run.
    tok = run([ours("oidc-token"), NAME], _bare_env(sandbox), timeout=30, log=sandbox.log)
    assert tok.returncode == EXIT_NOT_LOADED and f"oidc-add {NAME}" in tok.stderr, tok.describe()


def test_rclone_with_oidc_sock_unset_gets_its_token(sandbox, provider, service):
    assert os.access(RCLONE, os.X_OK), "rclone is not installed (run setup.sh)"
    import_fresh_account(Cli(sandbox), provider, NAME)
    dav = WebDavServer(sandbox.work / "dav-root", provider.is_active)
    try:
        src = sandbox.work / "src"
        files = _make_tree(src)
        env = _bare_env(sandbox)
        assert "OIDC_SOCK" not in env
        res = _rclone(sandbox, src, dav, "backup", f"{ours('oidc-token')} {NAME}", env)
        assert res.returncode == 0, res.describe()
        for rel, data in files.items():
            assert (dav.root / "backup" / rel).read_bytes() == data, rel
        assert any(r.method == "PUT" and r.token_active for r in dav.requests), dav.requests
    finally:
        dav.stop()


LAUNCHER = r'''
import os, socket, sys
path, argv = sys.argv[1], sys.argv[2:]
os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
old = os.umask(0o177)
s.bind(path)
os.umask(old)
s.listen(128)
print("LISTENING", flush=True)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)  # inheritable
    s.close()
else:
    os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())  # exec keeps the pid
os.execv(argv[0], argv)
'''


def test_socket_activation_serves_the_passed_socket(sandbox, provider, need_binaries):
    """Started as systemd's oidc-agent.socket starts it: the socket bound by
    someone else and passed as fd 3 with LISTEN_FDS=1 and LISTEN_PID."""
    launcher = sandbox.work / "launch.py"
    launcher.write_text(LAUNCHER)
    sock = sandbox.run_dir / "oidc-agent" / "agent.sock"
    env = _bare_env(sandbox)
    agent = Background([sys.executable, str(launcher), str(sock), str(ours("oidc-agent"))], env,
                       log_path=sandbox.logs / "activated-agent.log", name="activated-agent")
    try:
        agent.wait_for_line(lambda l: l == "LISTENING", timeout=10, streams=("stdout",),
                            what="the launcher's LISTENING line (its socket bound and listening)")
        cli = Cli(sandbox)
        import_fresh_account(cli, provider, NAME)
        assert_token_output(cli.token(NAME))
        # oidc-agent-service reuses it instead of starting another.
        res = _service(sandbox, "use")
        assert res.returncode == 0 and parse_agent_eval(res.stdout)[0] == str(sock), res.describe()
        assert parse_agent_eval(res.stdout)[1] == agent.pid, "the agent kept the launcher's pid"
        assert not (sandbox.run_dir / "oidc-agent" / "oidc-agent.pid").exists(), "no second agent started"
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait(timeout=10) == 0, agent.text()
        assert sock.exists(), "the socket belongs to whoever passed it (systemd): the agent leaves it"
    finally:
        agent.stop()


def test_agent_runs_a_command_and_stops_with_it(sandbox, need_binaries):
    script = 'echo "$OIDCD_PID $OIDC_SOCK"; oidc-agent --status >/dev/null || exit 9; exit 7'
    res = run([ours("oidc-agent"), "--", "sh", "-c", script], _bare_env(sandbox), timeout=30, log=sandbox.log)
    assert res.returncode == 7, "oidc-agent exits with COMMAND's status\n" + res.describe()
    pid, sock = res.stdout.split()
    wait_exit(int(pid), 10, "agent exit after the command")
    assert not os.path.exists(sock), "the agent removed its socket"


def test_man_pages_render_without_warnings_and_have_examples():
    groff = shutil.which("groff")
    assert groff, "groff is not installed (run setup.sh)"
    pages = sorted((HERE.parent.parent / "man").glob("*.1"))
    assert {p.stem for p in pages} >= {"oidc-agent", "oidc-gen", "oidc-add", "oidc-token", "oidc-agent-service"}
    for page in pages:
        res = run([groff, "-ww", "-man", "-Tutf8", str(page)], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                  timeout=30)
        assert res.returncode == 0 and res.stderr == "", f"{page.name}:\n{res.stderr}"
        text = page.read_text()
        for section in ('.SH EXAMPLES', '.SH ENVIRONMENT', '.SH FILES', '.SH "EXIT STATUS"'):
            assert section in text, f"{page.name} has no {section}"
        assert "headless\\-first" not in text.split(".SH OPTIONS")[0], f"{page.name} still carries the tagline"


def test_systemd_units_install_step(sandbox, need_binaries):
    """systemd/install.sh (without starting: no systemd here) writes both units
    with ExecStart pointing at the oidc-agent on PATH; the socket unit puts the
    socket where the clients look for it."""
    env = _bare_env(sandbox)
    res = run(["sh", str(HERE.parent.parent / "systemd" / "install.sh"), "--no-start"], env, timeout=30,
              log=sandbox.log)
    assert res.returncode == 0, res.describe()
    units = sandbox.home / ".config" / "systemd" / "user"
    service = (units / "oidc-agent.service").read_text()
    assert f"\nExecStart={ours('oidc-agent')}\n" in service, service
    socket_unit = (units / "oidc-agent.socket").read_text()
    assert "\nListenStream=%t/oidc-agent/agent.sock\n" in socket_unit, socket_unit
    assert "\nSocketMode=0600\n" in socket_unit and "\nDirectoryMode=0700\n" in socket_unit


def test_without_xdg_runtime_dir_the_service_uses_oidc_agent_5_socket(sandbox, provider, need_binaries):
    env = _bare_env(sandbox)
    env.pop("XDG_RUNTIME_DIR")
    res = run([ours("oidc-agent-service"), "use"], env, timeout=30, log=sandbox.log)
    assert res.returncode == 0, res.describe()
    sock, pid = parse_agent_eval(res.stdout)
    try:
        # Without XDG_RUNTIME_DIR, logind's /run/user/$UID where it exists
        # (cron's case), else oidc-agent 5.x's socket under $TMPDIR.
        run_user = f"/run/user/{os.getuid()}"
        expected = (f"{run_user}/oidc-agent/agent.sock" if os.path.isdir(run_user)
                    else f"{sandbox.tmp}/oidc-agent-service-{os.getuid()}/oidc-agent.sock")
        assert sock == expected, res.stdout
        cli = Cli(sandbox)
        import_fresh_account(cli, provider, NAME, cert_path=None)
        tok = run([ours("oidc-token"), NAME], env, timeout=30, log=sandbox.log)
        assert_token_output(tok)
    finally:
        run([ours("oidc-agent-service"), "stop"], env, timeout=30, log=sandbox.log)
    wait_exit(pid, 10, "service agent exit")
