"""Interactive account creation: authorization-code flow with the loopback
listener, device flow, and their error paths. A scripted browser plays the user."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from browser import USER_CODE_RE, Browser, find_url_in, find_url_line
from harness import EXIT_PROVIDER_UNREACHABLE, assert_token_output
from op import CLIENT_SECRETS, CONFIDENTIAL_CLIENT, PUBLIC_CLIENT

NAME = "interactive"
CLIENTS = [PUBLIC_CLIENT, CONFIDENTIAL_CLIENT]


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


# ---------------------------------------------------------------- happy paths


@pytest.mark.parametrize("client_id", CLIENTS)
def test_code_flow_loopback_listener(cli, provider, sandbox, client_id):
    g = start_gen(cli, provider, client_id, "code")
    try:
        url = wait_auth_url(g, provider)
        q = dict(parse_qsl(urlsplit(url).query))
        assert q.get("client_id") == client_id
        redirect = urlsplit(q.get("redirect_uri", ""))
        assert redirect.scheme == "http" and redirect.hostname in ("127.0.0.1", "localhost", "::1"), q
        if CLIENT_SECRETS[client_id] is None:
            assert q.get("code_challenge_method") == "S256", "a public client must use PKCE S256"

        landing = Browser(verify=provider.verify).authorize(url, follow=True)
        assert landing.status is not None and landing.status < 400, (
            f"the loopback listener answered {landing.status}: {landing.body!r}"
        )
        rc = g.wait(timeout=60)
        assert rc == 0, gen_output(g)
    finally:
        g.stop()
    assert_account_works(cli, provider, sandbox, client_id)


@pytest.mark.parametrize("client_id", CLIENTS)
def test_device_flow(cli, provider, sandbox, client_id):
    g = start_gen(cli, provider, client_id, "device")
    try:
        uri, user_code = wait_device_prompt(g, provider)
        title = Browser(verify=provider.verify).approve_device(uri, user_code)
        assert "success" in title.lower()
        rc = g.wait(timeout=90)  # the provider's polling interval is 5 s
        assert rc == 0, gen_output(g)
    finally:
        g.stop()
    assert_account_works(cli, provider, sandbox, client_id)


def test_code_flow_with_dynamic_registration(cli, provider, sandbox):
    """No client id: oidc-gen registers a client (RFC 7591), then logs in."""
    args = [NAME, "--issuer", provider.issuer, "--flow", "code", "--no-url-call", "--pw-env"]
    if provider.ca_file:
        args += ["--cp", provider.ca_file]
    g = cli.gen_background(*args)
    try:
        url = wait_auth_url(g, provider)
        client_id = dict(parse_qsl(urlsplit(url).query)).get("client_id")
        assert client_id and client_id not in CLIENTS, f"expected a freshly registered client: {url}"
        landing = Browser(verify=provider.verify).authorize(url, follow=True)
        assert landing.status is not None and landing.status < 400, (
            f"the loopback listener answered {landing.status}: {landing.body!r}"
        )
        rc = g.wait(timeout=60)
        assert rc == 0, gen_output(g)
    finally:
        g.stop()
    assert_account_works(cli, provider, sandbox, client_id)


# ---------------------------------------------------------------- error paths


def test_code_flow_denied_consent_fails_clearly(cli, provider, sandbox):
    g = start_gen(cli, provider, PUBLIC_CLIENT, "code")
    try:
        url = wait_auth_url(g, provider)
        landing = Browser(verify=provider.verify).authorize(url, follow=True, deny=True)
        assert landing.params.get("error") == "access_denied", landing.redirect_url
        rc = g.wait(timeout=30)
    finally:
        g.stop()
    out = gen_output(g)
    assert rc != 0, f"oidc-gen succeeded although the user denied consent:\n{out}"
    assert "access_denied" in out or "denied" in out.lower(), f"no clear message:\n{out}"
    assert not sandbox.account_file(NAME).exists()


def test_code_flow_wrong_state_does_not_end_flow(cli, provider, sandbox):
    g = start_gen(cli, provider, PUBLIC_CLIENT, "code")
    try:
        url = wait_auth_url(g, provider)
        landing = Browser(verify=provider.verify).authorize(url, follow=False)
        parts = urlsplit(landing.redirect_url)
        q = [(k, ("forged-" + v) if k == "state" else v) for k, v in parse_qsl(parts.query)]
        forged = urlunsplit(parts._replace(query=urlencode(q)))

        r = requests.get(forged, timeout=10)
        assert r.status_code >= 400, f"the listener accepted a wrong state: {r.status_code} {r.text!r}"
        time.sleep(1.0)
        assert g.running(), f"a wrong state ended the flow:\n{gen_output(g)}"

        r = requests.get(landing.redirect_url, timeout=30)
        assert r.status_code < 400, f"{r.status_code} {r.text!r}"
        rc = g.wait(timeout=60)
        assert rc == 0, gen_output(g)
    finally:
        g.stop()
    assert_account_works(cli, provider, sandbox, PUBLIC_CLIENT)


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
