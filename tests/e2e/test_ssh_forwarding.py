"""Agent forwarding over SSH, as README's recipe does it: a real sshd on
loopback (Debian's openssh-server with its own host key, config and an
unprivileged port; key authentication for the current user), and
`ssh -R REMOTE_SOCK:$OIDC_SOCK host 'OIDC_SOCK=REMOTE_SOCK oidc-token NAME'`.
The agent's peer-uid check passes: the connection reaching it is made by the
local ssh client, running as the same user."""

from __future__ import annotations

import os
import pwd
import shlex
import socket

import pytest

from harness import assert_token_output, import_fresh_account, ours
from procs import Background, run

SSHD = "/usr/sbin/sshd"  # sshd insists on an absolute path (it re-executes itself)
NAME = "fwd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(sandbox):
    """sshd on 127.0.0.1:<free port>, trusting one fresh client key."""
    for tool in (SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            pytest.fail(f"{tool} is not installed; run setup.sh")
    d = sandbox.base / "ssh"
    d.mkdir(mode=0o700)
    env = sandbox.env()
    for key in ("host_key", "client_key"):
        res = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], env, timeout=30)
        assert res.returncode == 0, res.describe()
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    (d / "authorized_keys").chmod(0o600)
    if os.getuid() == 0:
        # sshd started as root wants its privilege-separation directory.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    port = _free_port()
    (d / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowStreamLocalForwarding yes
StreamLocalBindUnlink yes
StreamLocalBindMask 0177
LogLevel VERBOSE
""")
    proc = Background([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], env,
                      log_path=sandbox.logs / "sshd.log", name="sshd")
    try:
        proc.wait_for_line(lambda l: "Server listening on 127.0.0.1" in l, timeout=15, streams=("stderr",),
                           what="sshd listening")
        yield {"port": port, "key": d / "client_key", "dir": d}
    finally:
        proc.stop()


def test_oidc_token_through_a_forwarded_socket(cli, provider, sandbox, sshd):
    import_fresh_account(cli, provider, NAME)
    remote_sock = sandbox.work / "forwarded.sock"
    user = pwd.getpwuid(os.getuid()).pw_name
    remote_cmd = f"OIDC_SOCK={shlex.quote(str(remote_sock))} {shlex.quote(str(ours('oidc-token')))} {NAME}"
    argv = [
        "ssh", "-F", "/dev/null", "-p", str(sshd["port"]), "-i", str(sshd["key"]),
        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", f"UserKnownHostsFile={sshd['dir']}/known_hosts", "-o", "ExitOnForwardFailure=yes",
        "-R", f"{remote_sock}:{cli.agent.sock}",
        f"{user}@127.0.0.1", remote_cmd,
    ]
    res = run(argv, cli.env(), timeout=60, log=sandbox.log)
    token = assert_token_output(res)
    assert provider.is_active(token), "the token from the far side is active"
