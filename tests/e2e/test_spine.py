"""The spine: import a refresh token, get access tokens, keep them coming.

Refresh-token import (`oidc-gen --rt-env --pw-env`), tokens by name and by
issuer, agent restarts, https with a private CA (--cp, or the system store),
refresh-token rotation (sequential and a concurrent burst), short-lived
tokens and min validity, a revoked refresh token, a provider that went away.
"""

from __future__ import annotations

import shutil
import time

import pytest

from harness import (
    EXIT_PROVIDER_UNREACHABLE,
    EXIT_REFRESH_REJECTED,
    assert_token_output,
    import_fresh_account,
    ours,
)
from op import CONFIDENTIAL_CLIENT, PUBLIC_CLIENT, stats_delta
from procs import run_concurrently

NAME = "spine"


def _active(provider, token: str) -> dict:
    info = provider.introspect(token)
    assert info.get("active") is True, f"provider says the token is not active: {info}"
    return info


def new_agent_loads_from_file(cli, agent, make_agent) -> None:
    """Stops the agent, starts another and loads the account from its file
    (`oidc-add`): whatever the old agent saved is all the new one has."""
    agent.stop()
    assert not agent.alive()
    cli.agent = make_agent()
    res = cli.add("--pw-env", NAME)
    assert res.returncode == 0, res.describe()


# ---------------------------------------------------------------- import + token


@pytest.mark.parametrize("client_id", [PUBLIC_CLIENT, CONFIDENTIAL_CLIENT])
def test_import_refresh_token_then_token_is_active(cli, provider, sandbox, client_id):
    rt = import_fresh_account(cli, provider, NAME, client_id)

    res = cli.token(NAME)
    tok = assert_token_output(res)  # stdout carries only the token
    info = _active(provider, tok)
    assert info["client_id"] == client_id
    assert info["sub"] == "alice"

    # the account was saved, encrypted: no refresh token in clear on disk
    f = sandbox.account_file(NAME)
    assert f.is_file(), f"oidc-gen did not save {f}"
    raw = f.read_bytes()
    assert rt.encode() not in raw, "the refresh token is stored in clear text"
    assert b"refresh_token" not in raw, "the account file is not encrypted"


def test_token_stdout_has_only_the_token_and_errors_go_to_stderr(cli, provider):
    import_fresh_account(cli, provider, NAME)
    ok = cli.token(NAME)
    tok = assert_token_output(ok)
    assert tok not in ok.stderr

    bad = cli.token("no-such-account")
    assert bad.returncode != 0, bad.describe()
    assert bad.stdout == "", f"an error must not print to stdout: {bad.stdout!r}"
    assert bad.stderr.strip(), "an error must say why on stderr"


def test_token_by_issuer_url_trailing_slash_ignored(cli, make_provider):
    # oidc-token takes its argument as an issuer only if it starts with https://
    provider = make_provider(https=True)
    import_fresh_account(cli, provider, NAME)
    assert provider.issuer.startswith("https://") and not provider.issuer.endswith("/")

    for arg in (provider.issuer, provider.issuer + "/"):
        tok = assert_token_output(cli.token(arg))
        _active(provider, tok)


def test_account_survives_agent_restart(cli, provider, make_agent, agent):
    import_fresh_account(cli, provider, NAME)
    first = assert_token_output(cli.token(NAME))
    _active(provider, first)

    new_agent_loads_from_file(cli, agent, make_agent)
    tok = assert_token_output(cli.token(NAME))
    _active(provider, tok)


def test_https_provider_with_private_ca_via_cp(cli, make_provider, tls_ca):
    provider = make_provider(https=True)
    import_fresh_account(cli, provider, NAME, cert_path=tls_ca["ca"])
    tok = assert_token_output(cli.token(NAME))
    _active(provider, tok)
    tok2 = assert_token_output(cli.token("-f", NAME))
    assert tok2 != tok
    _active(provider, tok2)


@pytest.mark.parametrize("store", ["bundle", "directory"])
def test_https_provider_trusted_by_the_system_store(cli, make_provider, make_agent, agent, sandbox, tls_ca, store):
    """No --cp, as for every public provider: the CA comes from the system's
    trust store (a CA an administrator installed), for oidc-gen's discovery
    and for the agent's refreshes: a bundle (SSL_CERT_FILE) or a directory
    as `openssl rehash` leaves it (SSL_CERT_DIR: a hash-named link to the
    certificate, beside a file that is none)."""
    from browser import get_refresh_token

    provider = make_provider(https=True)
    if store == "bundle":
        trusted = {"SSL_CERT_FILE": tls_ca["ca"]}
    else:
        certs = sandbox.tmp / "certs"
        certs.mkdir()
        shutil.copy(tls_ca["ca"], certs / "e2e-ca.pem")
        (certs / "5ad8a5d6.0").symlink_to("e2e-ca.pem")
        (certs / "README").write_text("not a certificate\n")
        trusted = {"SSL_CERT_DIR": str(certs)}
    agent.stop()
    cli.agent = make_agent(extra_env=trusted)
    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT, verify=provider.verify)
    res = cli.gen(NAME, "--issuer", provider.issuer, "--client-id", PUBLIC_CLIENT, "--rt-env", "--pw-env",
                  extra_env={"OIDC_REFRESH_TOKEN": rt, **trusted})
    assert res.returncode == 0, res.describe()
    tok = assert_token_output(cli.token("-f", NAME))
    _active(provider, tok)
    assert tok != assert_token_output(cli.token("-f", NAME)), "a second refresh over TLS"


def test_https_provider_without_ca_is_refused(cli, make_provider, sandbox):
    provider = make_provider(https=True)
    from browser import get_refresh_token

    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT, verify=provider.verify)
    res = cli.import_account(NAME, provider, PUBLIC_CLIENT, rt, cert_path=None)
    assert res.returncode != 0, f"an untrusted certificate was accepted:\n{res.describe()}"
    err = res.stderr.lower()
    assert any(w in err for w in ("certificate", "tls", "ssl", "x509", "issuer")), (
        f"the error should say it is a TLS/certificate problem:\n{res.describe()}"
    )
    assert not sandbox.account_file(NAME).exists(), "a failed oidc-gen left an account file behind"


# ---------------------------------------------------------------- rotation


@pytest.mark.timeout(600)
@pytest.mark.slow(15)
def test_rotation_50_sequential_forced_refreshes(cli, make_provider, make_agent, agent):
    provider = make_provider(rotate=True)
    import_fresh_account(cli, provider, NAME)

    before = provider.stats()
    seen = set()
    for i in range(50):
        res = cli.token("-f", NAME, timeout=60)
        tok = assert_token_output(res)
        assert tok not in seen, f"call {i}: -f returned a token it had returned before"
        seen.add(tok)
        _active(provider, tok)
    after = provider.stats()
    assert stats_delta(before, after, "refresh_token") == 50, f"stats before={before} after={after}"
    assert stats_delta(before, after, "token_errors") == 0, f"the provider refused requests: {after}"

    # the last rotated refresh token is on disk: a new agent can use it
    new_agent_loads_from_file(cli, agent, make_agent)
    _active(provider, assert_token_output(cli.token(NAME)))
    _active(provider, assert_token_output(cli.token("-f", NAME)))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_rotation_concurrent_burst_is_one_refresh(cli, make_provider, make_agent, agent):
    provider = make_provider(rotate=True, refresh_delay_ms=500)
    import_fresh_account(cli, provider, NAME)
    # warm up: the account is loaded and has refreshed at least once
    assert_token_output(cli.token("-f", NAME, timeout=60))

    before = provider.stats()
    argv = [str(ours("oidc-token")), "-f", NAME]
    results = run_concurrently([argv] * 20, cli.env(), timeout=120, log=cli.sandbox.log)
    after = provider.stats()

    tokens = [assert_token_output(r) for r in results]
    for tok in set(tokens):
        _active(provider, tok)
    assert stats_delta(before, after, "refresh_token") == 1, (
        f"20 concurrent `oidc-token -f` should reach the provider as ONE refresh grant; "
        f"stats before={before} after={after}"
    )
    assert stats_delta(before, after, "token_requests") == 1, f"stats before={before} after={after}"

    # the rotated refresh token was saved: a new agent can load and use it
    new_agent_loads_from_file(cli, agent, make_agent)
    _active(provider, assert_token_output(cli.token(NAME)))
    _active(provider, assert_token_output(cli.token("-f", NAME)))


# ---------------------------------------------------------------- expiry


@pytest.mark.slow(27)
def test_min_valid_period_with_five_second_tokens(cli, make_provider):
    provider = make_provider(at_ttl=5)
    import_fresh_account(cli, provider, NAME)

    prev = None
    calls = reused = 0
    end = time.monotonic() + 20
    while time.monotonic() < end:
        tick = time.monotonic()
        before = provider.stats()
        t_start = time.time()
        tok = assert_token_output(cli.token("-t", "3", NAME))
        after = provider.stats()
        info = _active(provider, tok)
        remaining = info["exp"] - t_start
        # exp is whole seconds: allow half a second of rounding
        assert remaining >= 2.5, f"call {calls}: token had only {remaining:.1f}s left, asked for 3 ({info})"
        refreshes = stats_delta(before, after, "refresh_token")
        if tok == prev:
            reused += 1
            assert refreshes == 0, f"call {calls}: returned the cached token but still refreshed ({refreshes}x)"
        else:
            assert refreshes <= 1, f"call {calls}: {refreshes} refresh grants for one token"
        prev = tok
        calls += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))  # one call a second: a caller's pace
    assert calls >= 10, f"only {calls} calls in 20 s"
    assert reused >= 3, f"the agent never reused a still-valid token ({reused} of {calls} calls)"


# ---------------------------------------------------------------- failures


def test_revoked_refresh_token_fails_fast_with_exit_7(cli, provider):
    rt = import_fresh_account(cli, provider, NAME)
    assert_token_output(cli.token(NAME))

    provider.revoke(rt)
    assert not provider.is_active(rt)

    before = provider.stats()
    res = cli.token("-f", NAME, timeout=30)
    assert res.returncode == EXIT_REFRESH_REJECTED, res.describe()
    # No retry: exactly one request reached the token endpoint. The time
    # bound only catches a hang or a backoff; it is wide so a loaded CI
    # machine never trips it.
    assert stats_delta(before, provider.stats(), "token_requests") == 1, "the rejected refresh was retried"
    assert res.elapsed < 10, f"took {res.elapsed:.2f}s to report a rejected refresh token"
    assert res.stdout == "", f"nothing on stdout on error: {res.stdout!r}"
    assert f"oidc-gen --reauthenticate {NAME}" in res.stderr, res.describe()


def test_provider_down_cached_token_then_exit_6(cli, provider):
    import_fresh_account(cli, provider, NAME)
    tok = assert_token_output(cli.token(NAME))
    _active(provider, tok)

    provider.stop()
    assert not provider.running()

    cached = cli.token(NAME, timeout=30)
    assert assert_token_output(cached) == tok, "the cached, still-valid token should be returned"

    res = cli.token("-f", NAME, timeout=40)
    assert res.returncode == EXIT_PROVIDER_UNREACHABLE, res.describe()
    assert res.elapsed < 20, f"took {res.elapsed:.1f}s to give up on an unreachable provider"
    assert res.stdout == "", f"nothing on stdout on error: {res.stdout!r}"
