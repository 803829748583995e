#!/bin/sh
# Installs the man pages (man/) and shell completions (completions/, with
# account-name completion) of oidc-agent-rs.
#
#   scripts/install-docs.sh                    # under ~/.local
#   sudo scripts/install-docs.sh --prefix /usr/local
#   scripts/install-docs.sh --destdir "$pkgdir" --prefix /usr   # packaging
#
# Where the files go (the places man, bash-completion, zsh and fish search):
#   PREFIX/share/man/man1/TOOL.1
#   PREFIX/share/bash-completion/completions/TOOL
#   PREFIX/share/zsh/site-functions/_TOOL
#   PREFIX/share/fish/vendor_completions.d/TOOL.fish
# for every TOOL with a page in man/.
set -eu

prefix="${HOME:?}/.local"
destdir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) prefix="${1#--prefix=}"; shift ;;
        --destdir) destdir="${2:?--destdir needs a directory}"; shift 2 ;;
        --destdir=*) destdir="${1#--destdir=}"; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "install-docs.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
share="$destdir$prefix/share"
man1="$share/man/man1"
bash_dir="$share/bash-completion/completions"
zsh_dir="$share/zsh/site-functions"
fish_dir="$share/fish/vendor_completions.d"
mkdir -p "$man1" "$bash_dir" "$zsh_dir" "$fish_dir"

# Every command with a man page (oidc-agent-service and git-credential-oidc
# included), so a new command cannot be left out here.
for page in "$root"/man/*.1; do
    tool="$(basename "$page" .1)"
    install -m 0644 "$page" "$man1/$tool.1"
    # bash-completion loads completions/NAME for command NAME.
    install -m 0644 "$root/completions/$tool.bash" "$bash_dir/$tool"
    install -m 0644 "$root/completions/_$tool" "$zsh_dir/_$tool"
    install -m 0644 "$root/completions/$tool.fish" "$fish_dir/$tool.fish"
done
echo "Installed man pages to $man1 and completions under $share"
