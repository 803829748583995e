"""The test OpenID provider (provider/provider.mjs) as a Python object."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import requests

from procs import Timeout, kill_group

HERE = Path(__file__).resolve().parent
PROVIDER_DIR = HERE / "provider"
PROVIDER_JS = PROVIDER_DIR / "provider.mjs"

# The provider's clients (see provider.mjs).
PUBLIC_CLIENT = "OpenCloudDesktop"
CONFIDENTIAL_CLIENT = "ownCloudDesktop"
CONFIDENTIAL_SECRET = "secret-owncloud"
ADMIN_CLIENT = "e2e-resource-server"
ADMIN_SECRET = "secret-e2e-resource-server"

POST_CLIENT = "ownCloudPost"  # accepts only client_secret_post
POST_SECRET = "secret-owncloud-post"

CLIENT_SECRETS = {PUBLIC_CLIENT: None, CONFIDENTIAL_CLIENT: CONFIDENTIAL_SECRET, POST_CLIENT: POST_SECRET}


def private_ca(directory: Path) -> dict[str, str]:
    """A throw-away CA and a server certificate for 127.0.0.1, localhost and
    ::1, written to `directory`: {"ca", "cert", "key"} paths, for
    Provider.start(https=(cert, key), ca_file=ca)."""
    import trustme

    ca = trustme.CA(organization_name="oidc-agent-rs e2e throw-away CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
    files = {"ca": directory / "ca.pem", "cert": directory / "server-chain.pem", "key": directory / "server-key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    leaf.private_key_pem.write_to_path(str(files["key"]))
    with open(files["cert"], "wb") as f:
        for blob in leaf.cert_chain_pems:
            f.write(blob.bytes())
    return {k: str(v) for k, v in files.items()}


class Provider:
    """A running provider.mjs. Start with Provider.start(...); stop() kills it."""

    def __init__(self, proc: subprocess.Popen, issuer: str, log_path: Path, ca_file: str | None, options: dict):
        self.proc = proc
        self.issuer = issuer
        self.log_path = log_path
        self.ca_file = ca_file
        self.options = options
        self._meta: dict | None = None

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def start(
        cls,
        log_path: Path,
        *,
        https: tuple[str, str] | None = None,
        ca_file: str | None = None,
        rotate: bool = False,
        at_ttl: int = 60,
        refresh_delay_ms: int = 0,
        port: int = 0,
        post_only: bool = False,
        timeout: float = 20,
    ) -> "Provider":
        node = shutil.which("node")
        if not node:
            raise RuntimeError("node is not installed")
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"run setup.sh first: {PROVIDER_DIR}/node_modules is missing")
        argv = [
            node, str(PROVIDER_JS),
            "--port", str(port),
            "--rotate", "on" if rotate else "off",
            "--at-ttl", str(at_ttl),
            "--refresh-delay-ms", str(refresh_delay_ms),
        ]
        if https:
            argv += ["--https", str(https[0]), str(https[1])]
        if post_only:
            argv += ["--post-only"]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = open(log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "E2E_OP_"))}
        env["NODE_NO_WARNINGS"] = "1"
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=logf,
            cwd=str(PROVIDER_DIR),
            env=env,
            start_new_session=True,
        )
        logf.close()
        issuer = None
        deadline = time.monotonic() + timeout
        try:
            import selectors

            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            buf = b""
            while issuer is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"provider did not print READY within {timeout}s; log:\n{_tail(log_path)}")
                if not sel.select(timeout=min(left, 0.5)):
                    if proc.poll() is not None:
                        raise RuntimeError(f"provider exited with {proc.returncode}; log:\n{_tail(log_path)}")
                    continue
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"provider closed stdout (exit {proc.poll()}); log:\n{_tail(log_path)}")
                buf += chunk
                for line in buf.split(b"\n")[:-1]:
                    if line.startswith(b"READY "):
                        issuer = line.split(b" ", 1)[1].strip().decode()
            sel.close()
        except BaseException:
            kill_group(proc)
            raise
        options = dict(https=bool(https), rotate=rotate, at_ttl=at_ttl, refresh_delay_ms=refresh_delay_ms,
                       post_only=post_only)
        return cls(proc, issuer, log_path, ca_file, options)

    def stop(self) -> None:
        if self.proc.poll() is None:
            kill_group(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------ http
    @property
    def verify(self):
        return self.ca_file if self.ca_file else True

    @property
    def port(self) -> int:
        return int(self.issuer.rsplit(":", 1)[1].split("/")[0])

    def metadata(self) -> dict:
        if self._meta is None:
            r = requests.get(self.issuer + "/.well-known/openid-configuration", verify=self.verify, timeout=10)
            r.raise_for_status()
            self._meta = r.json()
        return self._meta

    def endpoint(self, name: str) -> str:
        return self.metadata()[name]

    def _admin_auth(self, data: dict) -> dict:
        """The resource server's credentials: HTTP Basic, or in the body on a --post-only provider."""
        if self.options.get("post_only"):
            return {"data": dict(data, client_id=ADMIN_CLIENT, client_secret=ADMIN_SECRET)}
        return {"data": data, "auth": (ADMIN_CLIENT, ADMIN_SECRET)}

    def introspect(self, token: str) -> dict:
        r = requests.post(
            self.endpoint("introspection_endpoint"),
            **self._admin_auth({"token": token}),
            verify=self.verify,
            timeout=10,
        )
        r.raise_for_status()
        return r.json()

    def is_active(self, token: str) -> bool:
        return bool(self.introspect(token).get("active"))

    def revoke(self, token: str, token_type_hint: str = "refresh_token") -> None:
        """Revoke a token (RFC 7009). Revoking a refresh token revokes its whole grant."""
        r = requests.post(
            self.endpoint("revocation_endpoint"),
            **self._admin_auth({"token": token, "token_type_hint": token_type_hint}),
            verify=self.verify,
            timeout=10,
        )
        r.raise_for_status()

    def end_access_token(self, token: str) -> None:
        """End one access token (introspection: inactive); its grant lives on."""
        r = requests.post(self.issuer + "/test/end-access-token", data={"token": token}, verify=self.verify, timeout=10)
        r.raise_for_status()
        assert r.json()["ended"], "the provider does not know that access token"

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(
            self.endpoint("userinfo_endpoint"),
            headers={"Authorization": f"Bearer {access_token}"},
            verify=self.verify,
            timeout=10,
        )

    def client_exists(self, client_id: str) -> bool:
        """Whether `client_id` is registered (RFC 7592 deletion removes it)."""
        r = requests.get(self.issuer + "/test/client", params={"client_id": client_id},
                         verify=self.verify, timeout=10)
        r.raise_for_status()
        return bool(r.json()["exists"])

    def stats(self) -> dict:
        r = requests.get(self.issuer + "/test/stats", verify=self.verify, timeout=10)
        r.raise_for_status()
        return r.json()

    def reset_stats(self) -> None:
        r = requests.post(self.issuer + "/test/reset-stats", verify=self.verify, timeout=10)
        r.raise_for_status()

    def hold_code_exchanges(self) -> None:
        """Authorization-code grants wait until release_code_exchanges()."""
        requests.post(self.issuer + "/test/hold-code-exchange", verify=self.verify, timeout=10).raise_for_status()

    def wait_held_code_exchanges(self, n: int, timeout: float, what: str = "code exchanges") -> int:
        """Waits until `n` authorization-code grants are held (the provider
        answers when the n-th arrives); returns the count then."""
        r = requests.get(self.issuer + "/test/held-code-exchanges",
                         params={"at_least": n, "timeout_ms": int(timeout * 1000)},
                         verify=self.verify, timeout=timeout + 10)
        r.raise_for_status()
        waiting = int(r.json()["waiting"])
        if waiting < n:
            raise Timeout(f"{what}: {waiting} held at the provider after {timeout}s, expected {n}")
        return waiting

    def release_code_exchanges(self) -> None:
        requests.post(self.issuer + "/test/release-code-exchange", verify=self.verify, timeout=10).raise_for_status()

    def refresh_grants(self) -> int:
        return int(self.stats().get("refresh_token", 0))


def stats_delta(before: dict, after: dict, key: str) -> int:
    return int(after.get(key, 0)) - int(before.get(key, 0))


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"
