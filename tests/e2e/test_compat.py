"""Drop-in compatibility with oidc-agent: its own clients against our agent
(Debian's oidc-token 4.2.6 in encrypted IPC mode, Python liboidcagent, a
plain-JSON client), and account files written by Debian's oidc-gen 4.2.6."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from nacl.exceptions import CryptoError

import account_format
from browser import get_refresh_token
from harness import (
    EXIT_FILE_CORRUPT,
    Cli,
    EXIT_NOT_LOADED,
    EXIT_WRONG_PASSWORD,
    PASSWORD,
    assert_token_output,
    debian,
    import_fresh_account,
    ipc_plain_request,
    same_issuer,
)
from op import CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET
from procs import run

NAME = "compat"
DEB_NAME = "debacct"
DEB_PASSWORD = "debian-4.2.6-pw"


@pytest.fixture
def debian_tools():
    missing = [n for n in ("oidc-agent", "oidc-gen", "oidc-token") if not os.access(debian(n), os.X_OK)]
    if missing:
        pytest.fail(f"Debian oidc-agent-cli 4.2.6 is not installed ({missing}); run setup.sh")


def _active(provider, tok: str) -> dict:
    info = provider.introspect(tok)
    assert info.get("active") is True, info
    return info


# ---------------------------------------------------------------- their clients, our agent


def test_debian_oidc_token_against_our_agent(cli, provider, debian_tools):
    import_fresh_account(cli, provider, NAME)
    res = cli.run(debian("oidc-token"), NAME)  # 4.2.6 always talks encrypted IPC
    tok = assert_token_output(res)
    _active(provider, tok)


def test_debian_oidc_agent_status_against_our_agent(cli, provider, debian_tools):
    """`oidc-agent --status` (Debian's, which prints the agent's text) shows
    oidc-agent's own status lines, which a script may read; ours the same."""
    import_fresh_account(cli, provider, NAME)
    for binary in (debian("oidc-agent"), "oidc-agent"):
        res = cli.run(binary, "--status")
        assert res.returncode == 0, res.describe()
        assert "This agent is running version " in res.stdout, res.describe()
        assert f"Currently there are 1 accounts loaded: {NAME}\n" in res.stdout, res.describe()


def test_python_liboidcagent_against_our_agent(cli, provider, agent, monkeypatch):
    import liboidcagent

    import_fresh_account(cli, provider, NAME)
    monkeypatch.setenv("OIDC_SOCK", agent.sock)
    monkeypatch.delenv("OIDC_REMOTE_SOCK", raising=False)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)  # liboidcagent has no timeout of its own
    try:
        at = liboidcagent.get_access_token(NAME)
        _active(provider, at)

        at2, iss, exp = liboidcagent.get_token_response(NAME, min_valid_period=10)
        _active(provider, at2)
        assert same_issuer(iss, provider.issuer), iss
        assert isinstance(exp, int) and exp > time.time(), exp

        for issuer in (provider.issuer, provider.issuer + "/"):
            at3 = liboidcagent.get_access_token_by_issuer_url(issuer)
            _active(provider, at3)
    finally:
        socket.setdefaulttimeout(old)


def test_plain_json_ipc_client(cli, provider, agent):
    import_fresh_account(cli, provider, NAME)
    resp = ipc_plain_request(agent.sock, {"request": "access_token", "account": NAME, "min_valid_period": 0})
    assert resp.get("status") == "success", resp
    assert {"access_token", "issuer", "expires_at"} <= resp.keys(), resp
    assert isinstance(resp["expires_at"], int) and resp["expires_at"] > time.time(), resp
    assert same_issuer(resp["issuer"], provider.issuer), resp
    _active(provider, resp["access_token"])


# ---------------------------------------------------------------- their files, our agent


@pytest.fixture
def debian_account(provider, sandbox, make_agent, debian_tools):
    """An account file written by Debian's own oidc-gen 4.2.6 (its agent then stopped)."""
    return _debian_account(provider, sandbox, make_agent)


def _debian_account(provider, sandbox, make_agent) -> dict:
    rt = get_refresh_token(provider.issuer, CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET)
    deb = make_agent(mode="daemon", debian=True)
    env = dict(deb.env, OIDC_ENCRYPTION_PW=DEB_PASSWORD)
    res = run(
        [debian("oidc-gen"), DEB_NAME, "--issuer", provider.issuer,
         "--client-id", CONFIDENTIAL_CLIENT, "--client-secret", CONFIDENTIAL_SECRET,
         "--rt", rt, "--pw-env", "--no-url-call", "-m", "--scope", "openid profile"],
        env, timeout=60, log=sandbox.log,
    )
    assert res.returncode == 0, f"Debian's oidc-gen failed:\n{res.describe()}"
    # sanity: Debian's own tools use it
    check = run([debian("oidc-token"), DEB_NAME], deb.env, timeout=30, log=sandbox.log)
    assert check.returncode == 0 and provider.is_active(check.stdout.strip()), check.describe()
    deb.stop()
    path = sandbox.account_file(DEB_NAME)
    text = path.read_text()
    assert "Generated using version: 4.2.6" in text, text
    return {"name": DEB_NAME, "path": path, "rt": rt, "password": DEB_PASSWORD}


def test_our_format_is_what_its_module_documents(cli, provider, sandbox):
    """The layout `src/account/format.rs` documents, implemented apart
    (argon2-cffi, libsodium): a file our oidc-gen wrote opens to what
    `oidc-gen -p` prints, with the documented default cost, and a file
    sealed here loads in our agent and gives tokens."""
    import_fresh_account(cli, provider, NAME)
    written = sandbox.account_file(NAME).read_bytes()
    assert account_format.params(written) == (64 * 1024, 3, 4)
    config = json.loads(account_format.open_sealed(PASSWORD.encode(), written))
    printed = cli.gen("-p", NAME, "--pw-env")
    assert printed.returncode == 0, printed.describe()
    assert config == json.loads(printed.stdout[printed.stdout.index("{"):])
    with pytest.raises(CryptoError):
        account_format.open_sealed(b"not-the-password", written)

    here = sandbox.account_file("sealedhere")
    here.write_bytes(account_format.seal(PASSWORD.encode(), json.dumps(dict(config, name="sealedhere")).encode(),
                                         m_kib=19 * 1024, passes=2, lanes=1))
    here.chmod(0o600)
    res = cli.add("--pw-env", "sealedhere")
    assert res.returncode == 0, res.describe()
    _active(provider, assert_token_output(cli.token("sealedhere")))


def test_debian_account_file_loads_in_our_agent(cli, provider, debian_account):
    res = cli.add("--pw-env", DEB_NAME, password=DEB_PASSWORD)
    assert res.returncode == 0, res.describe()
    tok = assert_token_output(cli.token(DEB_NAME))
    info = _active(provider, tok)
    assert info["client_id"] == CONFIDENTIAL_CLIENT


def test_debian_account_file_wrong_password_exit_9(cli, debian_account):
    res = cli.add("--pw-env", DEB_NAME, password="not-the-password")
    assert res.returncode == EXIT_WRONG_PASSWORD, res.describe()
    assert res.stdout == "", res.stdout


def _corrupt(kind: str, src_text: str) -> str:
    lines = src_text.splitlines()
    if kind == "flipped-ciphertext":
        # line 5 is the base64 ciphertext: change one character (still valid base64),
        # so the password check passes but the MAC does not
        c = lines[4]
        i = len(c) // 2
        lines[4] = c[:i] + ("A" if c[i] != "A" else "B") + c[i + 1:]
        return "\n".join(lines) + "\n"
    if kind == "truncated":
        return "\n".join(lines[:3]) + "\n"
    if kind == "garbage":
        return "this is not an oidc-agent account file\n"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["flipped-ciphertext", "truncated", "garbage"])
def test_corrupted_account_file_exit_10(cli, sandbox, debian_account, kind):
    bad = "corrupt-copy"
    sandbox.account_file(bad).write_text(_corrupt(kind, debian_account["path"].read_text()))
    res = cli.add("--pw-env", bad, password=DEB_PASSWORD)
    assert res.returncode == EXIT_FILE_CORRUPT, res.describe()
    assert res.stdout == "", res.stdout
    # the original still loads
    ok = cli.add("--pw-env", DEB_NAME, password=DEB_PASSWORD)
    assert ok.returncode == 0, ok.describe()


def test_missing_account_exits_4_like_oidc_token(cli, sandbox):
    """A misspelt account is "not configured": the same exit code from
    oidc-add (no file) and oidc-token (not loaded)."""
    assert not sandbox.account_file("nosuch").exists()
    res = cli.add("--pw-env", "nosuch")
    assert res.returncode == EXIT_NOT_LOADED, res.describe()
    assert res.stdout == "", res.stdout
    assert cli.token("nosuch").returncode == EXIT_NOT_LOADED


def test_debian_oidc_add_against_our_agent(cli, provider, debian_account):
    """oidc-agent 4.2.6's own oidc-add decrypts its file and sends `add`,
    then `loaded_accounts`, `remove`; its oidc-token gets tokens meanwhile."""
    env = dict(cli.env(), OIDC_ENCRYPTION_PW=DEB_PASSWORD)
    res = run([debian("oidc-add"), "--pw-env", DEB_NAME], env, timeout=60, log=cli.sandbox.log)
    assert res.returncode == 0, res.describe()
    _active(provider, assert_token_output(cli.run(debian("oidc-token"), DEB_NAME)))
    _active(provider, assert_token_output(cli.token(DEB_NAME)))
    loaded = run([debian("oidc-add"), "-a"], env, timeout=30, log=cli.sandbox.log)
    assert loaded.returncode == 0 and DEB_NAME in loaded.stdout, loaded.describe()
    removed = run([debian("oidc-add"), "-r", DEB_NAME], env, timeout=30, log=cli.sandbox.log)
    assert removed.returncode == 0, removed.describe()
    gone = cli.token(DEB_NAME)
    assert gone.returncode != 0 and gone.stdout == "", gone.describe()
    # The file Debian's tools wrote was read, never rewritten.
    assert "Generated using version: 4.2.6" in debian_account["path"].read_text()


def test_debian_oidc_add_with_a_rotating_provider_keeps_the_rotation(make_provider, sandbox, make_agent,
                                                                     debian_tools):
    """Debian's oidc-add --pw-env sends the password with the account: the
    agent saves the load check's rotation to the file (converted to our
    format, the 4.2.6 file kept as .bak), so an unload and a load again
    work. Before, the rotation stayed in memory, the unload dropped it, and
    the next load replayed a used token: the provider revoked the login."""
    provider = make_provider(rotate=True)
    account = _debian_account(provider, sandbox, make_agent)
    cli = Cli(sandbox, make_agent())
    env = dict(cli.env(), OIDC_ENCRYPTION_PW=DEB_PASSWORD)
    deb_add = lambda *args: run([debian("oidc-add"), *args], env, timeout=60, log=sandbox.log)  # noqa: E731
    res = deb_add("--pw-env", DEB_NAME)
    assert res.returncode == 0, res.describe()
    assert deb_add("-r", DEB_NAME).returncode == 0
    assert account["path"].read_bytes().startswith(b"OIDCRS"), "the rotation was not saved"
    assert "Generated using version: 4.2.6" in sandbox.account_file(DEB_NAME + ".bak").read_text()
    res = cli.add("--pw-env", DEB_NAME, password=DEB_PASSWORD)
    assert res.returncode == 0, res.describe()
    _active(provider, assert_token_output(cli.token(DEB_NAME)))


@pytest.fixture
def c_client(sandbox):
    """A program linked against Debian's C liboidc-agent 4.2.6 (liboidc-agent-dev)."""
    src = os.path.join(os.path.dirname(__file__), "clients", "liboidc_agent_client.c")
    exe = str(sandbox.tmp / "liboidc_agent_client")
    res = run(["gcc", "-Wall", "-Werror", "-o", exe, src, "-loidc-agent"], sandbox.env(), timeout=60, log=sandbox.log)
    assert res.returncode == 0, f"cannot build the liboidc-agent client:\n{res.describe()}"
    return exe


def test_c_liboidc_agent_against_our_agent(cli, provider, c_client):
    import_fresh_account(cli, provider, NAME)
    by_name = cli.run(c_client, "account", NAME)
    assert by_name.returncode == 0, by_name.describe()
    token, issuer, expires_at = by_name.stdout.splitlines()
    _active(provider, token)
    assert same_issuer(issuer, provider.issuer) and int(expires_at) > time.time()
    by_issuer = cli.run(c_client, "issuer", provider.issuer)
    assert by_issuer.returncode == 0, by_issuer.describe()
    assert by_issuer.stdout.splitlines()[0] == token, "the same cached token by issuer"
    missing = cli.run(c_client, "account", "nobody")
    assert missing.returncode == 1 and "No account configured with that short name" in missing.stderr, missing.describe()


def test_c_liboidc_agent_reports_the_agents_error(cli, provider, c_client):
    """getTokenResponse3 and oidcagent_serror(), the library's common calls:
    4.2.6 lost the agent's error to "Argument is NULL in function
    oidc_strcopy" when the failure reply carried no `info`."""
    import_fresh_account(cli, provider, NAME)
    ok = cli.run(c_client, "serror", NAME)
    assert ok.returncode == 0, ok.describe()
    _active(provider, ok.stdout.splitlines()[0])
    provider.revoke(json.loads(cli.gen("-p", "--pw-env", NAME).stdout)["refresh_token"])
    cli.token("--rejected", NAME)  # the cached token goes; the refresh is refused
    res = cli.run(c_client, "serror", NAME)
    assert res.returncode == 1 and "expired or revoked" in res.stderr, res.describe()
    assert "Argument is NULL" not in res.stderr, res.describe()
