"""Interactive account creation: the authorization-code flow in a real
browser (headless Chromium through WebDriver, opened by oidc-gen itself),
the device flow (a scripted browser approves it), and their error paths.

Each page oidc-gen's listener shows is read as rendered and kept as a
screenshot in real_browser.ARTIFACTS (the run prints where)."""

from __future__ import annotations

import os
import socket
import termios
import time
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from browser import USER_CODE_RE, Browser, find_url_in, find_url_line
from harness import EXIT_PROVIDER_ERROR, EXIT_PROVIDER_UNREACHABLE, PASSWORD, assert_token_output, ours
from op import CLIENT_SECRETS, CONFIDENTIAL_CLIENT, PUBLIC_CLIENT
from ptyproc import PtyProc
from real_browser import launcher_env

NAME = "interactive"
CLIENTS = [PUBLIC_CLIENT, CONFIDENTIAL_CLIENT]
# The slow login: at least this many seconds between the URL being printed
# and the redirect reaching oidc-gen (a person reading, typing, approving).
SLOW_LOGIN = float(os.environ.get("E2E_SLOW_LOGIN", "22"))


def client_args(client_id: str) -> list[str]:
    secret = CLIENT_SECRETS[client_id]
    if secret is None:
        return ["--client-id", client_id, "--pub"]
    return ["--client-id", client_id, "--client-secret", secret]


def start_gen(cli, provider, client_id: str, flow: str, issuer: str | None = None, extra=()):
    args = [NAME, "--issuer", issuer or provider.issuer, *client_args(client_id), "--flow", flow,
            "--no-url-call", "--pw-env", *extra]
    if provider.ca_file:
        args += ["--cp", provider.ca_file]
    return cli.gen_background(*args)


def wait_auth_url(g, provider, timeout: float = 30) -> str:
    """The authorization URL oidc-gen prints on a line of its own."""
    prefix = provider.endpoint("authorization_endpoint")
    return g.wait_for_line(lambda l: find_url_line(l, prefix), timeout=timeout, what=f"line starting with {prefix}")


def wait_device_prompt(g, provider, timeout: float = 30) -> tuple[str, str | None]:
    """(verification_uri_complete, None) or (verification_uri, user_code) from oidc-gen's output."""
    complete_prefix = provider.issuer + "/device?"
    found: dict[str, str] = {}

    def pred(line: str):
        u = find_url_in(line, complete_prefix)
        if u and "user_code=" in u:
            return (u, None)
        m = USER_CODE_RE.search(line)
        if m:
            found["code"] = m.group(1)
        u = find_url_in(line, provider.issuer + "/device")
        if u:
            found["uri"] = u
        if "code" in found and "uri" in found:
            return (found["uri"], found["code"])
        return None

    return g.wait_for_line(pred, timeout=timeout, what="device verification URI / user code")


def assert_account_works(cli, provider, sandbox, client_id: str) -> None:
    assert sandbox.account_file(NAME).is_file(), "oidc-gen did not save the account"
    tok = assert_token_output(cli.token(NAME))
    info = provider.introspect(tok)
    assert info.get("active") is True, info
    assert info["client_id"] == client_id


def gen_output(g) -> str:
    return g.text()


def assert_gen_saved(g, cli, provider, sandbox, client_id: str, timeout: float = 60) -> None:
    """oidc-gen exits 0 and the account it saved gives tokens of `client_id`."""
    rc = g.wait(timeout=timeout)
    assert rc == 0, gen_output(g)
    assert_account_works(cli, provider, sandbox, client_id)


def assert_gen_failed(g, sandbox, message: str) -> None:
    """oidc-gen exits with the provider-error code, says `message`, and saves nothing."""
    rc = g.wait(timeout=30)
    out = gen_output(g)
    assert rc == EXIT_PROVIDER_ERROR, f"exit {rc}, not {EXIT_PROVIDER_ERROR}:\n{out}"
    assert message in out, f"no clear message:\n{out}"
    assert not sandbox.account_file(NAME).exists()


@contextmanager
def browser_gen(cli, provider, sandbox, client_id: str | None = PUBLIC_CLIENT, extra=()):
    """oidc-gen's code flow as a person starts it: no --no-url-call, a
    graphical session, and our launcher as the system's browser opener.
    Yields the process and the launcher's inbox file; stops the process on
    the way out."""
    env, inbox = launcher_env(sandbox.work)
    args = [NAME, "--issuer", provider.issuer, "--flow", "code", "--pw-env", *extra]
    if client_id is not None:
        args += client_args(client_id)
    g = cli.gen_background(*args, extra_env=env)
    try:
        yield g, inbox
    finally:
        g.stop()


def browser_opens(g, provider, chromium, inbox) -> str:
    """oidc-gen prints the URL and opens the browser on that same URL."""
    printed = wait_auth_url(g, provider)
    opened = chromium.open_from_launcher(inbox)
    assert opened == printed, f"oidc-gen opened {opened!r} but printed {printed!r}"
    return printed


def auth_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def assert_our_page(chromium, page, title: str, *phrases: str) -> dict[str, str]:
    """One of oidc-gen's pages: its title and message as rendered, nothing
    loaded besides the page, and a CSP that forbids scripts. Returns the
    document's response details (headers and the address it came from)."""
    assert page.title == f"oidc-gen: {title}", f"{page.title!r}: {page.text!r}"
    assert title in page.text, page.text
    for phrase in phrases:
        assert phrase in page.text, f"{phrase!r} not on the page:\n{page.text}"
    assert chromium.loaded_resources() == [], "the page loaded something besides itself"
    doc = chromium.document(page.url)
    csp = doc["headers"].get("content-security-policy", "")
    assert "default-src 'none'" in csp and "script-src" not in csp, f"scripts must stay forbidden: {csp!r}"
    assert page.screenshot is not None and page.screenshot.stat().st_size > 0
    return doc


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port_on_both_loopbacks() -> int:
    for _ in range(20):
        with socket.socket() as s4:
            s4.bind(("127.0.0.1", 0))
            port = s4.getsockname()[1]
            if not ipv6_loopback():
                return port
            try:
                with socket.socket(socket.AF_INET6) as s6:
                    s6.bind(("::1", port))
                    return port
            except OSError:
                continue
    raise AssertionError("no port free on both 127.0.0.1 and ::1")


# ---------------------------------------------------------------- code flow, in the browser


@pytest.mark.parametrize("client_id", CLIENTS)
def test_code_flow_in_browser(cli, provider, sandbox, chromium, client_id):
    with browser_gen(cli, provider, sandbox, client_id) as (g, inbox):
        url = browser_opens(g, provider, chromium, inbox)
        q = auth_params(url)
        assert q.get("client_id") == client_id
        redirect = urlsplit(q.get("redirect_uri", ""))
        assert redirect.scheme == "http" and redirect.hostname == "127.0.0.1", q
        if CLIENT_SECRETS[client_id] is None:
            assert q.get("code_challenge_method") == "S256", "a public client must use PKCE S256"
        chromium.login()
        page = chromium.loopback_page("success")
        assert_our_page(chromium, page, "Login successful", "You can close this tab and return to the terminal")
        assert_gen_saved(g, cli, provider, sandbox, client_id)


def test_code_exchange_finishes_a_login_the_browser_could_not_redirect(cli, provider, sandbox):
    """oidc-agent's docs: if the redirect goes wrong, pass the address to
    `oidc-gen --codeExchange`. Here the browser is elsewhere (over SSH
    without the tunnel): the person copies the address it could not load
    and runs the documented line in another terminal, which hands it to the
    oidc-gen waiting on its listener; that one saves the account."""
    g = cli.gen_background(NAME, "--issuer", provider.issuer, *client_args(CONFIDENTIAL_CLIENT), "--flow", "code",
                           "--no-url-call", "--pw-env")
    try:
        url = wait_auth_url(g, provider)
        landed = Browser(verify=provider.verify).authorize(url, follow=False).redirect_url
        res = cli.gen(f"--codeExchange={landed}")
        assert res.returncode == 0, res.describe()
        assert "Handed the address to the oidc-gen waiting on port" in res.stderr, res.describe()
        assert_gen_saved(g, cli, provider, sandbox, CONFIDENTIAL_CLIENT)
    finally:
        g.stop()


@pytest.mark.slow(35)
def test_code_flow_at_a_persons_pace(cli, provider, sandbox, chromium):
    """The redirect arrives SLOW_LOGIN seconds after the URL was printed:
    oidc-gen's connections to the provider have long gone idle by then."""
    with browser_gen(cli, provider, sandbox) as (g, inbox):
        browser_opens(g, provider, chromium, inbox)
        printed_at = time.monotonic()
        chromium.login(pause=SLOW_LOGIN / 2)  # on the login page, then on consent
        page = chromium.loopback_page("success-after-pause")
        waited = time.monotonic() - printed_at
        assert waited >= SLOW_LOGIN, f"the login took only {waited:.1f} s"
        print(f"login completed {waited:.1f} s after the URL was printed")
        assert_our_page(chromium, page, "Login successful")
        assert_gen_saved(g, cli, provider, sandbox, PUBLIC_CLIENT)


@pytest.mark.slow(25)
def test_code_flow_localhost_redirect_and_reload(cli, provider, sandbox, chromium):
    """A localhost redirect URI works however the browser resolves localhost
    (Chromium tries ::1 first), and reloading the page while oidc-gen is
    exchanging the code shows "Login already completed"."""
    port = free_port_on_both_loopbacks()
    redirect_uri = f"http://localhost:{port}/"
    with browser_gen(cli, provider, sandbox, extra=["--redirect-uri", redirect_uri]) as (g, inbox):
        provider.hold_code_exchanges()
        try:
            url = browser_opens(g, provider, chromium, inbox)
            assert auth_params(url).get("redirect_uri") == redirect_uri
            chromium.login()
            page = chromium.loopback_page("success-localhost")
            assert urlsplit(page.url).hostname == "localhost", page.url
            doc = assert_our_page(chromium, page, "Login successful")
            if ipv6_loopback():
                assert doc["remote"].strip("[]") == "::1", f"Chromium reached the listener at {doc['remote']}"

            # oidc-gen now waits for the provider's token response
            assert provider.wait_held_code_exchanges(1, timeout=30, what="oidc-gen's code exchange") == 1
            chromium.driver.refresh()
            again = chromium.loopback_page("already-completed")
            assert_our_page(chromium, again, "Login already completed", "this visit changed nothing")
            assert g.running(), gen_output(g)

            provider.release_code_exchanges()
            assert_gen_saved(g, cli, provider, sandbox, PUBLIC_CLIENT)
        finally:
            provider.release_code_exchanges()


def test_code_flow_with_dynamic_registration(cli, provider, sandbox, chromium):
    """No client id: oidc-gen registers a client (RFC 7591), then logs in."""
    with browser_gen(cli, provider, sandbox, client_id=None) as (g, inbox):
        url = browser_opens(g, provider, chromium, inbox)
        client_id = auth_params(url).get("client_id")
        assert client_id and client_id not in CLIENTS, f"expected a freshly registered client: {url}"
        chromium.login()
        assert_our_page(chromium, chromium.loopback_page("success-registered"), "Login successful")
        assert_gen_saved(g, cli, provider, sandbox, client_id)
    # `oidc-gen -d` deletes the client with the account (RFC 7592).
    assert provider.client_exists(client_id)
    res = cli.gen("-d", "-y", "--pw-env", NAME)
    assert res.returncode == 0, res.describe()
    assert not provider.client_exists(client_id), res.describe()


@pytest.mark.slow(20)
def test_a_login_denied_at_a_persons_pace_deletes_the_client_registered_for_it(cli, provider, sandbox,
                                                                                chromium):
    """The person reads the consent page, then denies: oidc-gen stops, saves
    nothing, and deletes the client it registered for the login (RFC 7592),
    which no account would ever use."""
    with browser_gen(cli, provider, sandbox, client_id=None) as (g, inbox):
        url = browser_opens(g, provider, chromium, inbox)
        client_id = auth_params(url)["client_id"]
        assert provider.client_exists(client_id)
        time.sleep(10)  # a person reading the page before deciding
        chromium.login(deny=True)
        assert_gen_failed(g, sandbox, "access_denied")
        assert "deleted the client" in gen_output(g), gen_output(g)
    assert not provider.client_exists(client_id)


# ---------------------------------------------------------------- code flow: error pages


def test_code_flow_denied_consent_fails_clearly(cli, provider, sandbox, chromium):
    with browser_gen(cli, provider, sandbox) as (g, inbox):
        browser_opens(g, provider, chromium, inbox)
        chromium.login(deny=True)
        page = chromium.loopback_page("access-denied")
        assert_our_page(chromium, page, "Access denied", "access_denied", "Nothing was saved")
        assert_gen_failed(g, sandbox, "access_denied")


def test_code_flow_wrong_state_does_not_end_flow(cli, provider, sandbox, chromium):
    with browser_gen(cli, provider, sandbox) as (g, inbox):
        url = browser_opens(g, provider, chromium, inbox)
        q = auth_params(url)
        # a redirect from another login attempt reaches the listener first
        chromium.get(q["redirect_uri"] + "?" + urlencode({"code": "forged", "state": "forged-" + q["state"]}))
        page = chromium.loopback_page("wrong-state")
        assert_our_page(chromium, page, "Login not matched", "state mismatch", "oidc-gen keeps waiting")

        # the user follows the advice: the printed link, then the login
        chromium.get(url)
        chromium.login()
        assert_our_page(chromium, chromium.loopback_page("success-after-wrong-state"), "Login successful")
        assert_gen_saved(g, cli, provider, sandbox, PUBLIC_CLIENT)


def test_code_flow_provider_error_page(cli, provider, sandbox, chromium):
    """The provider sends the browser back with an error (RFC 6749 §4.1.2.1)."""
    with browser_gen(cli, provider, sandbox) as (g, inbox):
        url = browser_opens(g, provider, chromium, inbox)
        q = auth_params(url)
        error = {"error": "temporarily_unavailable", "error_description": "Down for <maintenance>",
                 "state": q["state"]}
        chromium.get(q["redirect_uri"] + "?" + urlencode(error))
        page = chromium.loopback_page("provider-error")
        assert_our_page(chromium, page, "Login failed: provider error", "temporarily_unavailable",
                        "Down for <maintenance>")
        assert_gen_failed(g, sandbox, "temporarily_unavailable")


# ---------------------------------------------------------------- device flow


@pytest.mark.parametrize("client_id", CLIENTS)
def test_device_flow(cli, provider, sandbox, client_id):
    g = start_gen(cli, provider, client_id, "device")
    try:
        uri, user_code = wait_device_prompt(g, provider)
        title = Browser(verify=provider.verify).approve_device(uri, user_code)
        assert "success" in title.lower()
        # the provider's polling interval is 5 s
        assert_gen_saved(g, cli, provider, sandbox, client_id, timeout=90)
    finally:
        g.stop()



def test_device_flow_ctrl_c_on_a_terminal(cli, provider, sandbox):
    """A person gives up while oidc-gen polls: Ctrl-C on its terminal ends it
    with exit code 130 and one line, and nothing is saved."""
    argv = [str(ours("oidc-gen")), NAME, "--issuer", provider.issuer, *client_args(PUBLIC_CLIENT),
            "--flow", "device", "--no-url-call", "--pw-env"]
    if provider.ca_file:
        argv += ["--cp", provider.ca_file]
    p = PtyProc(argv, cli.env(OIDC_ENCRYPTION_PW=PASSWORD), sandbox.logs / "gen-ctrl-c.log")
    try:
        # For a typed ^C the kernel sends SIGINT, then discards the terminal's
        # unread output (unless NOFLSH): a line oidc-gen writes at once could
        # go with it before we read it.
        attrs = termios.tcgetattr(p.master)
        attrs[3] |= termios.NOFLSH
        termios.tcsetattr(p.master, termios.TCSANOW, attrs)
        p.expect(r"Waiting for the approval")  # the progress line: polling
        p.send("\x03")  # the terminal turns it into SIGINT for oidc-gen
        rc = p.wait(timeout=30)
    finally:
        p.close()
    out = p.text()
    assert rc == 130, f"exit {rc}:\n{out}"
    assert "interrupted while waiting for the device login; nothing was saved" in out, out
    assert not sandbox.account_file(NAME).exists()


def test_ctrl_c_at_the_password_prompt_after_a_device_login(cli, provider, sandbox):
    """A person approves the device login, then presses Ctrl-C at the prompt
    for the new account's password: oidc-gen ends with 130, nothing is
    saved, and the terminal has its echo back (the prompt had turned it off;
    here oidc-gen's own Ctrl-C handler, installed for the wait, ends it)."""
    argv = [str(ours("oidc-gen")), NAME, "--issuer", provider.issuer, *client_args(PUBLIC_CLIENT),
            "--flow", "device", "--no-url-call"]
    if provider.ca_file:
        argv += ["--cp", provider.ca_file]
    p = PtyProc(argv, cli.env(), sandbox.logs / "gen-ctrl-c-prompt.log")
    try:
        attrs = termios.tcgetattr(p.master)
        attrs[3] |= termios.NOFLSH
        termios.tcsetattr(p.master, termios.TCSANOW, attrs)
        p.expect(r"Waiting for the approval")
        lines = p.text().splitlines()
        code = next(m.group(1) for m in map(USER_CODE_RE.search, lines) if m)
        uri = next(u for u in (find_url_in(line, provider.issuer + "/device") for line in lines) if u)
        assert "success" in Browser(verify=provider.verify).approve_device(uri, code).lower()
        p.expect(r"password to encrypt account", timeout=60)  # after the next poll
        assert not termios.tcgetattr(p.master)[3] & termios.ECHO, "echo is on at the prompt"
        p.send("\x03")
        rc = p.wait(timeout=30)
        assert termios.tcgetattr(p.master)[3] & termios.ECHO, "Ctrl-C left the terminal without echo"
    finally:
        p.close()
    assert rc == 130, f"exit {rc}:\n{p.text()}"
    assert not sandbox.account_file(NAME).exists()
    # The login nothing holds is revoked at the provider, not left behind.
    assert "the new login was revoked at the provider" in p.text(), p.text()


# ---------------------------------------------------------------- other errors


@pytest.mark.parametrize("how", ["code-flow", "rt-import"])
def test_gen_issuer_mismatch_fails(cli, provider, sandbox, how):
    # the provider says its issuer is http://127.0.0.1:PORT; we claim localhost
    wrong = provider.issuer.replace("127.0.0.1", "localhost")
    assert wrong != provider.issuer
    args = [NAME, "--issuer", wrong, *client_args(PUBLIC_CLIENT), "--pw-env"]
    if how == "code-flow":
        args += ["--flow", "code", "--no-url-call"]
        extra = {}
    else:
        from browser import get_refresh_token

        args += ["--rt-env"]
        extra = {"OIDC_REFRESH_TOKEN": get_refresh_token(provider.issuer, PUBLIC_CLIENT)}
    res = cli.gen(*args, extra_env=extra, timeout=30)
    assert res.returncode != 0, f"an issuer mismatch was accepted:\n{res.describe()}"
    assert "issuer" in res.stderr.lower(), res.describe()
    assert provider.endpoint("authorization_endpoint") not in res.stdout + res.stderr
    assert not sandbox.account_file(NAME).exists()


@pytest.mark.parametrize("how", ["code-flow", "device-flow", "rt-import"])
def test_gen_provider_down_fails_with_exit_6(cli, make_provider, sandbox, how):
    provider = make_provider()
    issuer = provider.issuer
    provider.stop()
    args = [NAME, "--issuer", issuer, *client_args(PUBLIC_CLIENT), "--pw-env"]
    extra = {}
    if how == "rt-import":
        args += ["--rt-env"]
        extra = {"OIDC_REFRESH_TOKEN": "some-refresh-token"}
    else:
        args += ["--flow", how.split("-")[0], "--no-url-call"]
    res = cli.gen(*args, extra_env=extra, timeout=40)
    assert res.returncode == EXIT_PROVIDER_UNREACHABLE, res.describe()
    assert res.elapsed < 20, f"took {res.elapsed:.1f}s to give up"
    assert not sandbox.account_file(NAME).exists()
