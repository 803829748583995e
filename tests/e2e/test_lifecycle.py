"""Logins at a person's pace, and no refresh token lost on any path.

Against the real provider with refresh-token rotation on: code-flow logins
completed 8 s and 60 s after the URL was printed and a device code approved
20 s late (a provider closes idle keep-alive connections after 5 s);
rename, password change and re-authentication of a loaded account, also
from a shell that does not reach the agent; a rotation on a full or
read-only account directory, with a second agent kept from replaying, and
one kept when the agent is stopped before it can write it; a soak of concurrent
refreshes, unloads, locks and lifetimes; and kill -9 at random points of a
refresh.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest

import account_format
from browser import Browser, get_refresh_token
from real_browser import Chromium, _origin
from procs import Background, kill_pid, pid_alive
from harness import (
    EXIT_REFRESH_REJECTED,
    PASSWORD,
    Agent,
    Cli,
    assert_token_output,
    import_fresh_account,
    ipc_plain_request,
    ours,
)
from op import CLIENT_SECRETS, CONFIDENTIAL_CLIENT, PUBLIC_CLIENT
from test_gen import client_args, wait_auth_url, wait_device_prompt

SCOPE = "openid offline_access profile email"


def status(cli: Cli) -> dict:
    import json

    res = cli.run("oidc-agent", "--status", "--json")
    assert res.returncode == 0, res.describe()
    return json.loads(res.stdout)


def account_status(cli: Cli, name: str) -> dict:
    for a in status(cli).get("accounts", []):
        if a.get("name") == name:
            return a
    return {}


def forced(cli: Cli, name: str) -> str:
    return assert_token_output(cli.token("-f", name))


# ---------------------------------------------------------------- human pace


@pytest.mark.slow(90)
def test_code_flow_logins_completed_late(cli, make_provider, sandbox):
    """Four logins at once in Chromium (public and confidential, 8 s and 60 s
    after the URL): each exchange runs long after discovery's connection to
    the provider went idle (a provider closes it after 5 s)."""
    provider = make_provider(https=True, rotate=True)
    cases = [(PUBLIC_CLIENT, 8), (CONFIDENTIAL_CLIENT, 8), (PUBLIC_CLIENT, 60), (CONFIDENTIAL_CLIENT, 60)]
    runs = []
    for i, (client_id, delay) in enumerate(cases):
        name = f"late{i}"
        g = cli.gen_background(name, "--issuer", provider.issuer, *client_args(client_id), "--flow", "code",
                               "--no-url-call", "--pw-env", "--cp", provider.ca_file, name=f"oidc-gen-{name}")
        runs.append((name, client_id, delay, g))
    try:
        pending = []
        for name, client_id, delay, g in runs:
            url = wait_auth_url(g, provider)
            pending.append((time.monotonic() + delay, name, client_id, url, g))
        for due, name, client_id, url, g in sorted(pending, key=lambda p: p[0]):
            q = dict(parse_qsl(urlsplit(url).query))
            assert q.get("client_id") == client_id
            browser = Chromium(f"late-{name}", accept_insecure_certs=True)  # own profile: no session
            try:
                # the person reading, typing, approving
                time.sleep(max(0.0, due - time.monotonic()))
                browser.provider_origin = _origin(url)
                browser.get(url)
                browser.login(pause=0)
                page = browser.loopback_page(f"late-{name}")
                assert "Login successful" in page.title, page.text
            finally:
                browser.quit()
        for name, client_id, delay, g in runs:
            rc = g.wait(timeout=60)
            assert rc == 0, f"login completed {delay} s late failed:\n{g.text()}"
    finally:
        for *_, g in runs:
            g.stop()
    for name, client_id, _, _ in runs:
        tok = forced(cli, name)
        info = provider.introspect(tok)
        assert info.get("active") is True and info["client_id"] == client_id, info


@pytest.mark.slow(30)
def test_device_flow_approved_late(cli, make_provider, sandbox):
    provider = make_provider(https=True, rotate=True)
    g = cli.gen_background("lated", "--issuer", provider.issuer, *client_args(PUBLIC_CLIENT), "--flow", "device",
                           "--no-url-call", "--pw-env", "--cp", provider.ca_file)
    try:
        uri, user_code = wait_device_prompt(g, provider)
        time.sleep(20)  # the person finds their phone
        title = Browser(verify=provider.verify).approve_device(uri, user_code)
        assert "success" in title.lower()
        rc = g.wait(timeout=90)
        assert rc == 0, g.text()
    finally:
        g.stop()
    assert provider.is_active(forced(cli, "lated"))


@pytest.mark.slow(30)
def test_an_import_waits_for_a_slow_rotating_provider(cli, make_provider, sandbox):
    """A rotating provider that answers the check refresh of an imported
    token in 20 s, past oidc-gen's 15 s request deadline (a busy provider,
    a slow link from CI): oidc-gen says it waits, waits, and saves the token
    that replaced the pasted one. It used to give up at 15 s and say to try
    again, while the provider had spent the pasted token: the retry was a
    replay that revoked the login."""
    provider = make_provider(rotate=True, refresh_delay_ms=20000)
    pasted = get_refresh_token(provider.issuer, CONFIDENTIAL_CLIENT, CLIENT_SECRETS[CONFIDENTIAL_CLIENT], scope=SCOPE)
    res = cli.import_account("slow", provider, CONFIDENTIAL_CLIENT, pasted,
                             client_secret=CLIENT_SECRETS[CONFIDENTIAL_CLIENT], timeout=90)
    assert res.returncode == 0, res.describe()
    assert "the provider has not answered yet; waiting for its answer" in res.stderr, res.describe()
    saved = json.loads(account_format.open_sealed(PASSWORD.encode(), sandbox.account_file("slow").read_bytes()))
    assert saved["refresh_token"] != pasted
    assert provider.is_active(saved["refresh_token"]), "the saved login is not alive"
    assert provider.stats().get("failed", {}).get("refresh_token", 0) == 0, provider.stats()


# ---------------------------------------------------------------- every path


def restart(make_agent, old: Agent, sandbox) -> Cli:
    old.stop()
    return Cli(sandbox, make_agent())


@pytest.mark.slow(15)
def test_rename_password_change_reauthenticate_of_a_loaded_account(cli, agent, make_agent, make_provider, sandbox):
    provider = make_provider(rotate=True)
    import_fresh_account(cli, provider, "acct", rt_scope=SCOPE)
    forced(cli, "acct")

    assert cli.gen("--rename", "renamed", "--pw-env", "acct").returncode == 0
    assert not sandbox.account_file("acct").exists()
    for _ in range(3):
        forced(cli, "renamed")

    res = cli.gen("-u", "--pw-env", "renamed", extra_env={"OIDC_NEW_ENCRYPTION_PW": "second password"})
    assert res.returncode == 0, res.describe()
    for _ in range(3):
        forced(cli, "renamed")

    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT, None, scope=SCOPE, verify=provider.verify)
    res = cli.gen("--reauthenticate", "renamed", "--rt-env", "--pw-env", password="second password",
                  extra_env={"OIDC_REFRESH_TOKEN": rt})
    assert res.returncode == 0, res.describe()
    for _ in range(3):
        forced(cli, "renamed")

    cli = restart(make_agent, agent, sandbox)
    res = cli.add("--pw-env", "renamed", password="second password")
    assert res.returncode == 0, res.describe()
    assert provider.is_active(forced(cli, "renamed"))


@pytest.mark.slow(20)
def test_rename_and_new_login_in_a_shell_without_the_agent(cli, agent, make_agent, make_provider, sandbox):
    """The agent's shell and one that does not reach it (another terminal,
    a cron job): a rename and a new login done there are followed by the
    agent, and a second agent loading the renamed account gets the live
    token (before, the agent wrote the old name again, and the new name's
    older token was a replay that revoked the login)."""
    provider = make_provider(rotate=True)
    import_fresh_account(cli, provider, "acct", rt_scope=SCOPE)
    forced(cli, "acct")
    elsewhere = Cli(sandbox)
    res = elsewhere.gen("--rename", "moved", "--pw-env", "acct")
    assert res.returncode == 0, res.describe()
    forced(cli, "acct")  # rotated, and saved where the file is now
    assert not sandbox.account_file("acct").exists()

    other = Cli(sandbox, make_agent())
    assert other.add("--pw-env", "moved").returncode == 0  # its check refresh
    assert provider.is_active(forced(other, "moved"))
    assert provider.is_active(forced(cli, "acct"))  # took the other's rotation

    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT, None, scope=SCOPE, verify=provider.verify)
    res = elsewhere.gen("--reauthenticate", "moved", "--rt-env", "--pw-env",
                        extra_env={"OIDC_REFRESH_TOKEN": rt})
    assert res.returncode == 0, res.describe()
    for _ in range(2):
        assert provider.is_active(forced(cli, "acct"))
        assert provider.is_active(forced(other, "moved"))
    res = cli.token("-f", "acct")
    assert "not saved" not in res.stderr, res.describe()


@pytest.mark.slow(25)
def test_two_agents_wait_for_each_others_slow_refresh(cli, agent, make_agent, make_provider, sandbox):
    """The service's agent and a shell's hold one account; the provider
    takes 5 s to answer a refresh. Both refresh at once (as their refreshes
    ahead of expiry do): the second waits for the first's answer and
    refreshes with the token it saved, instead of sending the same token, a
    replay the provider answers by revoking the login."""
    provider = make_provider(rotate=True, refresh_delay_ms=5000)
    import_fresh_account(cli, provider, "acct", rt_scope=SCOPE)
    other = Cli(sandbox, make_agent())
    assert other.add("--pw-env", "acct").returncode == 0
    results = {}

    def refresh(name, who):
        results[name] = who.token("-f", "acct", timeout=60)

    threads = [threading.Thread(target=refresh, args=(n, w)) for n, w in (("one", cli), ("two", other))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for res in results.values():
        assert res.returncode in (0, 6), res.describe()  # 6: still waiting at the client's 15 s
    assert provider.is_active(forced(cli, "acct"))
    assert provider.is_active(forced(other, "acct"))
    assert "waiting for its answer" in cli.agent.log_text() + other.agent.log_text()


def small_account_disk(sandbox):
    """Mounts a 256 KiB tmpfs on the account directory (root only);
    returns it. Unmount with `umount -l` in a `finally`."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mnt = sandbox.config_dir
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)], check=True)
    return mnt


def fill_up(mnt) -> None:
    """Fills the filesystem at `mnt` (a file `filler`) until ENOSPC."""
    with open(mnt / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:  # ENOSPC: the disk is full
            pass


@pytest.mark.parametrize("how", ["full", "read-only"])
def test_rotation_on_an_unwritable_account_directory(cli, agent, make_agent, make_provider, sandbox, how):
    provider = make_provider(rotate=True)
    mnt = small_account_disk(sandbox)
    try:
        import_fresh_account(cli, provider, "acct", rt_scope=SCOPE)
        if how == "full":
            fill_up(mnt)
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)

        res = cli.token("-f", "acct")
        tok = assert_token_output(res)  # the token is served, stdout is only the token
        assert provider.is_active(tok)
        warning = res.stderr.strip()
        assert warning.count("\n") == 0 and "warning" in warning and "not saved" in warning, res.describe()
        st = account_status(cli, "acct")
        assert st.get("unsaved") is True, st
        assert cli.add("-r", "acct").returncode == 1, "an unsaved account must not be unloaded"
        # Another shell's agent would check the file's older token: a replay
        # that revokes the login. Refused, naming the agent that holds it.
        other = Cli(sandbox, make_agent())
        res = other.add("--pw-env", "acct")
        assert res.returncode == 1 and "held by the agent at" in res.stderr, res.describe()

        mark = agent.log_mark()  # before the directory is writable again
        if how == "full":
            os.remove(mnt / "filler")
        else:
            subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        assert_token_output(cli.token("acct"))  # a request retries the write
        # The agent logs the write (its retry timer may come first) once it
        # has marked the account saved.
        agent.wait_for_log(lambda l: "'acct': saved refresh token" in l, 30, since=mark, what="the retried write")
        assert account_status(cli, "acct").get("unsaved") is False, account_status(cli, "acct")
        # Saved: the other agent loads it now, and the two take turns.
        assert other.add("--pw-env", "acct").returncode == 0
        assert provider.is_active(forced(other, "acct"))
        assert provider.is_active(forced(cli, "acct"))

        cli = restart(make_agent, agent, sandbox)
        assert cli.add("--pw-env", "acct").returncode == 0
        assert provider.is_active(forced(cli, "acct"))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_rotation_unsaved_at_sigterm_is_taken_by_the_next_oidc_add(cli, agent, make_agent, make_provider,
                                                                     sandbox):
    """The agent stopped (logout's SIGTERM, `kill PID`) while the account
    directory is full and a rotation is unsaved: the newest token is not
    lost with it. It stays sealed in the agent's note in the runtime
    directory; the next `oidc-add` takes it there, and that agent writes it
    to the file once there is room (before, the agent logged it LOST and
    the file's older token, loaded again, was a replay that revoked the
    login)."""
    provider = make_provider(rotate=True)
    mnt = small_account_disk(sandbox)
    try:
        import_fresh_account(cli, provider, "acct", rt_scope=SCOPE)
        fill_up(mnt)
        assert "not saved" in cli.token("-f", "acct").stderr
        kill_pid(agent.pid)
        assert not pid_alive(agent.pid)

        cli = Cli(sandbox, make_agent())
        res = cli.add("--pw-env", "acct")  # the disk still full
        assert res.returncode == 0 and "took the newest refresh token" in res.stderr, res.describe()
        assert provider.is_active(forced(cli, "acct"))
        os.remove(mnt / "filler")
        mark = cli.agent.log_mark()
        assert_token_output(cli.token("acct"))  # a request retries the write
        cli.agent.wait_for_log(lambda l: "'acct': saved refresh token" in l, 30, since=mark,
                               what="the write")
        cli = restart(make_agent, cli.agent, sandbox)
        assert cli.add("--pw-env", "acct").returncode == 0
        assert provider.is_active(forced(cli, "acct"))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# ---------------------------------------------------------------- soak


@pytest.mark.slow(75)
def test_soak_rotations_with_unloads_locks_and_lifetimes(cli, agent, make_agent, make_provider, sandbox):
    """Three accounts, >= 500 rotations under concurrent forced, scoped and
    audience requests, remove/re-add, lock/unlock and lifetime expiry; no
    refresh token is ever refused, and every account reloads from its file."""
    provider = make_provider(rotate=True)
    names = ["soak0", "soak1", "soak2"]
    for n in names:
        import_fresh_account(cli, provider, n, rt_scope=SCOPE)
    rng = random.Random(8)
    refused: list[str] = []
    errors: list[str] = []
    stop = threading.Event()
    start_grants = provider.refresh_grants()

    def requester(seed: int) -> None:
        r = random.Random(seed)
        while not stop.is_set():
            name = r.choice(names)
            req = {"request": "access_token", "account": name, "min_valid_period": -1}
            kind = r.random()
            if kind < 0.2:
                req["scope"] = "openid profile"
            elif kind < 0.3:
                req["audience"] = "soak-audience"
            try:
                reply = ipc_plain_request(agent.sock, req, timeout=30)
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                errors.append(f"{name}: {e}")
                continue
            if reply.get("status") != "success":
                if reply.get("kind") == "refresh_token_rejected" or "invalid_grant" in str(reply.get("error")):
                    refused.append(f"{name}: {reply}")
                elif reply.get("kind") not in ("not_loaded", "locked", "provider_error"):
                    errors.append(f"{name}: {reply}")

    threads = [threading.Thread(target=requester, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 240
        cycles = 0
        while provider.refresh_grants() - start_grants < 500 and time.monotonic() < deadline:
            cycles += 1
            action = rng.random()
            name = rng.choice(names)
            if action < 0.4:
                cli.add("-r", name)
                res = cli.add("--pw-env", name)
                assert res.returncode == 0, res.describe()
            elif action < 0.7:
                assert cli.add("-x", "--pw-env", password="lockpw").returncode in (0, 5)
                time.sleep(rng.random() * 0.2)  # requests meet a locked agent
                res = cli.add("-X", "--pw-env", password="lockpw")
                assert res.returncode == 0, res.describe()
            else:
                cli.add("-r", name)
                mark = agent.log_mark()
                res = cli.add("-t", "1", "--pw-env", name)
                assert res.returncode == 0, res.describe()
                # The agent logs the unload after removing the account.
                agent.wait_for_log(lambda l: f"'{name}': lifetime over; unloaded" in l, 15, since=mark,
                                   what=f"{name}'s lifetime to end")
                assert name not in cli.add("-a").stdout.split()
                assert cli.add("--pw-env", name).returncode == 0
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    rotations = provider.refresh_grants() - start_grants
    print(f"soak: {rotations} refreshes in {cycles} management cycles; errors: {len(errors)}")
    assert not refused, f"a refresh token was refused (lost or replayed): {refused[:3]}"
    assert not errors, errors[:5]
    assert rotations >= 500, f"only {rotations} rotations"
    cli = restart(make_agent, agent, sandbox)
    for n in names:
        res = cli.add("--pw-env", n)
        assert res.returncode == 0, res.describe()
        assert provider.is_active(forced(cli, n))


# ---------------------------------------------------------------- kill -9


@pytest.mark.slow(150)
def test_kill_9_loses_only_a_refresh_in_flight(cli, make_provider, sandbox):
    """kill -9 at random points around a forced refresh, then restart and
    reload. A kill before the request was sent or after its reply arrived
    (the agent replies only once the new token is on disk) never loses the
    account; a kill while the refresh is in flight may, with a provider that
    rotates strictly (it consumes the old token even if the client is gone):
    the window the README documents. Reports how many were lost."""
    provider = make_provider(rotate=True, refresh_delay_ms=20)
    env = sandbox.env()
    import_fresh_account(Cli(sandbox), provider, "k9", rt_scope=SCOPE)
    rng = random.Random(9)
    runs = 30
    outcome = {"before": [0, 0], "in flight": [0, 0], "after": [0, 0]}  # [kills, lost]
    for i in range(runs):
        sock = str(sandbox.run_dir / f"k9-{i}.sock")
        agent = _console_agent(sandbox, env, sock, f"k9-{i}")
        proc = agent.proc
        times: dict[str, float] = {}
        try:
            add = subprocess.run([str(ours("oidc-add")), "--pw-env", "k9"],
                                 env=dict(env, OIDC_SOCK=sock, OIDC_ENCRYPTION_PW=PASSWORD),
                                 capture_output=True, text=True, timeout=30)
            assert add.returncode == 0, add.stderr
            t = threading.Thread(target=_timed_request, args=(sock, times), daemon=True)
            if rng.random() < 0.8:  # else: killed while idle, before any request
                t.start()
                time.sleep(rng.uniform(0.0, 0.08))  # a random kill moment: the behaviour under test
        finally:
            killed_at = time.monotonic()
            proc.kill()
            proc.wait(timeout=10)
            agent.stop()
        if t.is_alive():
            t.join(timeout=15)
        if "sent" not in times or killed_at < times["sent"]:
            phase = "before"
        elif "reply" in times and times["reply"] < killed_at:
            phase = "after"
        else:
            phase = "in flight"
        outcome[phase][0] += 1
        if _reload_fails(sandbox, env, i):
            outcome[phase][1] += 1
            os.remove(sandbox.account_file("k9"))
            import_fresh_account(Cli(sandbox), provider, "k9", rt_scope=SCOPE)
    print("kill -9: " + "; ".join(f"{k}: {lost} of {n} lost" for k, (n, lost) in outcome.items()))
    assert outcome["before"][1] == 0 and outcome["after"][1] == 0, outcome
    assert all(n > 0 for n, _ in outcome.values()), f"the kills missed a phase: {outcome}"


def _timed_request(sock: str, times: dict) -> None:
    req = {"request": "access_token", "account": "k9", "min_valid_period": -1}
    try:
        times["sent"] = time.monotonic()
        reply = ipc_plain_request(sock, req, timeout=10)
        if reply.get("status") == "success":
            times["reply"] = time.monotonic()
    except Exception:  # noqa: BLE001 - the agent is being killed
        pass


def _reload_fails(sandbox, env: dict, i: int) -> bool:
    """Starts a fresh agent and loads the account from its file (one check
    refresh): True when the provider refuses the file's refresh token."""
    sock = str(sandbox.run_dir / f"k9-reload-{i}.sock")
    agent = _console_agent(sandbox, env, sock, f"k9-reload-{i}")
    try:
        add = subprocess.run([str(ours("oidc-add")), "--pw-env", "k9"],
                             env=dict(env, OIDC_SOCK=sock, OIDC_ENCRYPTION_PW=PASSWORD),
                             capture_output=True, text=True, timeout=30)
        assert add.returncode in (0, EXIT_REFRESH_REJECTED), add.stderr
        return add.returncode == EXIT_REFRESH_REJECTED
    finally:
        agent.proc.terminate()
        agent.proc.wait(timeout=20)
        agent.stop()


def _console_agent(sandbox, env: dict, sock: str, name: str) -> Background:
    """`oidc-agent --console -a SOCK`, once it listens: it prints its eval
    lines only after that."""
    agent = Background([str(ours("oidc-agent")), "--console", "-a", sock], env,
                       log_path=sandbox.logs / f"{name}.log", name=name)
    try:
        agent.wait_for_line(lambda l: l.startswith(f"OIDC_SOCK={sock};"), 10, streams=("stdout",),
                            what="OIDC_SOCK line")
    except BaseException:
        agent.stop()
        raise
    return agent
