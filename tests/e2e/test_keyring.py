"""The account password in the OS keyring (`--pw-keyring`): a real Secret
Service (gnome-keyring on a private D-Bus session bus) so that `oidc-add NAME`
needs no password at all; and the headless case, where the tools say the
keyring is unreachable and go on with the password."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

import pytest

from browser import get_refresh_token
from harness import EXIT_WRONG_PASSWORD, PASSWORD, assert_token_output
from op import PUBLIC_CLIENT

NAME = "kr"


@pytest.fixture
def secret_service(sandbox):
    """A private session bus with an unlocked gnome-keyring; yields its env."""
    for tool in ("dbus-daemon", "gnome-keyring-daemon"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is not installed; run setup.sh")
    env = sandbox.env()
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1", "--nopidfile"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    procs = [bus]
    try:
        address = bus.stdout.readline().strip()
        assert address.startswith("unix:"), f"no bus address from dbus-daemon: {address!r}"
        env = dict(env, DBUS_SESSION_BUS_ADDRESS=address)
        keyring = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            text=True, start_new_session=True,
        )
        procs.append(keyring)
        keyring.stdin.write("keyring-login-pw\n")
        keyring.stdin.close()
        # Wait until the Secret Service name is on the bus.
        probe = ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                 "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets"]
        for _ in range(100):
            out = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=5)
            if "boolean true" in out.stdout:
                break
            subprocess.run(["sleep", "0.05"])
        else:
            pytest.fail("gnome-keyring never took org.freedesktop.secrets")
        yield {"DBUS_SESSION_BUS_ADDRESS": address}
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _import(cli, provider, extra_env, *flags):
    rt = get_refresh_token(provider.issuer, PUBLIC_CLIENT, None, verify=provider.verify)
    return cli.gen(NAME, "--issuer", provider.issuer, "--client-id", PUBLIC_CLIENT, "--rt-env", "--pw-env", *flags,
                   extra_env=dict(extra_env, OIDC_REFRESH_TOKEN=rt), timeout=60)


def test_password_from_the_keyring(cli, provider, secret_service, make_agent):
    res = _import(cli, provider, secret_service, "--pw-keyring")
    assert res.returncode == 0, res.describe()
    assert "Stored the password" in res.stderr, res.describe()
    # A new agent; oidc-add with no password source and no terminal.
    cli.agent.stop()
    cli.agent = make_agent()
    res = cli.add(NAME, password=None, extra_env=secret_service)
    assert res.returncode == 0, res.describe()
    assert_token_output(cli.token(NAME))
    # A new password via -u keeps the stored one in step.
    res = cli.gen("-u", NAME, password=None, extra_env=dict(secret_service, OIDC_NEW_ENCRYPTION_PW="second-pw"))
    assert res.returncode == 0, res.describe()
    # -f: the account is loaded, and each load here tries a password source.
    wrong = cli.add("-f", "--pw-env", NAME, password=PASSWORD, extra_env=secret_service)
    assert wrong.returncode == EXIT_WRONG_PASSWORD, "the file has the new password now"
    res = cli.add("-f", NAME, password=None, extra_env=secret_service)
    assert res.returncode == 0, res.describe()
    # Deleting the account deletes the stored password: a new account of the
    # same name (saved without --pw-keyring) finds none and must ask.
    res = cli.gen("-d", "-y", NAME, password=None, extra_env=secret_service)
    assert res.returncode == 0, res.describe()
    res = _import(cli, provider, secret_service)
    assert res.returncode == 0, res.describe()
    res = cli.add("-f", NAME, password=None, extra_env=secret_service)
    assert res.returncode != 0 and "--pw-env" in res.stderr, res.describe()


def test_headless_keyring_is_reported_and_skipped(cli, provider):
    # No D-Bus session here: oidc-gen says so, saves anyway, and oidc-add
    # goes on with the password.
    res = _import(cli, provider, {}, "--pw-keyring")
    assert res.returncode == 0, res.describe()
    assert "no keyring service reachable" in res.stderr, res.describe()
    assert cli.add("--pw-env", NAME).returncode == 0
    res = cli.add("-f", "--pw-keyring", NAME, password=None)
    assert res.returncode != 0, res.describe()
    assert "no keyring service reachable" in res.stderr and "--pw-env" in res.stderr, res.describe()
