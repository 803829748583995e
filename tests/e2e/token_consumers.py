"""Servers that consume tokens the way real ones do, each checking the token
with the provider's introspection (no caching):

- KubeApi: an HTTPS endpoint (the suite's throw-away CA) answering a
  Kubernetes API server's `GET /version` to a request with an active bearer
  token, 401 otherwise;
- GitHttp: `git http-backend` (smart HTTP) behind HTTP Basic auth whose
  password must be an active access token, 401 with a Basic challenge
  otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterable

GIT_HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


@dataclass
class Seen:
    method: str
    path: str
    status: int
    token: str


class _Server:
    def __init__(self, handler_cls, is_active: Callable[[str], bool], tls: dict | None = None):
        self.is_active = is_active
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(handler_cls):
            owner = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls["cert"], tls["key"])
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.port = self.httpd.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name=handler_cls.__name__)
        self.thread.start()

    def record(self, s: Seen) -> None:
        with self.lock:
            self.seen.append(s)

    def requests(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)

    def active(self, token: str) -> bool:
        if not token:
            return False
        try:
            return self.is_active(token)
        except Exception:  # introspection failed: deny
            return False

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    """Quiet, and every answer carries its length."""

    def log_message(self, *a):
        pass

    def reply(self, status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _KubeHandler(_Handler):
    owner: "KubeApi"

    def do_GET(self):
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        ok = self.owner.active(token)
        self.owner.record(Seen("GET", self.path, 200 if ok else 401, token))
        if not ok:
            status = 401
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "reason": "Unauthorized", "code": 401}).encode()
        elif self.path.rstrip("/") == "/version":
            status = 200
            body = json.dumps({
                "major": "1", "minor": "31", "gitVersion": "v1.31.0-e2e", "gitCommit": "e2e",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23",
                "compiler": "gc", "platform": "linux/amd64",
            }).encode()
        else:
            status, body = 404, b"{}"
        self.reply(status, body, [("Content-Type", "application/json")])


class KubeApi(_Server):
    def __init__(self, is_active: Callable[[str], bool], tls: dict):
        super().__init__(_KubeHandler, is_active, tls)


class _GitHandler(_Handler):
    owner: "GitHttp"
    protocol_version = "HTTP/1.0"

    def _password(self) -> str:
        header = self.headers.get("Authorization", "")
        if self.owner.bearer:
            return header[7:].strip() if header[:7].lower() == "bearer " else ""
        if header[:6].lower() != "basic ":
            return ""
        try:
            user_pass = base64.b64decode(header[6:].strip()).decode()
        except Exception:
            return ""
        return user_pass.split(":", 1)[1] if ":" in user_pass else ""

    def _serve(self, method: str):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        token = self._password()
        path, _, query = self.path.partition("?")
        if not self.owner.active(token):
            self.owner.record(Seen(method, path, 401, token))
            scheme = "Bearer" if self.owner.bearer else "Basic"
            self.reply(401, b"invalid or missing token\n", [("WWW-Authenticate", f'{scheme} realm="e2e git"')])
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "e2e",
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HOME": str(self.owner.root),
        }
        out = subprocess.run([GIT_HTTP_BACKEND], input=body, env=env, capture_output=True, timeout=60).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.owner.record(Seen(method, path, status, token))
        self.reply(status, payload, headers)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")


class GitHttp(_Server):
    """git http-backend behind a check of the token: as a Basic password,
    or (`bearer`) only as `Authorization: Bearer`."""

    def __init__(self, root: Path, is_active: Callable[[str], bool], bearer: bool = False, tls: dict | None = None):
        self.root = Path(root)
        self.bearer = bearer
        super().__init__(_GitHandler, is_active, tls)
