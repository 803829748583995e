#!/usr/bin/env bash
# Installs what the end-to-end suite needs; idempotent, quiet on success.
#
#   - the test OpenID provider's npm packages (npm ci in provider/)
#   - a Python venv at tests/e2e/.venv with requirements.txt
#   - Debian packages: rclone, oidc-agent-cli and liboidc-agent-dev (4.2.6,
#     with gcc to build a C client), curl, and D-Bus with
#     gnome-keyring for the keyring tests, chromium and chromium-driver
#     (the real browser of the code-flow tests, driven through WebDriver),
#     openssh (a loopback sshd for agent forwarding), groff (man pages
#     render without warnings), bash-completion, zsh and fish (TAB
#     completes account names in each)
#
# Expects a Debian 12 machine with node/npm and python3 (3.11+). Our own
# binaries are not built here: build them with `cargo build` (or point
# OIDC_BIN_DIR at them).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG="$(mktemp "${TMPDIR:-/tmp}/e2e-setup.XXXXXX")"
trap 'rm -f "$LOG"' EXIT

fail() {
    echo "setup.sh: FAILED: $*" >&2
    if [ -s "$LOG" ]; then
        echo "---- output ----" >&2
        tail -n 80 "$LOG" >&2
    fi
    exit 1
}

quietly() { # run a step, show its output only if it fails
    local what="$1"; shift
    "$@" >>"$LOG" 2>&1 || fail "$what"
}

sha() { sha256sum "$@" | sha256sum | cut -c1-32; }

# ---------------------------------------------------------------- Debian packages
DEB_PACKAGES=(rclone oidc-agent-cli liboidc-agent-dev gcc libc6-dev curl dbus-bin dbus-daemon gnome-keyring
    chromium chromium-driver openssh-server openssh-client groff-base git bash-completion zsh fish)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
PY=""
for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 \
        && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        PY="$(command -v "$cand")"
        break
    fi
done
[ -n "$PY" ] || fail "python3 >= 3.11 not found"
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || fail "need root (or sudo) to install: ${missing[*]}"
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    quietly "apt-get update" $SUDO apt-get update -q
    quietly "apt-get install ${missing[*]}" $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
oidc_ver="$(dpkg-query -W -f='${Version}' oidc-agent-cli 2>/dev/null || true)"
case "$oidc_ver" in
    4.2.6*) ;;
    *) fail "oidc-agent-cli is $oidc_ver, the suite expects Debian's 4.2.6" ;;
esac
for b in /usr/bin/oidc-agent /usr/bin/oidc-gen /usr/bin/oidc-token /usr/bin/rclone /usr/bin/curl \
    /usr/bin/chromium /usr/bin/chromedriver /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen /usr/bin/groff \
    /usr/bin/git /usr/lib/git-core/git-http-backend; do
    [ -x "$b" ] || fail "$b missing after install"
done

# ---------------------------------------------------------------- provider (npm)
command -v node >/dev/null 2>&1 || fail "node is not installed"
command -v npm >/dev/null 2>&1 || fail "npm is not installed"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)' \
    || fail "node $(node --version) is too old: oidc-provider 9 needs node >= 20.18"
PROVIDER="$HERE/provider"
stamp="$PROVIDER/node_modules/.e2e-stamp"
want="$(sha "$PROVIDER/package.json" "$PROVIDER/package-lock.json")"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -d "$PROVIDER/node_modules/oidc-provider" ]; then
    (cd "$PROVIDER" && quietly "npm ci" npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
fi
(cd "$PROVIDER" && quietly "provider self-check" node -e 'import("oidc-provider").then(()=>process.exit(0),e=>{console.error(e);process.exit(1)})')

# ---------------------------------------------------------------- Python venv
VENV="$HERE/.venv"
vstamp="$VENV/.e2e-stamp"
want="$(sha "$HERE/requirements.txt") $("$PY" -c 'import sys; print(sys.version.split()[0])')"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$vstamp" ] || [ "$(cat "$vstamp")" != "$want" ]; then
    rm -rf "$VENV"
    quietly "python venv" "$PY" -m venv "$VENV"
    quietly "pip install -r requirements.txt" \
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
    echo "$want" >"$vstamp"
fi
quietly "venv self-check" "$VENV/bin/python" -c 'import pytest, xdist, requests, wsgidav, cheroot, liboidcagent, nacl, trustme, pytest_timeout, selenium, kubernetes'
exit 0
