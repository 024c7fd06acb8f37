"""The VS Code extension's TypeScript compiles, and its protocol code talks to the real
server through vscode-languageserver-protocol (the stack vscode-languageclient runs on).

VS Code itself cannot be downloaded on these machines (no marketplace/CDN access), so the
extension host is the one part not exercised here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[2] / "editors" / "vscode"


@pytest.fixture(scope="module")
def compiled() -> Path:
    if shutil.which("node") is None:
        pytest.fail("node is required for the VS Code extension tests")
    script = EXT / "out" / "test" / "protocol.test.js"
    if not script.exists():
        if os.environ.get("CI"):
            pytest.fail("editors/vscode is not built: `make vscode` should have run")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXT, check=True)
        subprocess.run(["npm", "run", "compile"], cwd=EXT, check=True)
    return script


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "in-process"])
def test_extension_protocol_code_against_the_real_server(
    compiled: Path, daemon: bool, models_dir: Path
) -> None:
    cmd = [sys.executable, "-m", "tsr_lsp"] + ([] if daemon else ["stdio", "--no-daemon"])
    proc = subprocess.run(
        ["node", str(compiled), *cmd], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] is True and out["decision"].startswith("code")
    assert out["answer"].strip()
