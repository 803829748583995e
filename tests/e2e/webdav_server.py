"""A small WebDAV server (wsgidav on cheroot) that accepts only active bearer tokens.

Every request must carry `Authorization: Bearer <token>`; the token is checked
with the provider's introspection endpoint (no caching) and the request is
answered 401 unless the provider says the token is active.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp


@dataclass
class DavRequest:
    method: str
    path: str
    status: int
    token_seen: bool
    token_active: bool


@dataclass
class BearerGate:
    """WSGI middleware: pass a request on only if its bearer token is active."""

    app: Callable
    is_active: Callable[[str], bool]
    log: list[DavRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "?")
        path = environ.get("PATH_INFO", "")
        header = environ.get("HTTP_AUTHORIZATION", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        active = False
        if token:
            try:
                active = self.is_active(token)
            except Exception:  # introspection failed: deny
                active = False
        if not active:
            body = b"invalid or missing bearer token\n"
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "text/plain"),
                    ("Content-Length", str(len(body))),
                    ("WWW-Authenticate", 'Bearer realm="e2e", error="invalid_token"'),
                ],
            )
            self._record(DavRequest(method, path, 401, bool(token), False))
            # drain the request body so the connection stays usable
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                if length:
                    environ["wsgi.input"].read(length)
            except Exception:
                pass
            yield body
            return
        environ.pop("HTTP_AUTHORIZATION", None)
        status_holder = {}

        def sr(status, headers, exc_info=None):
            status_holder["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        result = self.app(environ, sr)
        try:
            yield from result
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
            self._record(DavRequest(method, path, status_holder.get("status", 0), True, True))

    def _record(self, r: DavRequest) -> None:
        with self.lock:
            self.log.append(r)


class WebDavServer:
    def __init__(self, root: Path, is_active: Callable[[str], bool]):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        config = {
            "host": "127.0.0.1",
            "port": 0,
            "provider_mapping": {"/": str(self.root)},
            "simple_dc": {"user_mapping": {"*": True}},  # anonymous behind the gate
            "http_authenticator": {
                "domain_controller": None,
                "accept_basic": False,
                "accept_digest": False,
                "default_to_digest": False,
            },
            "verbose": 1,
            "logging": {"enable": False},
            "lock_storage": True,
            "dir_browser": {"enable": False},
        }
        logging.getLogger("wsgidav").setLevel(logging.ERROR)
        self.gate = BearerGate(WsgiDAVApp(config), is_active)
        self.server = wsgi.Server(("127.0.0.1", 0), self.gate, numthreads=4, timeout=10)
        self.server.prepare()
        self.port = self.server.bind_addr[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.thread = threading.Thread(target=self.server.serve, daemon=True, name="webdav")
        self.thread.start()

    @property
    def requests(self) -> list[DavRequest]:
        with self.gate.lock:
            return list(self.gate.log)

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

