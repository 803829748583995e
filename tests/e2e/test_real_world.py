"""How people really use oidc-token: rclone's bearer_token_command, shell
substitution with curl, `eval "$(oidc-token -c)"`, and a headless CI job."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
from pathlib import Path

import pytest

from harness import BIN_DIR, assert_token_output, import_fresh_account, ours, same_issuer
from procs import kill_pid, run, wait_exit
from webdav_server import WebDavServer

NAME = "cloud"
RCLONE = shutil.which("rclone") or "/usr/bin/rclone"


def _make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "hello.txt": b"hello from oidc-agent-rs\n",
        "docs/readme.md": b"# e2e\n" * 100,
        "docs/deep/data.bin": os.urandom(1024 * 1024 + 17),
        "empty.txt": b"",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def _rclone(sandbox, src: Path, dav: WebDavServer, dest: str, bearer_command: str, env: dict, timeout=120):
    conf = sandbox.work / "rclone.conf"
    conf.touch()
    env = dict(env, RCLONE_CONFIG=str(conf))
    argv = [
        RCLONE, "sync", str(src), f":webdav:{dest}",
        "--webdav-url", dav.url,
        "--webdav-vendor", "other",
        "--webdav-bearer-token-command", bearer_command,
        "--low-level-retries", "2", "--retries", "1",
        "--contimeout", "5s", "--timeout", "30s",
        "-v",
    ]
    return run(argv, env, timeout=timeout, log=sandbox.log)


@pytest.fixture
def dav(provider, sandbox):
    server = WebDavServer(sandbox.work / "dav-root", provider.is_active)
    yield server
    server.stop()


def test_rclone_sync_with_bearer_token_command(cli, provider, sandbox, dav):
    assert os.access(RCLONE, os.X_OK), "rclone is not installed (run setup.sh)"
    import_fresh_account(cli, provider, NAME)
    src = sandbox.work / "src"
    files = _make_tree(src)

    res = _rclone(sandbox, src, dav, "backup", f"{ours('oidc-token')} {NAME}", cli.env())
    assert res.returncode == 0, res.describe()

    for rel, data in files.items():
        got = dav.root / "backup" / rel
        assert got.is_file(), f"{rel} did not arrive"
        assert got.read_bytes() == data, f"{rel} arrived corrupted"
    reqs = dav.requests
    assert any(r.method == "PUT" and r.token_active for r in reqs), reqs
    assert not [r for r in reqs if r.status == 401], f"requests were refused: {reqs}"


def test_rclone_with_bad_token_is_refused(provider, sandbox, dav):
    assert os.access(RCLONE, os.X_OK), "rclone is not installed (run setup.sh)"
    src = sandbox.work / "src"
    _make_tree(src)
    res = _rclone(sandbox, src, dav, "backup", "echo not-a-valid-token", sandbox.env(), timeout=60)
    assert res.returncode != 0, res.describe()
    assert not (dav.root / "backup").exists() or not any((dav.root / "backup").rglob("*")), "files arrived"
    assert dav.requests and all(r.status == 401 for r in dav.requests), dav.requests


def _shell_env(cli, **extra) -> dict:
    env = cli.env(**extra)
    env["PATH"] = f"{BIN_DIR}:{env['PATH']}"
    return env


def _bash(script: str, env: dict, sandbox, timeout=60):
    prelude = f'[ "$(command -v oidc-token)" = {shlex.quote(str(ours("oidc-token")))} ] || {{ echo "wrong oidc-token on PATH: $(command -v oidc-token)" >&2; exit 99; }}\n'
    return run(["bash", "-c", prelude + script], env, timeout=timeout, log=sandbox.log)


def test_curl_with_token_substitution_gets_userinfo(cli, provider, sandbox):
    import_fresh_account(cli, provider, NAME, scope="openid offline_access profile email")
    userinfo = provider.endpoint("userinfo_endpoint")
    res = _bash(
        f'curl -sS --fail-with-body -H "Authorization: Bearer $(oidc-token {NAME})" {shlex.quote(userinfo)}',
        _shell_env(cli), sandbox,
    )
    assert res.returncode == 0, res.describe()
    claims = json.loads(res.stdout)
    assert claims["sub"] == "alice"
    assert claims["preferred_username"] == "alice"
    assert claims["email"] == "alice@example.test"
    assert isinstance(claims["groups"], list) and "e2e-users" in claims["groups"]
    assert "user" in claims["roles"]


def test_eval_env_output_sets_oidc_at_exp_iss(cli, provider, sandbox):
    import_fresh_account(cli, provider, NAME)
    res = _bash(
        f'eval "$(oidc-token -c {NAME})" && printf "%s\\n%s\\n%s\\n" "$OIDC_AT" "$OIDC_EXP" "$OIDC_ISS"',
        _shell_env(cli), sandbox,
    )
    assert res.returncode == 0, res.describe()
    at, exp, iss = res.stdout.splitlines()
    assert provider.is_active(at), "OIDC_AT is not an active token"
    now = time.time()
    assert now < int(exp) <= now + 65, f"OIDC_EXP={exp} is not the token's expiry (60 s tokens)"
    assert same_issuer(iss, provider.issuer), f"OIDC_ISS={iss}"


def test_the_readmes_script_lines_stop_without_a_token(cli, provider, sandbox):
    """The README's script form (token on its own line, `|| exit`) reaches
    curl with the account and stops before it with none: the substitution
    inside curl's arguments would have sent `Bearer ` and gone on."""
    import_fresh_account(cli, provider, NAME)
    userinfo = shlex.quote(provider.endpoint("userinfo_endpoint"))
    for account, reaches in ((NAME, True), ("nobody", False)):
        res = _bash(
            "set -e\n"
            f"AT=$(oidc-token {account}) || exit\n"
            f'curl -sS --fail-with-body -H "Authorization: Bearer $AT" {userinfo}\n'
            f'vars=$(oidc-token -c {account}) && eval "$vars"\n'
            'echo "reached $OIDC_ISS"\n',
            _shell_env(cli), sandbox,
        )
        if reaches:
            assert res.returncode == 0, res.describe()
            claims, end = json.JSONDecoder().raw_decode(res.stdout)
            assert claims["sub"] == "alice", res.describe()
            assert res.stdout[end:].startswith("reached http"), res.describe()
        else:
            assert res.returncode == 4, res.describe()
            assert res.stdout == "" and "oidc-gen nobody" in res.stderr, res.describe()


def test_ci_style_headless_from_nothing_to_token(provider, sandbox, need_binaries):
    """A CI job: no terminal, no DISPLAY, stdin closed, own session."""
    from browser import get_refresh_token

    rt = get_refresh_token(provider.issuer, "OpenCloudDesktop")
    env = sandbox.env(OIDC_REFRESH_TOKEN=rt, OIDC_ENCRYPTION_PW="ci-secret-pw", ISS=provider.issuer)
    env["PATH"] = f"{BIN_DIR}:{env['PATH']}"
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "TERM", "SSH_AUTH_SOCK", "OIDC_SOCK"):
        env.pop(k, None)
    script = """
set -eu
eval "$(oidc-agent)" >&2   # its `echo Agent pid N` goes to stderr
echo "AGENT_PID=$OIDCD_PID" >&2
trap 'oidc-agent -k >/dev/null 2>&1 || true' EXIT
oidc-gen ci --issuer "$ISS" --client-id OpenCloudDesktop --rt-env --pw-env >&2
oidc-token ci
"""
    agent_pid = None
    try:
        res = run(["setsid", "-w", "bash", "-c", script], env, timeout=90, log=sandbox.log)
        for line in res.stderr.splitlines():
            if line.startswith("AGENT_PID="):
                agent_pid = int(line.split("=", 1)[1])
        tok = assert_token_output(res)
        assert provider.is_active(tok)
        assert agent_pid is not None
        # An event with a deadline, not a fixed pause: the agent exits once it
        # has handled SIGTERM.
        wait_exit(agent_pid, 10, "`oidc-agent -k` to stop the agent")
    finally:
        if agent_pid:
            kill_pid(agent_pid)
