"""Autoload: `oidc-token NAME` (or ISSUER) for an account that is configured
but not loaded loads it itself — password from the keyring with no terminal,
or typed on a pseudo-terminal — and without either fails at once with exit 4
and the `oidc-add NAME` hint. The agent itself never prompts."""

from __future__ import annotations

import os
import pty
import select
import shlex
import signal
import termios
import time

import pytest

from browser import get_refresh_token
from harness import EXIT_NOT_LOADED, PASSWORD, Cli, assert_token_output, debian, ours
from op import PUBLIC_CLIENT
from procs import Timeout
from test_keyring import secret_service  # noqa: F401  (fixture)

NAME = "auto"


def _import(cli, provider, extra_env=None, *flags):
    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT, None, verify=provider.verify)
    res = cli.gen(NAME, "--issuer", provider.issuer, "--client-id", PUBLIC_CLIENT, "--rt-env", "--pw-env", *flags,
                  extra_env=dict(extra_env or {}, OIDC_REFRESH_TOKEN=rt), timeout=60)
    assert res.returncode == 0, res.describe()


def _unload(cli):
    res = cli.add("-r", NAME, password=None)
    assert res.returncode == 0, res.describe()
    res = cli.add("-a", password=None)
    assert NAME not in res.stdout.split(), res.describe()


def _loaded(cli) -> list[str]:
    return cli.add("-a", password=None).stdout.split()


def test_autoload_from_the_keyring_without_a_terminal(cli, provider, secret_service):  # noqa: F811
    _import(cli, provider, secret_service, "--pw-keyring")
    _unload(cli)
    # cli.run: new session, stdin /dev/null, no controlling terminal.
    assert_token_output(cli.token(NAME, extra_env=secret_service))
    assert NAME in _loaded(cli)
    # By issuer: the issuer's default account is loaded the same way.
    _unload(cli)
    assert_token_output(cli.token(provider.issuer, extra_env=secret_service))
    assert NAME in _loaded(cli)
    # --no-autoload: exit 4 even though the keyring could answer.
    _unload(cli)
    res = cli.token("--no-autoload", NAME, extra_env=secret_service)
    assert res.returncode == EXIT_NOT_LOADED and f"oidc-add {NAME}" in res.stderr, res.describe()
    assert NAME not in _loaded(cli)


def test_no_terminal_and_no_keyring_fails_at_once(cli, provider):
    _import(cli, provider)
    _unload(cli)
    res = cli.token(NAME, timeout=20)  # raises Timeout if it waited for input
    assert res.returncode == EXIT_NOT_LOADED, res.describe()
    assert f"oidc-add {NAME}" in res.stderr and "no terminal" in res.stderr, res.describe()
    assert res.stdout == ""
    assert NAME not in _loaded(cli)


# A job-control shell in miniature: runs argv as a background job (its own
# process group, not the terminal's foreground one) and says how it ended.
_BACKGROUND_JOB = """
import subprocess, sys
job = subprocess.Popen(sys.argv[1:], process_group=0)
try:
    print("JOB EXIT", job.wait(timeout=20), flush=True)
except subprocess.TimeoutExpired:
    print("JOB STILL THERE", flush=True)
    job.kill()
"""


def test_a_background_job_is_not_stopped_by_a_prompt(cli, provider):
    """`oidc-token acct &` (or `rclone … &`) with the account not loaded:
    a prompt written from the background would have the terminal stop the
    job (SIGTTOU), waiting unsaid for a `fg`; it fails at once instead."""
    _import(cli, provider)
    _unload(cli)
    argv = ["/usr/bin/python3", "-c", _BACKGROUND_JOB, str(ours("oidc-token")), NAME]
    pid, fd = _spawn_on_a_pty(argv, cli.env())
    try:
        out = _read_until(fd, b"\x00never\x00", time.monotonic() + 40)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        _end(pid, fd)
    assert f"JOB EXIT {EXIT_NOT_LOADED}".encode() in out, out
    assert b"in the background" in out and f"oidc-add {NAME}".encode() in out, out
    assert b"password to load it" not in out, out
    assert NAME not in _loaded(cli)


def _spawn_on_a_pty(argv: list[str], env: dict) -> tuple[int, int]:
    """Runs `argv` in a new session with a pseudo-terminal as its terminal;
    returns its pid and the terminal's master side."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid, fd


def _end(pid: int, fd: int) -> None:
    """Kills the child if it still runs (`pid` 0: it was waited for) and
    closes the terminal."""
    if pid:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
    os.close(fd)


def _read_until(fd: int, needle: bytes, deadline: float) -> bytes:
    buf = b""
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"{needle!r} not seen on the terminal; got {buf!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        buf += chunk
    return buf


@pytest.mark.slow(16)
def test_autoload_prompts_on_a_terminal(cli, provider):
    _import(cli, provider)
    _unload(cli)
    env = cli.env()
    argv = [str(ours("oidc-token")), NAME]
    pid, fd = _spawn_on_a_pty(argv, env)
    try:
        deadline = time.monotonic() + 30
        # Echo goes off before the prompt is written: type once it shows.
        out = _read_until(fd, b"password to load it: ", deadline)
        assert b"'auto' is not loaded" in out, out
        # A person looks the password up: longer than the agent's 10 s
        # read timeout, so no connection may be held open across a prompt.
        time.sleep(12)  # the pace under test
        for key in PASSWORD.encode() + b"\r":
            os.write(fd, bytes([key]))
            time.sleep(0.1)  # typing, one key at a time
        out = _read_until(fd, b"\x00never\x00", deadline)  # until the child closes the terminal
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 0, out
        lines = [l for l in out.decode(errors="replace").splitlines() if l.strip()]
        assert lines and len(lines[-1].strip()) > 20 and " " not in lines[-1].strip(), out
        assert PASSWORD.encode() not in out, "the password was echoed"
    finally:
        _end(pid, fd)
    assert NAME in _loaded(cli)


@pytest.mark.parametrize("tool", ["oidc-add", "oidc-token"])
def test_ctrl_c_at_a_password_prompt_gives_the_terminal_back(cli, provider, tool):
    """^C at a password prompt (oidc-add's, or the one oidc-token's autoload
    shows) ends the program as SIGINT does, and the terminal has its echo
    back: nobody is left typing blind in their shell."""
    _import(cli, provider)
    _unload(cli)
    argv = [str(ours(tool)), NAME]
    pid, fd = _spawn_on_a_pty(argv, cli.env())
    try:
        out = _read_until(fd, b": ", time.monotonic() + 30)
        assert b"assword" in out, out
        assert not termios.tcgetattr(fd)[3] & termios.ECHO, "echo is on at the prompt"
        os.write(fd, b"\x03")  # the terminal's ^C: SIGINT to the foreground
        rest = _read_until(fd, b"\x00never\x00", time.monotonic() + 30)
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT, (status, rest)
        assert termios.tcgetattr(fd)[3] & termios.ECHO, "^C left the terminal without echo"
    finally:
        _end(pid, fd)
    assert NAME not in _loaded(cli)


def test_ctrl_c_at_a_prompt_interrupts_the_whole_job(cli, provider):
    """^C at the autoload prompt interrupts the foreground job, as at any
    prompt: a script's loop ends there instead of going on to its next
    round (the prompt had turned the terminal's ^C off and interrupted
    only the oidc-token asking; git went on to ask for a user name)."""
    _import(cli, provider)
    _unload(cli)
    loop = f'for i in 1 2 3; do {shlex.quote(str(ours("oidc-token")))} {NAME}; echo "round $i ended"; done; echo loop-finished'
    pid, fd = _spawn_on_a_pty(["/bin/sh", "-c", loop], cli.env())
    try:
        out = _read_until(fd, b"password to load it: ", time.monotonic() + 30)
        os.write(fd, b"\x03")
        out += _read_until(fd, b"\x00never\x00", time.monotonic() + 30)
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        _end(pid, fd)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT, (status, out)
    assert b"round 1 ended" not in out and b"loop-finished" not in out, out


def test_two_autoloads_of_one_account_on_one_terminal_ask_once(cli, provider):
    """A script's `oidc-token A & oidc-token A` (or rclone's parallel
    transfers) on an unloaded account: one password prompt, which loads it
    for both; before, both prompted and one waited forever for input."""
    _import(cli, provider)
    _unload(cli)
    token = shlex.quote(str(ours("oidc-token")))
    outs = [cli.sandbox.work / name for name in ("one", "two")]
    script = (f"{token} {NAME} > {outs[0]} & {token} {NAME} > {outs[1]}; s2=$?; "
              f"wait $!; echo exits $? $s2")
    pid, fd = _spawn_on_a_pty(["/bin/sh", "-c", script], cli.env())
    try:
        deadline = time.monotonic() + 60
        out = _read_until(fd, b"password to load it: ", deadline)
        os.write(fd, PASSWORD.encode() + b"\r")
        out += _read_until(fd, b"\x00never\x00", deadline)
        os.waitpid(pid, 0)
        pid = 0
    finally:
        _end(pid, fd)
    assert b"exits 0 0" in out, out
    assert out.count(b"password to load it") == 1, out
    for printed in outs:
        tok = printed.read_text()
        assert tok.count("\n") == 1 and len(tok.strip()) > 20 and " " not in tok.strip(), tok


def _children(pid: int) -> list[int]:
    return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]


def test_a_prompt_ends_with_the_oidc_token_that_asked(cli, provider):
    """oidc-token killed alone while its autoload prompts (rclone kills only
    its bearer_token_command when that takes too long): the prompt ends too,
    the terminal's echo back, instead of taking the next line typed."""
    _import(cli, provider)
    _unload(cli)
    token = shlex.quote(str(ours("oidc-token")))
    # A shell leads the session, as in a terminal: no SIGHUP when oidc-token goes.
    pid, fd = _spawn_on_a_pty(["/bin/sh", "-c", f"{token} {NAME}; sleep 60"], cli.env())
    try:
        _read_until(fd, b"password to load it: ", time.monotonic() + 30)
        [oidc_token] = _children(pid)
        [oidc_add] = _children(oidc_token)
        prompt = os.pidfd_open(oidc_add)
        os.kill(oidc_token, signal.SIGKILL)
        ready, _, _ = select.select([prompt], [], [], 20)
        os.close(prompt)
        assert ready, "the autoload's oidc-add still prompts after oidc-token was killed"
        assert termios.tcgetattr(fd)[3] & termios.ECHO, "the terminal was left without echo"
    finally:
        _end(pid, fd)
    assert NAME not in _loaded(cli)


@pytest.mark.parametrize("tool", ["oidc-add", "oidc-token"])
def test_a_mistyped_password_is_asked_again_up_to_three_times(cli, provider, tool):
    """As oidc-agent's prompts (MAX_PASS_TRIES): a wrong password at the
    prompt asks again; the third wrong one ends with exit 9."""
    _import(cli, provider)
    _unload(cli)
    pid, fd = _spawn_on_a_pty([str(ours(tool)), NAME], cli.env())
    try:
        deadline = time.monotonic() + 60
        out = _read_until(fd, b": ", deadline)
        assert b"assword" in out, out
        for typo in (1, 2):
            os.write(fd, f"typo-{typo}\r".encode())
            out = _read_until(fd, f"try again ({typo + 1} of 3)".encode(), deadline)
            if not out.endswith(b": "):  # the prompt again, if not in the same read
                out += _read_until(fd, b": ", deadline)
        os.write(fd, PASSWORD.encode() + b"\r")
        rest = _read_until(fd, b"\x00never\x00", deadline)
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 0, rest
    finally:
        _end(pid, fd)
    assert NAME in _loaded(cli)
    _unload(cli)
    pid, fd = _spawn_on_a_pty([str(ours("oidc-add")), NAME], cli.env())
    try:
        deadline = time.monotonic() + 60
        for typo in (1, 2, 3):
            _read_until(fd, b"assword for account", deadline)
            os.write(fd, f"typo-{typo}\r".encode())
        rest = _read_until(fd, b"\x00never\x00", deadline)
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 9, rest
        assert b"wrong password" in rest and b"assword for account" not in rest, rest
    finally:
        _end(pid, fd)
    assert NAME not in _loaded(cli)


def test_ctrl_d_at_a_password_prompt_says_so_on_a_line_of_its_own(cli, provider):
    """^D at oidc-add's password prompt: no password typed, said on its own
    line (not "no terminal", glued to the prompt), exit 1, echo back."""
    _import(cli, provider)
    _unload(cli)
    pid, fd = _spawn_on_a_pty([str(ours("oidc-add")), NAME], cli.env())
    try:
        out = _read_until(fd, b": ", time.monotonic() + 30)
        assert b"assword" in out, out
        # The prompt reads in the terminal's line mode, echo off before the
        # prompt shows: ^D on the empty line is the line discipline's EOF.
        assert not termios.tcgetattr(fd)[3] & termios.ECHO, "echo is on at the prompt"
        os.write(fd, b"\x04")  # the terminal's ^D: end of input
        rest = _read_until(fd, b"\x00never\x00", time.monotonic() + 30)
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1, (status, rest)
        assert b"no password typed" in rest and b"no terminal" not in rest, rest
        assert rest.lstrip(b"\r\n").startswith(b"oidc-add: no password typed"), rest
        assert termios.tcgetattr(fd)[3] & termios.ECHO, "^D left the terminal without echo"
    finally:
        _end(pid, fd)
    assert NAME not in _loaded(cli)


def test_the_agent_autoloads_for_oidc_agents_own_clients(make_agent, sandbox, provider, secret_service):  # noqa: F811
    """Debian's oidc-token 4.2.6 cannot load anything itself: the agent (with
    the session's keyring) loads the account for it, without a prompt; an
    agent started with --no-autoload does not."""
    agent = make_agent(mode="console", extra_env=secret_service)
    cli = Cli(sandbox, agent)
    _import(cli, provider, secret_service, "--pw-keyring")
    _unload(cli)
    res = cli.run(debian("oidc-token"), NAME, timeout=60)
    assert_token_output(res)
    assert NAME in _loaded(cli)
    assert "autoloaded" in agent.log_text()

    strict = make_agent(mode="console", extra_env=secret_service, extra_args=["--no-autoload"])
    res = Cli(sandbox, strict).run(debian("oidc-token"), NAME, timeout=60)
    assert res.returncode != 0 and res.stdout == "", res.describe()
    assert NAME not in Cli(sandbox, strict).add("-a", password=None).stdout.split()
