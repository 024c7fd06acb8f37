"""`tsr-lsp daemon status|stop|restart` against a real daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tsr_lsp.client import TsrClient

CLI = [sys.executable, "-m", "tsr_lsp", "daemon"]


def daemon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def test_status_stop_restart(home: Path) -> None:
    none = daemon("status", "--json")
    assert none.returncode == 0 and json.loads(none.stdout)["running"] is False
    editor = TsrClient()
    await editor.start([sys.executable, "-m", "tsr_lsp"])  # spawns the daemon
    try:
        pid = (await editor.request("tsr/status", {}))["pid"]
        status = json.loads(daemon("status", "--json").stdout)
        assert status["running"] and status["pid"] == pid
        assert status["clients"] == 1  # the editor; not the status query itself
        assert status["rssMb"] > 10 and status["models"] == {}
        text = daemon("status").stdout
        assert f"pid {pid}" in text and "1 connected" in text

        restarted = daemon("restart")
        assert restarted.returncode == 0, restarted.stderr
        new_pid = json.loads(daemon("status", "--json").stdout)["pid"]
        assert new_pid != pid and not alive(pid) and alive(new_pid)
        assert f"(was {pid})" in restarted.stdout

        stopped = daemon("stop")
        assert stopped.returncode == 0 and str(new_pid) in stopped.stdout
        assert not alive(new_pid)
        assert json.loads(daemon("status", "--json").stdout)["running"] is False
        assert "no tsr-lsp daemon running" in daemon("stop").stdout
    finally:
        await editor.stop()
        lock = home / "run" / "daemon.lock"
        if lock.exists():  # whatever the test left running
            try:
                os.kill(int(lock.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def test_idle_unload_gives_the_memory_back(home: Path, models_dir: Path) -> None:
    """A real model answers through the daemon (`tsr-lsp ask`, which then disconnects); after
    `idle_unload_s` the daemon reports no model and its RSS falls by most of the model's."""
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text("[daemon]\nidle_unload_s = 3\n")
    asked = subprocess.run(
        [sys.executable, "-m", "tsr_lsp", "ask", "--model", "general", "--max-tokens", "8", "Hi"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert asked.returncode == 0 and asked.stdout.strip(), asked.stderr
    try:
        loaded = json.loads(daemon("status", "--json").stdout)
        assert loaded["idleUnloadS"] == 3 and loaded["clients"] == 0
        # status does not count as use: the model may already be gone on a slow machine
        model_mb = loaded["models"].get("general")
        deadline = time.monotonic() + 60
        status = loaded
        while status["models"] and time.monotonic() < deadline:
            time.sleep(0.5)
            status = json.loads(daemon("status", "--json").stdout)
        assert status["models"] == {}, status
        assert status["pid"] == loaded["pid"]  # unloaded, not restarted
        if model_mb:  # seen loaded: the resident memory came back
            assert status["rssMb"] < loaded["rssMb"] - 0.5 * model_mb, (loaded, status)
    finally:
        assert daemon("stop").returncode == 0
