"""Neovim (Debian's package) drives the Lua plugin headless against the real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def nvim() -> str:
    path = shutil.which("nvim")
    if path is None:  # `make test` installs it; a skip would hide the editor test
        pytest.fail("nvim not installed: run `make system-deps` (or `make test`)")
    return path


def run_driver(nvim: str, tmp_path: Path, cmd: list[str]) -> dict:
    project = tmp_path / "proj"
    (project / ".git").mkdir(parents=True)
    source = project / "main.py"
    source.write_text("def main():\n    pass\n")
    out = tmp_path / "out.json"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "TSR_NVIM_OUT": str(out),
        "TSR_PLUGIN_DIR": str(ROOT / "editors" / "nvim"),
        "TSR_CMD": json.dumps(cmd),
        "TSR_FILE": str(source),
    }
    subprocess.run(
        [
            nvim,
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "-c",
            f"luafile {ROOT / 'tests/editors/nvim_driver.lua'}",
        ],
        env=env,
        timeout=300,
        check=False,
        capture_output=True,
        cwd=project,
    )
    return json.loads(out.read_text())


def test_plugin_attaches_routes_asks_and_checks_health(
    nvim: str, tmp_path: Path, models_dir: Path
) -> None:
    res = run_driver(nvim, tmp_path, [sys.executable, "-m", "tsr_lsp"])  # through the daemon
    assert res["errors"] == []
    assert res["attached"] is True
    assert res["status"]["daemon"] is True
    assert res["status"]["project"].endswith("proj")
    assert res["route"]["model"] == "coder"
    assert res["ask"]["decision"]["model"] == "general"
    assert res["ask"]["text"].strip()
    assert res["ask"]["text"].strip().split()[0] in res["ask_buffer"]  # streamed into the buffer
    assert "tsr-lsp" in res["health"] and "executable" in res["health"]


def test_plugin_reports_a_server_that_cannot_start(nvim: str, tmp_path: Path) -> None:
    res = run_driver(nvim, tmp_path, [str(tmp_path / "no-such-tsr-lsp")])
    assert res["attached"] is False
    assert any("no-such-tsr-lsp" in n["msg"] for n in res["notifications"]), res
