"""Self-tests of the test bed: the provider, the scripted browser, the WebDAV
gate. They need none of our binaries, so a red here means the harness (not
oidc-agent-rs) is broken."""

from __future__ import annotations

import random
import time
from urllib.parse import urlencode

import pytest
import requests

from browser import Browser, code_flow_tokens, get_refresh_token, pkce_pair
from op import ADMIN_CLIENT, ADMIN_SECRET, CLIENT_SECRETS, CONFIDENTIAL_CLIENT, PUBLIC_CLIENT, stats_delta
from webdav_server import WebDavServer

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _refresh(provider, client_id, rt, scope=None):
    data = {"grant_type": "refresh_token", "refresh_token": rt}
    auth = None
    if CLIENT_SECRETS[client_id]:
        auth = (client_id, CLIENT_SECRETS[client_id])
    else:
        data["client_id"] = client_id
    if scope:
        data["scope"] = scope
    return requests.post(provider.endpoint("token_endpoint"), data=data, auth=auth, verify=provider.verify, timeout=10)


def test_provider_discovery(provider):
    meta = provider.metadata()
    assert meta["issuer"] == provider.issuer
    for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "introspection_endpoint",
              "revocation_endpoint", "registration_endpoint", "device_authorization_endpoint", "jwks_uri"):
        assert meta[k].startswith(provider.issuer), k
    assert "S256" in meta["code_challenge_methods_supported"]
    assert DEVICE_GRANT in meta["grant_types_supported"]
    assert "refresh_token" in meta["grant_types_supported"]


@pytest.mark.parametrize("client_id", [PUBLIC_CLIENT, CONFIDENTIAL_CLIENT])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_code_flow_any_loopback_port(provider, client_id, host):
    tok = code_flow_tokens(provider.issuer, client_id, CLIENT_SECRETS[client_id], redirect_host=host)
    assert {"access_token", "refresh_token", "id_token"} <= tok.keys()
    assert provider.is_active(tok["refresh_token"])
    ui = provider.userinfo(tok["access_token"]).json()
    assert ui["sub"] == "alice" and ui["email"] == "alice@example.test"
    assert "e2e-users" in ui["groups"] and "user" in ui["roles"]


def test_unregistered_redirect_is_refused(provider):
    v, c = pkce_pair()
    url = provider.endpoint("authorization_endpoint") + "?" + urlencode(dict(
        client_id=PUBLIC_CLIENT, response_type="code", scope="openid", state="s",
        redirect_uri="http://example.test:8080/", code_challenge=c, code_challenge_method="S256"))
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "redirect_uri" in r.text


def test_refresh_token_without_offline_access_or_consent_prompt(provider):
    tok = code_flow_tokens(provider.issuer, PUBLIC_CLIENT, scope="openid profile", prompt=None)
    assert "refresh_token" in tok
    r = _refresh(provider, PUBLIC_CLIENT, tok["refresh_token"])
    assert r.status_code == 200, r.text


def test_rotation_off_keeps_refresh_token(provider):
    rt = get_refresh_token(provider.issuer, CONFIDENTIAL_CLIENT, CLIENT_SECRETS[CONFIDENTIAL_CLIENT])
    for _ in range(3):
        r = _refresh(provider, CONFIDENTIAL_CLIENT, rt, scope="openid offline_access profile")
        assert r.status_code == 200, r.text
        assert r.json()["refresh_token"] == rt


def test_rotation_on_replaces_refresh_token_and_detects_reuse(make_provider):
    provider = make_provider(rotate=True)
    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT)
    r = _refresh(provider, PUBLIC_CLIENT, rt)
    assert r.status_code == 200, r.text
    rt2 = r.json()["refresh_token"]
    assert rt2 != rt
    # reuse of the old one is refused and revokes the grant
    assert _refresh(provider, PUBLIC_CLIENT, rt).status_code == 400
    assert _refresh(provider, PUBLIC_CLIENT, rt2).status_code == 400


def test_refresh_delay_and_stats(make_provider):
    provider = make_provider(refresh_delay_ms=600, at_ttl=7)
    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT)
    before = provider.stats()
    t = time.monotonic()
    r = _refresh(provider, PUBLIC_CLIENT, rt)
    assert time.monotonic() - t >= 0.6
    assert r.status_code == 200 and r.json()["expires_in"] == 7
    assert _refresh(provider, PUBLIC_CLIENT, "bogus").status_code == 400
    after = provider.stats()
    assert stats_delta(before, after, "refresh_token") == 1
    assert stats_delta(before, after, "token_requests") == 2
    assert stats_delta(before, after, "token_errors") == 1
    provider.reset_stats()
    s = provider.stats()
    assert s["token_requests"] == 0 and s.get("refresh_token", 0) == 0
    # no token values in the log
    assert rt not in provider.log_text() and r.json()["access_token"] not in provider.log_text()


def test_introspection_and_revocation(provider):
    tok = code_flow_tokens(provider.issuer, PUBLIC_CLIENT)
    assert provider.is_active(tok["access_token"])
    provider.revoke(tok["refresh_token"])
    assert not provider.is_active(tok["refresh_token"])
    assert not provider.is_active(tok["access_token"]), "revoking the RT revokes the grant"
    assert _refresh(provider, PUBLIC_CLIENT, tok["refresh_token"]).status_code == 400


def test_dynamic_registration_open(provider):
    r = requests.post(provider.endpoint("registration_endpoint"), json={
        "redirect_uris": ["http://localhost:4242"], "application_type": "native",
        "grant_types": ["authorization_code", "refresh_token"]}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["client_id"]


def test_https_provider_needs_the_ca(make_provider, tls_ca):
    provider = make_provider(https=True)
    assert provider.issuer.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(provider.issuer + "/.well-known/openid-configuration", timeout=10)
    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT, verify=tls_ca["ca"])
    assert provider.is_active(rt)


@pytest.mark.parametrize("complete", [True, False])
def test_device_flow_approval(provider, complete):
    client_id = PUBLIC_CLIENT
    r = requests.post(provider.endpoint("device_authorization_endpoint"),
                      data={"client_id": client_id, "scope": "openid offline_access profile"}, timeout=10)
    dv = r.json()
    b = Browser()
    if complete:
        b.approve_device(dv["verification_uri_complete"])
    else:
        b.approve_device(dv["verification_uri"], dv["user_code"])
    r = requests.post(provider.endpoint("token_endpoint"), data={
        "grant_type": DEVICE_GRANT, "device_code": dv["device_code"], "client_id": client_id}, timeout=10)
    assert r.status_code == 200, r.text
    assert "refresh_token" in r.json()


def test_denied_consent_redirects_with_error(provider):
    v, c = pkce_pair()
    port = random.randint(20000, 60000)
    url = provider.endpoint("authorization_endpoint") + "?" + urlencode(dict(
        client_id=PUBLIC_CLIENT, response_type="code", scope="openid", state="xyz",
        redirect_uri=f"http://127.0.0.1:{port}", code_challenge=c, code_challenge_method="S256"))
    landing = Browser().authorize(url, follow=False, deny=True)
    assert landing.params["error"] == "access_denied" and landing.params["state"] == "xyz"


def test_webdav_gate(provider, sandbox):
    tok = code_flow_tokens(provider.issuer, PUBLIC_CLIENT)["access_token"]
    with WebDavServer(sandbox.work / "dav", provider.is_active) as dav:
        ok = requests.put(dav.url + "a.txt", data=b"x", headers={"Authorization": f"Bearer {tok}"}, timeout=10)
        assert ok.status_code in (200, 201, 204), ok.text
        bad = requests.put(dav.url + "b.txt", data=b"x", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert bad.status_code == 401
        none = requests.request("PROPFIND", dav.url, timeout=10)
        assert none.status_code == 401
        assert (dav.root / "a.txt").read_bytes() == b"x" and not (dav.root / "b.txt").exists()
        assert ADMIN_CLIENT and ADMIN_SECRET  # introspection runs as the resource server
