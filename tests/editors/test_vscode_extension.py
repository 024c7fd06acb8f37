"""The VS Code extension: its TypeScript type-checks, its pure parts pass their node tests,
its protocol code talks to the real server through vscode-languageserver-protocol (the stack
vscode-languageclient runs on), and `make vscode` packages a .vsix with the bundle in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[2] / "editors" / "vscode"


@pytest.fixture(scope="module")
def built() -> Path:
    if shutil.which("node") is None:
        pytest.fail("node is required for the VS Code extension tests")
    if not (EXT / "out" / "e2e" / "protocol.js").exists() or not (EXT / "tsr-lsp.vsix").exists():
        if os.environ.get("CI"):
            pytest.fail("editors/vscode is not built: `make vscode` should have run")
        subprocess.run(["make", "-C", str(EXT.parents[1]), "vscode"], check=True)
    return EXT


def test_pure_parts_pass_their_node_tests(built: Path) -> None:
    proc = subprocess.run(
        ["node", "--test", "out/test/"], cwd=built, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-1000:]
    assert "# fail 0" in proc.stdout and "# pass 0" not in proc.stdout


def test_vsix_holds_the_bundle_manifest_and_license(built: Path) -> None:
    with zipfile.ZipFile(built / "tsr-lsp.vsix") as vsix:
        names = set(vsix.namelist())
        manifest = json.loads(vsix.read("extension/package.json"))
        bundle = vsix.read("extension/dist/extension.js").decode()
    assert {"extension/dist/extension.js", "extension/LICENSE.txt"} <= names
    assert not any(n.startswith(("extension/node_modules/", "extension/src/")) for n in names)
    assert manifest["main"] == "./dist/extension.js"
    assert manifest["license"] == "Apache-2.0"
    commands = {c["command"] for c in manifest["contributes"]["commands"]}
    menu = {m["command"] for m in manifest["contributes"]["menus"]["tsr.context"]}
    assert {"tsr.menu.explain", "tsr.menu.tests", "tsr.menu.ask"} <= menu <= commands
    # vscode-languageclient is bundled in (11.x registers inline completion itself)
    assert "textDocument/inlineCompletion" in bundle and 'require("vscode")' in bundle


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "in-process"])
def test_extension_protocol_code_against_the_real_server(
    built: Path, daemon: bool, models_dir: Path, tmp_path: Path
) -> None:
    """Status, route and a streamed ask over both paths; through the daemon also a context-menu
    AI action resolved to an edit, in a fresh project (tmp_path)."""
    cmd = [sys.executable, "-m", "tsr_lsp"] + ([] if daemon else ["stdio", "--no-daemon"])
    proc = subprocess.run(
        ["node", str(built / "out" / "e2e" / "protocol.js"), *cmd],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
        env={**os.environ, "TSR_E2E_MODEL_FEATURES": "1" if daemon else "0"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] is True and out["decision"].startswith("code")
    assert out["answer"].strip()
    if daemon:
        assert out["inline"].startswith("    return ") and out["inline"].strip() != "return"
