"""Tokens where tools look for them: `oidc-token --json`, the kubectl exec
plugin (`--kube`, read by the Python `kubernetes` client), git's credential
helper (`git-credential-oidc`, with a refused token, `erase` and a retry),
the WLCG bearer-token file, and refresh ahead (tokens served from cache while
the provider takes 2 s per refresh). Every consumer checks the token with the
provider's introspection.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

import pytest
import yaml

from harness import BIN_DIR, assert_token_output, import_fresh_account, ours, same_issuer
from op import stats_delta
from procs import run
from token_consumers import GitHttp, KubeApi

NAME = "tok"


def _agent_log(cli) -> str:
    return cli.agent.log_text()


# ---------------------------------------------------------------- --json, kubectl


def test_json_output(cli, provider):
    import_fresh_account(cli, provider, NAME)
    res = cli.token("--json", NAME)
    assert res.returncode == 0, res.describe()
    obj = json.loads(res.stdout)
    assert obj["token_type"] == "Bearer"
    assert obj["account"] == NAME
    assert same_issuer(obj["issuer"], provider.issuer)
    assert isinstance(obj["expires_at"], int) and obj["expires_at"] > time.time()
    assert provider.is_active(obj["access_token"])
    # the token oidc-gen got and handed to the agent: its scope came along
    assert "openid" in obj.get("scope", "").split(), res.stdout
    # a token the agent refreshed itself: the provider said its scope
    res = cli.token("--json", "-f", NAME)
    assert res.returncode == 0, res.describe()
    assert "openid" in json.loads(res.stdout)["scope"].split(), res.stdout
    # errors stay on stderr with the usual exit code
    bad = cli.token("--json", "nobody")
    assert bad.returncode == 4 and bad.stdout == "", bad.describe()


def test_kubernetes_client_runs_exec_plugin(cli, provider, sandbox, tls_ca):
    from kubernetes import client, config

    import_fresh_account(cli, provider, NAME)
    api = KubeApi(provider.is_active, tls_ca)
    try:
        kubeconfig = sandbox.work / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "e2e", "cluster": {"server": api.url, "certificate-authority": tls_ca["ca"]}}],
            "users": [{"name": "oidc", "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": str(ours("oidc-token")),
                "args": ["--kube", NAME],
                "env": [{"name": "OIDC_SOCK", "value": cli.env()["OIDC_SOCK"]}],
                "interactiveMode": "Never",
                "provideClusterInfo": False,
            }}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "oidc"}}],
            "current-context": "e2e",
        }))
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
        version = client.VersionApi(client.ApiClient(cfg)).get_code()
        assert version.git_version == "v1.31.0-e2e"
        seen = api.requests()
        assert seen and all(s.status == 200 for s in seen), seen
        assert provider.is_active(seen[-1].token)
    finally:
        api.stop()

    # the contract by hand: the version asked for, an RFC 3339 expiry
    info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                       "spec": {"interactive": False}})
    res = cli.token("--kube", NAME, extra_env={"KUBERNETES_EXEC_INFO": info})
    assert res.returncode == 0, res.describe()
    cred = json.loads(res.stdout)
    assert cred["apiVersion"] == "client.authentication.k8s.io/v1beta1" and cred["kind"] == "ExecCredential"
    assert cred["status"]["expirationTimestamp"].endswith("Z")
    assert provider.is_active(cred["status"]["token"])
    bad = cli.token("--kube", NAME, extra_env={"KUBERNETES_EXEC_INFO": '{"apiVersion":"x/v9"}'})
    assert bad.returncode == 2 and bad.stdout == "", bad.describe()


# ---------------------------------------------------------------- git


def _git(args, env, sandbox, cwd=None, timeout=60):
    return run(["git", *args], env, timeout=timeout, log=sandbox.log, cwd=cwd)


@pytest.mark.parametrize("bearer", [False, True], ids=["password", "bearer-only"])
def test_git_clone_with_credential_helper_refused_token_erase_retry(cli, provider, sandbox, tls_ca, bearer):
    """git with the helper, the token the agent caches refused by the server
    (`erase`, then a new one); the server takes it as a Basic password, or
    (`bearer`) answers `WWW-Authenticate: Bearer` only, where curl sends no
    password and the helper answers git's `authtype` form."""
    import_fresh_account(cli, provider, NAME)
    env = cli.env(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_SSL_CAINFO=str(tls_ca["ca"]))
    env["PATH"] = f"{BIN_DIR}:{env['PATH']}"
    ident = ["-c", "user.name=e2e", "-c", "user.email=e2e@example.test", "-c", "init.defaultBranch=main"]
    src = sandbox.work / "src"
    assert _git([*ident, "init", "-q", str(src)], env, sandbox).returncode == 0
    (src / "README").write_text("served by git http-backend\n")
    assert _git([*ident, "-C", str(src), "add", "README"], env, sandbox).returncode == 0
    assert _git([*ident, "-C", str(src), "commit", "-qm", "first"], env, sandbox).returncode == 0
    root = sandbox.work / "srv"
    root.mkdir()
    assert _git(["clone", "-q", "--bare", str(src), str(root / "repo.git")], env, sandbox).returncode == 0

    server = GitHttp(root, provider.is_active, bearer=bearer, tls=tls_ca if bearer else None)
    try:
        res = _git(["config", "--global", f"credential.{server.url}.helper", f"oidc {NAME}"], env, sandbox)
        assert res.returncode == 0, res.describe()
        # the token the agent caches is revoked: the server refuses it
        refused = assert_token_output(cli.token(NAME))
        provider.end_access_token(refused)  # revoked at the provider, grant intact
        assert not provider.is_active(refused)

        first = _git(["clone", f"{server.url}/repo.git", str(sandbox.work / "one")], env, sandbox)
        assert first.returncode != 0, first.describe()
        assert any(s.status == 401 and s.token == refused for s in server.requests()), server.requests()
        assert "cached tokens dropped (git-credential-oidc" in _agent_log(cli), "git's erase did not reach the agent"

        second = _git(["clone", f"{server.url}/repo.git", str(sandbox.work / "two")], env, sandbox)
        assert second.returncode == 0, second.describe()
        assert (sandbox.work / "two" / "README").read_text() == "served by git http-backend\n"
        ok = [s for s in server.requests() if s.status == 200]
        assert ok and all(s.token != refused for s in ok), server.requests()
        assert provider.is_active(ok[-1].token)
    finally:
        server.stop()


# ---------------------------------------------------------------- WLCG token file


def _check_token_file(path, provider) -> str:
    assert path.is_file(), f"{path} is missing"
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, f"{path} has mode {oct(mode)}"
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == 1, f"not a token and a newline: {text!r}"
    tok = text[:-1]
    assert provider.is_active(tok), "the token file holds a token the provider says is not active"
    return tok


@pytest.mark.timeout(180)
@pytest.mark.slow(50)
def test_wlcg_token_file_stays_fresh_and_goes_away(cli, make_provider, sandbox):
    provider = make_provider(at_ttl=10)
    import_fresh_account(cli, provider, NAME)
    path = sandbox.run_dir / f"bt_u{os.getuid()}"  # $XDG_RUNTIME_DIR/bt_u$UID

    res = cli.add("--token-file", NAME)
    assert res.returncode == 0, res.describe()
    assert str(path) in res.stdout, res.stdout
    seen = set()
    end = time.monotonic() + 40
    while time.monotonic() < end:
        seen.add(_check_token_file(path, provider))
        time.sleep(0.5)  # pacing the checks, not synchronization
    # 40 s of 10 s tokens: the file was rewritten as they aged
    assert len(seen) >= 5, f"only {len(seen)} distinct tokens in 40 s"

    assert cli.add("-r", NAME).returncode == 0
    assert not path.exists(), "the token file outlived the unload"

    custom = sandbox.work / "bt"
    assert cli.add(f"--token-file={custom}", "--pw-env", NAME).returncode == 0
    _check_token_file(custom, provider)
    res = cli.add("-x", "--pw-env", password="lockpw")
    assert res.returncode == 0, res.describe()
    assert not custom.exists(), "the token file outlived the lock"
    assert cli.add("-X", "--pw-env", password="lockpw").returncode == 0

    # and when the agent stops
    res = cli.add("--token-file", NAME, extra_env={"BEARER_TOKEN_FILE": str(custom)})
    assert res.returncode == 0, res.describe()
    _check_token_file(custom, provider)
    cli.agent.stop()
    assert not custom.exists(), "the token file outlived the agent"


# ---------------------------------------------------------------- refresh ahead


@pytest.mark.timeout(180)
@pytest.mark.slow(45)
def test_refresh_ahead_keeps_callers_on_the_cache(cli, make_provider, make_agent, agent):
    provider = make_provider(at_ttl=10, refresh_delay_ms=2000, rotate=True)
    import_fresh_account(cli, provider, NAME)
    argv = [str(ours("oidc-token")), NAME]
    env = cli.env()
    before = provider.stats()
    start = time.monotonic()
    waits, tokens = [], []
    while time.monotonic() - start < 30:
        t0 = time.monotonic()
        res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        waits.append(time.monotonic() - t0)
        tokens.append(assert_token_output(res))
        time.sleep(0.1)  # a caller's pace over the tokens' lifetimes, not synchronization
    elapsed = time.monotonic() - start
    # The log first: a refresh ahead it names may still be at the provider.
    ahead = agent.log_text().count("refreshing ahead")
    after = provider.stats()
    refreshes = stats_delta(before, after, "refresh_token")
    distinct = list(dict.fromkeys(tokens))
    print(f"refresh ahead: {len(waits)} calls in {elapsed:.1f} s, max wait {max(waits) * 1000:.0f} ms, "
          f"{refreshes} refreshes, {len(distinct)} distinct tokens")
    # Every refresh the provider saw was one the agent started ahead of
    # expiry, none a caller's (a caller's would have waited the provider's
    # 2 s): the agent logs each refresh ahead as it starts it, and one may
    # not have reached the provider's count yet.
    assert refreshes >= 3, f"{refreshes} refreshes in {elapsed:.0f} s"
    assert ahead - 1 <= refreshes <= ahead, f"{refreshes} refreshes, {ahead} started ahead"
    # One refresh per renewal, never one per call.
    assert refreshes * 10 < len(waits), f"{refreshes} refreshes for {len(waits)} calls"
    assert stats_delta(before, after, "token_errors") == 0, after
    assert len(distinct) >= refreshes - 1
    assert provider.is_active(tokens[-1])

    # every background refresh rotated the refresh token, and it was saved
    agent.stop()
    cli.agent = make_agent()
    assert cli.add("--pw-env", NAME).returncode == 0
    assert provider.is_active(assert_token_output(cli.token("-f", NAME, timeout=60)))
