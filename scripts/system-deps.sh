#!/usr/bin/env bash
# System packages the editor tests need: Neovim (Debian package) to drive the Lua plugin
# headless. Installs only what is missing; needs root or sudo for apt-get.
set -euo pipefail

need=()
command -v nvim >/dev/null 2>&1 || need+=(neovim)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "system-deps: please install: ${need[*]} (no root and no sudo here)" >&2
    exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
