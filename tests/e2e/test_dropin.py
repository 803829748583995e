"""Drop-in for real: command lines from other people's documentation and
scripts, run as written against the real provider, rclone and WebDAV.

- The ownCloud Infinite Scale documentation's oidc-gen line, verbatim on a
  terminal, then rclone with the documentation's environment variables;
  the same with a client that authenticates only with client_secret_post.
- oidc-agent's documented `export AT=\`oidc-gen --only-at ...\`` lines.
- A dCache deployment's automation pattern with an empty password file.
- The README's Quickstart and rclone blocks, as written.
- Our `oidc-agent --status` against Debian's 4.2.6 agent.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import time
from pathlib import Path

import pytest

from browser import Browser, find_url_line
from harness import BIN_DIR, PASSWORD, REPO, assert_token_output, import_fresh_account, ours
from op import CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET, POST_CLIENT, POST_SECRET, PUBLIC_CLIENT
from procs import run
from ptyproc import PtyProc
from webdav_server import WebDavServer

RCLONE = shutil.which("rclone") or "/usr/bin/rclone"
EXIT_NOT_LOADED = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dav(provider, sandbox):
    server = WebDavServer(sandbox.work / "dav-root", provider.is_active)
    yield server
    server.stop()


def user_env(sandbox, agent, **extra) -> dict[str, str]:
    """A user's shell: our binaries first on PATH, a display (so oidc-gen
    takes the code flow, as on a desktop), rclone without a config file."""
    env = agent.env if agent else sandbox.env()
    conf = sandbox.work / "rclone.conf"
    conf.touch()
    env.update(
        PATH=f"{BIN_DIR}:{env['PATH']}",
        DISPLAY=":0",
        RCLONE_CONFIG=str(conf),
        TERM="dumb",
    )
    env.update(extra)
    return env


# How long a person takes to open the printed URL and log in, at human pace.
LOGIN_PACE = 10.0


def login_on_terminal(p: PtyProc, provider, password_prompts: int = 2, person: bool = False) -> None:
    """Plays the user of oidc-gen on its terminal: opens the printed URL in
    the scripted browser, then types the account password (twice for a new
    account). `person`: at a person's pace, reading and typing."""
    prefix = re.escape(provider.endpoint("authorization_endpoint"))
    url = p.expect(prefix + r"\S+").group(0)
    if person:
        time.sleep(LOGIN_PACE)  # the person finds the tab and logs in: the pace under test
    landing = Browser(verify=provider.verify).authorize(url, follow=True)
    assert landing.status == 200, f"the loopback listener answered {landing.status}: {landing.body[:500]}"
    for _ in range(password_prompts):
        p.expect(r"(?i)password[^\n]*: ")
        if person:
            p.type_like_a_person(PASSWORD + "\n")
        else:
            p.send(PASSWORD + "\n")


def run_on_terminal(sandbox, env, line: str, name: str, cwd: str | None = None) -> PtyProc:
    sandbox.log(f"$ {line}  (on a terminal)")
    return PtyProc(["bash", "-c", line], env, sandbox.logs / f"{name}.log", cwd=cwd)


def gen_on_terminal(sandbox, env, provider, line: str, name: str, answer=None) -> PtyProc:
    """Runs an oidc-gen command line on a terminal, plays its user (`answer`
    to the prompts before the login, then the login and the password) and
    expects it to succeed. Returns the finished terminal, whose text stays
    readable."""
    p = run_on_terminal(sandbox, env, line, name)
    try:
        if answer:
            answer(p)
        login_on_terminal(p, provider)
        assert p.wait() == 0, p.text()
    finally:
        p.close()
    return p


def rclone_env_form(sandbox, env, dav, account: str) -> None:
    """The oCIS documentation's rclone use: RCLONE_WEBDAV_* variables and an
    on-the-fly `:webdav:` remote."""
    src = sandbox.work / "src"
    src.mkdir(exist_ok=True)
    (src / "hello.txt").write_text("hello from oidc-agent-rs\n")
    env = dict(
        env,
        RCLONE_WEBDAV_VENDOR="owncloud",
        RCLONE_WEBDAV_URL=dav.url,
        RCLONE_WEBDAV_BEARER_TOKEN_COMMAND=f"oidc-token {account}",
    )
    res = run([RCLONE, "copy", str(src), ":webdav:backup", "--retries", "1"], env, timeout=120, log=sandbox.log)
    assert res.returncode == 0, res.describe()
    res = run([RCLONE, "ls", ":webdav:backup"], env, timeout=60, log=sandbox.log)
    assert res.returncode == 0, res.describe()
    assert "hello.txt" in res.stdout, res.describe()
    assert (dav.root / "backup" / "hello.txt").read_text() == "hello from oidc-agent-rs\n"
    reqs = dav.requests
    assert any(r.method == "PUT" and r.token_active for r in reqs), reqs


def ocis_line(client_id: str, secret_arg: str, issuer: str, port: int, name: str) -> str:
    """The documentation's line with the test provider's client and issuer."""
    return (
        f"oidc-gen --client-id={client_id} {secret_arg} --issuer {issuer} "
        f"--redirect-uri=http://localhost:{port} --scope max {name}"
    )


def test_ocis_documentation_line_then_rclone(cli, provider, sandbox, dav, agent):
    env = user_env(sandbox, agent)
    line = ocis_line(PUBLIC_CLIENT, '--client-secret="" --pub', provider.issuer, free_port(), "einstein-ocis")
    p = gen_on_terminal(sandbox, env, provider, line, "oidc-gen-ocis")
    assert "contradict" not in p.text()
    tok = assert_token_output(cli.token("einstein-ocis"))
    assert provider.introspect(tok)["client_id"] == PUBLIC_CLIENT
    rclone_env_form(sandbox, env, dav, "einstein-ocis")


def test_ocis_line_with_a_client_secret_post_provider(make_provider, make_agent, sandbox):
    provider = make_provider(post_only=True)
    meta = provider.metadata()
    assert "client_secret_basic" not in meta["token_endpoint_auth_methods_supported"], meta
    agent = make_agent()
    dav = WebDavServer(sandbox.work / "dav-root", provider.is_active)
    try:
        env = user_env(sandbox, agent)
        line = ocis_line(POST_CLIENT, f"--client-secret={POST_SECRET}", provider.issuer, free_port(), "post")
        gen_on_terminal(sandbox, env, provider, line, "oidc-gen-post")
        # The agent's refreshes authenticate the same way.
        res = run([str(ours("oidc-token")), "-f", "post"], env, log=sandbox.log)
        tok = assert_token_output(res)
        assert provider.introspect(tok)["client_id"] == POST_CLIENT
        rclone_env_form(sandbox, env, dav, "post")
    finally:
        dav.stop()


@pytest.mark.parametrize("form", ["flags", "file"])
def test_only_at_documentation_lines(provider, sandbox, form):
    """oidc-agent's docs (usage/oidc-gen/options.md, --only-at): `export
    AT=\`oidc-gen --only-at ... --prompt=none\``, the client on the command
    line (--scope=profile) or in a -f file that lists redirect URIs; on a
    terminal without a display, the printed URL opened by the person. Their
    ports are taken free here. One access token, no account saved."""
    env = user_env(sandbox, None)
    del env["DISPLAY"]  # the file's redirect URIs choose the code flow alone
    if form == "flags":
        gen = (f"oidc-gen --only-at --iss={provider.issuer} --client-id={CONFIDENTIAL_CLIENT} "
               f"--client-secret={CONFIDENTIAL_SECRET} --redirect-url=\"http://localhost:{free_port()}\" "
               f"--scope=profile --prompt=none")
    else:
        client = sandbox.work / "client.json"
        client.write_text(json.dumps({
            "issuer_url": provider.issuer,
            "client_id": CONFIDENTIAL_CLIENT,
            "client_secret": CONFIDENTIAL_SECRET,
            "scope": "openid profile email",
            "redirect_uris": [f"http://localhost:{free_port()}" for _ in range(3)],
        }, indent=2))
        gen = f"oidc-gen --only-at -f{client} --prompt=none"
    p = run_on_terminal(sandbox, env, f'export AT=`{gen}` && echo "AT=$AT."', f"only-at-{form}")
    try:
        login_on_terminal(p, provider, password_prompts=0)
        at = p.expect(r"AT=(\S+)\.").group(1)
        assert p.wait() == 0, p.text()
    finally:
        p.close()
    info = provider.introspect(at)
    assert info["active"] and info["client_id"] == CONFIDENTIAL_CLIENT, info
    assert "profile" in info["scope"].split(), info
    assert not [f for f in sandbox.config_dir.iterdir() if not f.name.startswith(".")]


def test_oidc_gen_asks_for_the_issuer_on_a_terminal(cli, provider, sandbox, agent):
    """oidc-agent's quickstart: `oidc-gen <shortname>` without --issuer asks
    for it on the terminal (here with the public client and the browser)."""
    env = user_env(sandbox, agent)
    line = f"oidc-gen asked --client-id {PUBLIC_CLIENT} --pub --no-url-call"
    p = run_on_terminal(sandbox, env, line, "oidc-gen-asks")
    try:
        p.expect(r"Issuer URL \(or a number above\): ")
        # The issuers Debian's oidc-agent package lists are offered.
        assert "] https://aai.egi.eu/oidc/\r\n" in p.text(), p.text()
        p.send(provider.issuer + "\n")
        login_on_terminal(p, provider)
        assert p.wait() == 0, p.text()
    finally:
        p.close()
    tok = assert_token_output(cli.token("asked"))
    assert provider.introspect(tok)["client_id"] == PUBLIC_CLIENT
    # The next account's issuer by its number: the person's issuers first.
    line = f"oidc-gen again --client-id {PUBLIC_CLIENT} --pub --no-url-call"

    def answer(p):
        p.expect(r"Issuer URL \(or a number above\): ")
        assert f"[1] {provider.issuer}" in p.text(), p.text()
        # A number off the list is a typo, asked again.
        p.send("99\n")
        p.expect(r"no issuer numbered 99; give a number from 1 to \d+ or a URL; try again: ")
        p.send("1\n")

    gen_on_terminal(sandbox, env, provider, line, "oidc-gen-asks-again", answer)
    assert_token_output(cli.token("again"))


def test_a_mistyped_password_confirmation_is_asked_again(cli, provider, sandbox, agent):
    """The person logs in, then mistypes the new password's confirmation:
    asked again, as oidc-agent asks, not the login thrown away (revoked,
    its client deleted, a new login needed)."""
    env = user_env(sandbox, agent)
    line = f"oidc-gen kit --issuer {provider.issuer} --client-id {PUBLIC_CLIENT} --pub --no-url-call"
    p = run_on_terminal(sandbox, env, line, "oidc-gen-typo")
    try:
        login_on_terminal(p, provider, password_prompts=0)
        for typed in (PASSWORD, PASSWORD + "x"):
            p.expect(r"(?i)password[^\n]*: ")
            p.send(typed + "\n")
        p.expect("The passwords do not match; try again.")
        for _ in range(2):
            p.expect(r"(?i)password[^\n]*: ")
            p.send(PASSWORD + "\n")
        assert p.wait() == 0, p.text()
    finally:
        p.close()
    assert_token_output(cli.token("kit"))


def test_oidc_gen_asks_for_the_account_name_on_a_terminal(cli, provider, sandbox, agent):
    """`oidc-gen` without a short name, typed on a terminal: asked for, as
    oidc-agent's oidc-gen asks (its docs start that way); without a
    terminal it stays a usage error."""
    env = user_env(sandbox, agent)
    line = f"oidc-gen --issuer {provider.issuer} --client-id {PUBLIC_CLIENT} --pub --no-url-call"

    def answer(p):
        p.expect("Short name for the account to configure: ")
        p.type_like_a_person("kit\n")

    gen_on_terminal(sandbox, env, provider, line, "oidc-gen-no-name", answer)
    assert_token_output(cli.token("kit"))


def test_oidc_gen_m_edits_an_account_on_a_terminal(cli, provider, sandbox, agent):
    """oidc-agent's quickstart, "updating an existing account configuration":
    `oidc-gen -m <shortname>` asks for each value with the saved one kept by
    Enter, then logs in again in the browser; the agent serves the edited
    account (here: fewer scopes)."""
    env = user_env(sandbox, agent)
    line = f"oidc-gen kit --issuer {provider.issuer} --client-id {PUBLIC_CLIENT} --pub --no-url-call"
    gen_on_terminal(sandbox, env, provider, line, "oidc-gen-kit")
    before = provider.introspect(assert_token_output(cli.token("kit")))
    assert "profile" in before["scope"].split(), before
    p = run_on_terminal(sandbox, env, "oidc-gen -m kit", "oidc-gen-m")
    try:
        p.expect(r"Password for account 'kit': ")
        p.type_like_a_person(PASSWORD + "\n")
        p.expect(re.escape(f"Issuer [{provider.issuer}]: "))
        time.sleep(3)  # the person reads the saved value and keeps it
        p.send("\n")
        p.expect(re.escape(f"Client id [{PUBLIC_CLIENT}]: "))
        p.send("\n")
        p.expect(re.escape("Client secret [none]: "))
        p.send("\n")
        p.expect(r"Scopes \[[^\]]*profile[^\]]*\]: ")
        p.type_like_a_person("openid offline_access\n")
        p.expect(r"Redirect URIs \[[^\]]*\]: ")
        p.send("\n")
        p.expect("Logging in again with the edited account.")
        login_on_terminal(p, provider, password_prompts=0, person=True)
        assert p.wait() == 0, p.text()
    finally:
        p.close()
    after = provider.introspect(assert_token_output(cli.token("-f", "kit")))
    assert "profile" not in after["scope"].split(), after
    assert after["client_id"] == PUBLIC_CLIENT, after


def test_empty_password_automation_pattern(cli, provider, sandbox):
    """`oidc-add NAME --pw-file=$EMPTY || oidc-gen NAME ... --pw-file=$EMPTY`."""
    empty = sandbox.work / "empty-password"
    empty.write_bytes(b"")
    pw = f"--pw-file={empty}"
    name = "dcache"
    res = cli.add(name, pw, password=None)
    assert res.returncode == EXIT_NOT_LOADED, res.describe()
    port = free_port()
    g = cli.gen_background(
        name, "--issuer", provider.issuer, "--client-id", CONFIDENTIAL_CLIENT,
        "--redirect-url", f"http://localhost:{port}", "--client-secret", CONFIDENTIAL_SECRET,
        "--no-url-call", "--scope", "openid offline_access profile", pw, password=None,
    )
    prefix = provider.endpoint("authorization_endpoint")
    url = g.wait_for_line(lambda l: find_url_line(l, prefix), timeout=30, what="authorization URL")
    landing = Browser(verify=provider.verify).authorize(url, follow=True)
    assert landing.status == 200, landing.body[:500]
    rc = g.wait(timeout=60)
    assert rc == 0, g.text()
    assert "empty password" in g.text(), g.text()
    assert cli.add("-r", name).returncode == 0
    res = cli.add(name, pw, password=None)
    assert res.returncode == 0, res.describe()
    assert_token_output(cli.token(name))


def readme_blocks() -> list[str]:
    """The Quickstart section's command blocks: the quickstart, a script's
    form of it, the rclone flags form and the rclone environment form."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Quickstart"):]
    section = section[: section.index("\n## ", 3)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 4, blocks
    return blocks


@pytest.mark.slow(35)
def test_readme_quickstart_and_rclone_blocks_run_as_written(provider, sandbox, dav, need_binaries):
    quick, in_a_script, rclone_flags, rclone_env = readme_blocks()
    subst = [
        ("https://op.example/", provider.issuer + "/"),
        ("https://api.example/", dav.url),
        ("https://cloud.example/remote.php/webdav/", dav.url),
    ]

    def real(block: str) -> str:
        for a, b in subst:
            block = block.replace(a, b)
        return block

    env = user_env(sandbox, None)
    # One shell, as a user types the blocks one after the other; the agent
    # it starts is stopped on the way out.
    script = (
        "set -e\ntrap 'oidc-agent -k >/dev/null' EXIT\n"
        + real(quick)
        + "\necho QUICKSTART-DONE\n"
        + real(in_a_script)
        + '\necho "SCRIPT-DONE $OIDC_ISS"\n'
        + real(rclone_flags)
        + "\necho RCLONE-FLAGS-DONE\n"
        + real(rclone_env)
        + "\necho RCLONE-ENV-DONE\n"
    )
    sandbox.log(script)
    p = PtyProc(["bash", "-c", script], env, sandbox.logs / "readme.log", cwd=str(sandbox.work))
    try:
        # A person following the README: logs in and types at their pace.
        login_on_terminal(p, provider, person=True)
        # `oidc-add kit` at the end of the quickstart, typed in the same
        # session, finds the account loaded and asks for no password (as
        # oidc-agent's does since 4.3; after a restart it would ask).
        p.expect("Account 'kit' already loaded")
        p.expect("QUICKSTART-DONE")
        p.expect("SCRIPT-DONE http")
        p.expect("RCLONE-FLAGS-DONE")
        p.expect("RCLONE-ENV-DONE")
        assert p.wait() == 0, p.text()
    finally:
        p.close()
    assert (dav.root / "backup" / "hello.txt").read_text() == "hello\n"
    assert [r for r in dav.requests if r.method == "PUT" and r.token_active]


def test_status_against_debian_4x_agent(make_agent, sandbox):
    agent = make_agent(debian=True)
    env = agent.env
    res = run([str(ours("oidc-agent")), "--status"], env, log=sandbox.log)
    assert res.returncode == 0, res.describe()
    assert "4.2.6" in res.stdout, res.describe()
    res = run([str(ours("oidc-agent")), "--status", "--json"], env, log=sandbox.log)
    assert res.returncode == 0, res.describe()
    doc = json.loads(res.stdout)
    assert doc["socket"] == agent.sock and "4.2.6" in json.dumps(doc), doc


def test_our_clients_load_into_debian_4x_agent(cli, make_provider, make_agent):
    """Debian's Xsession starts a 4.x agent and exports its OIDC_SOCK: our
    oidc-gen and oidc-add load into it. 4.x finds the discovery document by
    appending `.well-known/openid-configuration` to the issuer as sent, so
    ours sends it with its '/' (the provider names it without one)."""
    provider = make_provider()
    assert not provider.issuer.endswith("/"), provider.issuer
    cli.agent = make_agent(debian=True)
    # A confidential client: 4.2.6 sends a public client's empty secret in
    # a way oidc-provider refuses, whoever loaded the account.
    import_fresh_account(cli, provider, "kit", client_id=CONFIDENTIAL_CLIENT)
    assert_token_output(cli.token("kit"))
    assert cli.add("-r", "kit").returncode == 0
    res = cli.add("--pw-env", "kit")
    assert res.returncode == 0, res.describe()
    assert_token_output(cli.token("kit"))


def test_pub_takes_debians_preregistered_public_client(cli, sandbox):
    """`oidc-gen --pub --issuer https://aai.egi.eu/oidc/ NAME`, as EGI's
    documentation has it: the public client comes from the
    `/etc/oidc-agent/pubclients.config` Debian's oidc-agent package installs.
    A proxy that is down stands in for the network the suite may not use:
    the client is chosen before the provider is asked anything."""
    pubclients = Path("/etc/oidc-agent/pubclients.config")
    assert pubclients.is_file(), "Debian's oidc-agent package is not installed"
    line = next(l for l in pubclients.read_text().splitlines() if "@https://aai.egi.eu/oidc/" in l)
    client_id = line.split("@")[0].split(":")[0]
    res = cli.gen("egi", "--pub", "--issuer", "https://aai.egi.eu/oidc/", "--flow", "device", "--pw-env",
                  extra_env={"HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""})
    assert res.returncode == 6, res.describe()
    assert f"Using the public client '{client_id}' for https://aai.egi.eu/oidc/ from {pubclients}" in res.stderr, \
        res.describe()
    assert "a proxy is set, HTTPS_PROXY=http://127.0.0.1:9/" in res.stderr, res.describe()
    assert not (sandbox.config_dir / "egi").exists(), "an account without a login was saved"
