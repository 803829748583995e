#!/bin/sh
# Installs the systemd user units for the oidc-agent on PATH and starts the
# socket: every login session, service and timer of this user then shares
# one agent at $XDG_RUNTIME_DIR/oidc-agent/agent.sock.
set -eu
here=$(dirname "$0")
agent=$(command -v oidc-agent) || { echo "install.sh: oidc-agent is not on PATH (cargo install --locked --path .)" >&2; exit 1; }
units=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user
mkdir -p "$units"
install -m 0644 "$here/oidc-agent.socket" "$units/oidc-agent.socket"
sed "s|^ExecStart=.*|ExecStart=$agent|" "$here/oidc-agent.service" > "$units/oidc-agent.service"
chmod 0644 "$units/oidc-agent.service"
if [ "${1:-}" != "--no-start" ]; then
    systemctl --user daemon-reload
    systemctl --user enable --now oidc-agent.socket
fi
echo "installed oidc-agent.socket and oidc-agent.service in $units"
