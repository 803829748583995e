"""A scripted browser for oidc-provider's devInteractions and device pages.

It is a requests.Session with cookies that parses each HTML page's forms and
submits them the way a person pressing the obvious button would, until the
provider redirects to a loopback URI outside the provider itself.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
MAX_STEPS = 40
HTTP_TIMEOUT = 15


class BrowserError(AssertionError):
    pass


# ---------------------------------------------------------------- HTML forms


@dataclass
class Form:
    id: str | None
    action: str
    method: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, value)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of named submit buttons


class _PageParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.links: list[str] = []
        self.title = ""
        self._in_title = False
        self._current: Form | None = None
        self._orphan_buttons: list[tuple[str | None, str, str]] = []  # (form id, name, value)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("id"), a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._current)
        elif tag == "input":
            name = a.get("name")
            if not name:
                return
            typ = a.get("type", "text").lower()
            form = self._form_for(a)
            if form is not None:
                if typ == "submit":
                    form.buttons.append((name, a.get("value", "")))
                else:
                    form.fields.append((name, typ, a.get("value", "")))
        elif tag == "button":
            name = a.get("name")
            if name and a.get("type", "submit") == "submit":
                if a.get("form"):
                    self._orphan_buttons.append((a["form"], name, a.get("value", "")))
                elif self._current is not None:
                    self._current.buttons.append((name, a.get("value", "")))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "title":
            self._in_title = True

    def _form_for(self, a):
        if a.get("form"):
            for f in self.forms:
                if f.id == a["form"]:
                    return f
        return self._current

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def close(self):
        super().close()
        for form_id, name, value in self._orphan_buttons:
            for f in self.forms:
                if f.id == form_id:
                    f.buttons.append((name, value))


def parse_page(html: str) -> _PageParser:
    p = _PageParser()
    p.feed(html)
    p.close()
    return p


# ---------------------------------------------------------------- browser


@dataclass
class Landing:
    """Where the provider sent the browser in the end."""

    redirect_url: str  # the loopback URL the provider redirected to
    status: int | None = None  # HTTP status of the loopback listener (if followed)
    body: str | None = None  # body served by the loopback listener (if followed)

    @property
    def params(self) -> dict[str, str]:
        q = parse_qs(urlsplit(self.redirect_url).query)
        return {k: v[0] for k, v in q.items()}


class Browser:
    def __init__(self, verify=True, username: str = "alice", password: str = "any-password"):
        self.s = requests.Session()
        # per request: a session-level verify loses against REQUESTS_CA_BUNDLE
        self.verify = verify
        self.s.headers["User-Agent"] = "oidc-agent-rs-e2e-browser/1"
        self.username = username
        self.password = password
        self.trace: list[str] = []

    # -------------------------------------------------------- internals
    def _get(self, url: str) -> requests.Response:
        self.trace.append(f"GET {_strip_query(url)}")
        return self.s.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT, verify=self.verify)

    def _post(self, url: str, data) -> requests.Response:
        self.trace.append(f"POST {_strip_query(url)} fields={[k for k, _ in data]}")
        return self.s.post(url, data=data, allow_redirects=False, timeout=HTTP_TIMEOUT, verify=self.verify)

    def _fill(self, form: Form, extra_button: tuple[str, str] | None = None, user_code: str | None = None):
        data: list[tuple[str, str]] = []
        for name, typ, value in form.fields:
            if typ in ("checkbox", "radio") and not value:
                continue
            if name == "login" or (typ in ("text", "email") and name in ("username", "user", "email")):
                value = value or self.username
            elif typ == "password":
                value = self.password
            elif name == "user_code" and user_code is not None and not value:
                value = user_code
            data.append((name, value))
        if extra_button:
            data.append(extra_button)
        return data

    def _walk(self, resp: requests.Response, origin: str, deny: bool, user_code: str | None = None):
        """Drive the provider's pages. Returns ('redirect', url) for an external
        (loopback) redirect, or ('page', response) for a final page without forms."""
        for _ in range(MAX_STEPS):
            if resp.is_redirect or resp.status_code in (301, 302, 303, 307, 308):
                loc = urljoin(resp.url, resp.headers["Location"])
                if _origin(loc) != origin:
                    if urlsplit(loc).hostname not in LOOPBACK_HOSTS:
                        raise BrowserError(f"provider redirected to a non-loopback URL: {loc}")
                    self.trace.append(f"-> external redirect {_strip_query(loc)}")
                    return "redirect", loc
                resp = self._get(loc)
                continue
            if resp.status_code != 200:
                raise BrowserError(
                    f"unexpected HTTP {resp.status_code} at {_strip_query(resp.url)}:\n{resp.text[:2000]}\n"
                    f"trace: {self.trace}"
                )
            page = parse_page(resp.text)
            post_forms = [f for f in page.forms if f.method == "post"]
            if not post_forms:
                return "page", resp
            form = post_forms[0]
            field_names = {n for n, _, _ in form.fields}
            extra = None
            if deny:
                # consent page: devInteractions offers a "[ Cancel ]" link to .../abort
                if field_names & {"prompt"} and any(v == "consent" for n, _, v in form.fields if n == "prompt"):
                    abort = [l for l in page.links if l.rstrip("/").endswith("/abort")]
                    if not abort:
                        raise BrowserError("consent page has no abort link")
                    resp = self._get(urljoin(resp.url, abort[0]))
                    continue
                # device confirmation page: the [ Abort ] button
                abort_btn = [b for b in form.buttons if b[0] == "abort"]
                if abort_btn:
                    extra = abort_btn[0]
            resp = self._post(urljoin(resp.url, form.action or resp.url), self._fill(form, extra, user_code))
            if extra is not None:
                # pressed [ Abort ]: whatever comes next is the final page
                while resp.is_redirect and _origin(urljoin(resp.url, resp.headers["Location"])) == origin:
                    resp = self._get(urljoin(resp.url, resp.headers["Location"]))
                return "page", resp
        raise BrowserError(f"too many steps; trace: {self.trace}")

    # -------------------------------------------------------- public API
    def authorize(self, auth_url: str, follow: bool = True, deny: bool = False) -> Landing:
        """Follow an authorization URL through login and consent.

        Returns the loopback redirect. With follow=True the redirect is fetched
        (it lands on the CLI's own listener) and its status and body returned.
        With deny=True the consent page's Cancel is pressed (error=access_denied).
        """
        origin = _origin(auth_url)
        kind, what = self._walk(self._get(auth_url), origin, deny)
        if kind != "redirect":
            raise BrowserError(
                f"authorization ended on a page instead of a redirect: {what.url}\n{what.text[:2000]}\n"
                f"trace: {self.trace}"
            )
        landing = Landing(what)
        if follow:
            r = self.s.get(what, allow_redirects=True, timeout=HTTP_TIMEOUT)  # plain-http loopback
            landing.status = r.status_code
            landing.body = r.text
        return landing

    def approve_device(self, verification_uri: str, user_code: str | None = None, deny: bool = False) -> str:
        """Approve (or deny) a device authorization.

        Pass `verification_uri_complete`, or the `verification_uri` plus the
        `user_code`. Returns the title of the final page (oidc-provider shows
        "Sign-in Success" on success).
        """
        url = verification_uri
        origin = _origin(url)
        kind, what = self._walk(self._get(url), origin, deny, user_code=user_code)
        if kind == "redirect":
            raise BrowserError(f"device flow redirected out of the provider: {what}")
        title = parse_page(what.text).title.strip()
        if not deny and "success" not in title.lower():
            raise BrowserError(f"device approval did not end in success: {title!r}\n{what.text[:2000]}")
        return title


def _origin(url: str) -> str:
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    return f"{u.scheme}://{u.hostname}:{port}"


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


# ---------------------------------------------------------------- PKCE helper


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(72)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def code_flow_tokens(
    issuer: str,
    client_id: str,
    client_secret: str | None = None,
    scope: str = "openid offline_access profile email",
    verify=True,
    username: str = "alice",
    redirect_host: str = "127.0.0.1",
    prompt: str | None = "consent",
) -> dict:
    """Run a whole PKCE authorization-code flow and return the token response.

    The redirect URI is http://<redirect_host>:<random port>/ and is never
    contacted: the code is taken from the provider's Location header.
    """
    meta = requests.get(issuer.rstrip("/") + "/.well-known/openid-configuration", verify=verify, timeout=HTTP_TIMEOUT)
    meta.raise_for_status()
    meta = meta.json()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    redirect_uri = f"http://{redirect_host}:{random.randint(20000, 60000)}/"
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": scope,
        "redirect_uri": redirect_uri,
        "state": state,
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if prompt:
        params["prompt"] = prompt
    b = Browser(verify=verify, username=username)
    landing = b.authorize(meta["authorization_endpoint"] + "?" + urlencode(params), follow=False)
    p = landing.params
    if "error" in p:
        raise BrowserError(f"authorization failed: {p}")
    if p.get("state") != state:
        raise BrowserError(f"state mismatch in redirect: {p}")
    data = {
        "grant_type": "authorization_code",
        "code": p["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    auth = None
    if client_secret is None:
        data["client_id"] = client_id
    else:
        auth = (client_id, client_secret)
    r = requests.post(meta["token_endpoint"], data=data, auth=auth, verify=verify, timeout=HTTP_TIMEOUT)
    if r.status_code != 200:
        raise BrowserError(f"code exchange failed: HTTP {r.status_code} {r.text}")
    return r.json()


def get_refresh_token(issuer: str, client_id: str, client_secret: str | None = None, **flow) -> str:
    """A fresh refresh token for `client_id`, from a full PKCE code flow
    (`flow`: code_flow_tokens' options, such as scope, verify, username)."""
    tok = code_flow_tokens(issuer, client_id, client_secret, **flow)
    if "refresh_token" not in tok:
        raise BrowserError(f"no refresh token in token response (keys: {sorted(tok)})")
    return tok["refresh_token"]


# ---------------------------------------------------------------- output parsing

_URL_RE = re.compile(r"https?://\S+")
USER_CODE_RE = re.compile(r"\b([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})\b")


def find_url_line(line: str, prefix: str) -> str | None:
    """If `line` (stripped) is a URL starting with `prefix`, return it."""
    s = line.strip()
    if s.startswith(prefix) and " " not in s:
        return s
    return None


def find_url_in(line: str, prefix: str) -> str | None:
    for m in _URL_RE.finditer(line):
        u = m.group(0).rstrip(".,;)\"'>")
        if u.startswith(prefix):
            return u
    return None
