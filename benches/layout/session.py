"""The workload benches/agent-layout records: what one agent sees in ordinary
use, in order. Run by that script with OIDC_BIN_DIR pointing at binaries whose
oidc-agent runs under callgrind; it asserts nothing about speed.

A day of use, compressed: the agent starts as `eval "$(oidc-agent)"` does, an
account is created against an HTTPS provider that rotates refresh tokens and
hands out short-lived access tokens (and one against a plain-HTTP provider on
loopback, as local test set-ups have), the account is loaded with its password
from the environment, then tokens are asked for by name and by issuer (cached,
forced, expired and renewed ahead of expiry), the agent is listed, locked,
unlocked, the account unloaded and loaded again, and the agent is stopped with
`oidc-agent -k`. Then a second agent sees only the most common day: the
account loaded, tokens cached, one renewed after expiry and one forced, over
HTTPS. order.py puts what every agent that spoke TLS ran first, so that this
common path, not the first agent's rarer ones (lock, list, plain HTTP), fills
the first pages.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from browser import get_refresh_token
from harness import Agent, Cli, Sandbox, ipc_plain_request, ours
from op import CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, Provider, private_ca
from procs import run

PASSWORD = "layout-Encryption-Pw-1"
SCOPE = "openid offline_access profile"


def must(res, what: str):
    if res.returncode != 0:
        raise SystemExit(f"agent-layout: {what} failed:\n{res.describe()}")
    return res


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="agent-layout-", dir="/tmp"))
    tls = private_ca(tmp)
    provider = Provider.start(tmp / "provider.log", https=(tls["cert"], tls["key"]), ca_file=tls["ca"],
                              rotate=True, at_ttl=4)
    plain = Provider.start(tmp / "plain.log")
    sandbox = Sandbox()
    agent = Agent(sandbox, mode="daemon", timeout=120)
    cli = Cli(sandbox, agent)
    env = cli.env(OIDC_ENCRYPTION_PW=PASSWORD)

    def tool(*argv: str, **extra) -> object:
        return must(run([str(ours(argv[0])), *argv[1:]], {**env, **extra}, timeout=120, log=sandbox.log),
                    " ".join(argv))

    try:
        rt = get_refresh_token(provider.issuer, CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, scope=SCOPE,
                               verify=tls["ca"])
        tool("oidc-gen", "acct", "--issuer", provider.issuer, "--client-id", CONFIDENTIAL_CLIENT,
             "--client-secret", CONFIDENTIAL_SECRET, "--scope", SCOPE, "--cp", tls["ca"],
             "--rt-env", "--pw-env", OIDC_REFRESH_TOKEN=rt)
        rt = get_refresh_token(plain.issuer, CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, scope=SCOPE)
        tool("oidc-gen", "plain", "--issuer", plain.issuer, "--client-id", CONFIDENTIAL_CLIENT,
             "--client-secret", CONFIDENTIAL_SECRET, "--scope", SCOPE, "--rt-env", "--pw-env",
             OIDC_REFRESH_TOKEN=rt)
        for _ in range(10):
            tool("oidc-token", "plain")
        tool("oidc-token", "-f", "plain")
        for _ in range(2):
            tool("oidc-add", "-r", "acct")
            tool("oidc-add", "--pw-env", "acct")
            for _ in range(20):
                tool("oidc-token", "acct")
            tool("oidc-token", provider.issuer)
            tool("oidc-token", "-f", "acct")
            tool("oidc-token", "-t", "60", "acct")
            tool("oidc-add", "-l")
            tool("oidc-add", "-a")
            tool("oidc-agent", "--status")
            ipc_plain_request(agent.sock, {"request": "access_token", "account": "acct", "min_valid_period": 0})
            time.sleep(6)  # the access token expires (4 s) and is renewed ahead or on demand
            tool("oidc-token", "acct")
        tool("oidc-add", "-x", "--pw-env", OIDC_ENCRYPTION_PW="lock-Pw-1")
        tool("oidc-add", "-X", "--pw-env", OIDC_ENCRYPTION_PW="lock-Pw-1")
        tool("oidc-token", "acct")
        agent.stop()
        agent = Agent(sandbox, mode="daemon", timeout=120, name="typical")
        cli.agent = agent
        env = cli.env(OIDC_ENCRYPTION_PW=PASSWORD)
        tool("oidc-add", "--pw-env", "acct")
        for _ in range(10):
            tool("oidc-token", "acct")
        time.sleep(6)  # the access token expires (4 s) and is renewed ahead or on demand
        tool("oidc-token", "acct")
        tool("oidc-token", "-f", "acct")
    finally:
        agent.stop()
        provider.stop()
        plain.stop()
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
