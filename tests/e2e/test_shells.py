"""Shell completion as a person meets it: `scripts/install-docs.sh` with no
arguments (under ~/.local, as the README says), then TAB in an interactive
bash (with Debian's bash-completion), zsh (with ~/.local/share/zsh/site-functions
in fpath, as the README says) and fish, none told where the files went. The
account names come from the account directory (`oidc-add -l`), the issuers
from issuer.config (`oidc-token` takes either)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from harness import Cli, import_fresh_account, ours
from procs import run
from ptyproc import PtyProc

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROMPT = "READY> "

# What each shell reads at start: only what a person's rc file would add
# for completions, and a prompt the test can wait for.
RC = {
    "bash": f"source /usr/share/bash-completion/bash_completion\nPS1='{PROMPT}'\n",
    "zsh": f"fpath=(~/.local/share/zsh/site-functions $fpath)\nautoload -U compinit && compinit -u\nPS1='{PROMPT}'\n",
}


@pytest.fixture
def installed(sandbox, provider, need_binaries):
    """Two real accounts, and the man pages and completions installed under
    the sandbox's ~/.local by the install script with no arguments."""
    cli = Cli(sandbox)
    for name in ("alpha", "beta"):
        import_fresh_account(cli, provider, name)
    env = sandbox.env()
    env["PATH"] = f"{ours('oidc-add').parent}:{env['PATH']}"
    res = run(["sh", str(REPO / "scripts" / "install-docs.sh")], env, timeout=30, log=sandbox.log)
    assert res.returncode == 0, res.describe()
    share = sandbox.home / ".local" / "share"
    for tool in ("oidc-agent-service", "git-credential-oidc"):
        assert (share / "man" / "man1" / f"{tool}.1").is_file(), f"{tool}'s man page was not installed"
    return env, provider.issuer


def _interactive(sandbox, env, shell: str) -> PtyProc:
    """An interactive `shell` on a terminal, at its first prompt."""
    rc = sandbox.work / f"{shell}rc"
    rc.parent.mkdir(parents=True, exist_ok=True)
    env = dict(env, TERM="dumb")
    if shell == "bash":
        rc.write_text(RC["bash"])
        argv = ["bash", "--noprofile", "--rcfile", str(rc), "-i"]
    else:
        zdot = sandbox.work / "zdotdir"
        zdot.mkdir(exist_ok=True)
        (zdot / ".zshrc").write_text(RC["zsh"])
        env["ZDOTDIR"] = str(zdot)
        argv = ["zsh", "-i"]
    p = PtyProc(argv, env, sandbox.logs / f"{shell}.log")
    p.expect(re.escape(PROMPT), timeout=30)
    return p


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_tab_completes_account_names_in_an_interactive_shell(sandbox, installed, shell):
    assert shutil.which(shell), f"{shell} is not installed (run setup.sh)"
    env, issuer = installed
    p = _interactive(sandbox, env, shell)
    try:
        # Two accounts start with nothing typed: bash lists them on a second
        # TAB, zsh on the first; oidc-token also offers the issuer.
        p.send("oidc-token \t\t" if shell == "bash" else "oidc-token \t")
        p.expect(r"alpha\s+beta", timeout=30)
        assert issuer.rstrip("/") in p.text(), f"{shell} did not offer the issuer:\n{p.text()[-2000:]}"
        # One match completes in place: `oidc-add b<TAB>` becomes `oidc-add beta `.
        p.send("\x15oidc-add b\t")  # ^U clears the line first
        p.expect(r"oidc-add beta ", timeout=30)
        # Options still complete.
        p.send("\x15oidc-gen --no-url-c\t")
        p.expect(r"--no-url-call", timeout=30)
    finally:
        p.close()


def test_fish_completes_account_names_from_its_default_path(sandbox, installed):
    assert shutil.which("fish"), "fish is not installed (run setup.sh)"
    env, issuer = installed
    env = dict(env)
    env.pop("XDG_DATA_DIRS", None)

    def complete(line: str) -> list[str]:
        # `complete -C` is fish's TAB without a terminal: the candidates, one per line.
        res = run(["fish", "-c", f"complete -C{line!r}"], env, timeout=30, log=sandbox.log)
        assert res.returncode == 0, res.describe()
        return [row.split("\t")[0] for row in res.stdout.splitlines()]

    token = complete("oidc-token ")
    assert {"alpha", "beta"} <= set(token), token
    assert any(c.rstrip("/") == issuer.rstrip("/") for c in token), token
    assert complete("oidc-add b") == ["beta"]
    assert "--no-url-call" in complete("oidc-gen --no-url-c")
    # A command, not an account: oidc-agent-service's.
    assert complete("oidc-agent-service s") == ["start", "stop"]
