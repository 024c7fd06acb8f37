"""`tsr-lsp daemon status|stop|restart` against a real daemon."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


async def read_only_warnings(client: TsrClient, expect: bool) -> list[str]:
    """The window/showMessage warnings about read-only memory: waited for when expected,
    else whatever came within a second of a reply sent after ``initialized``."""
    await client.request("tsr/status", {})
    deadline = time.monotonic() + (20 if expect else 1)
    while time.monotonic() < deadline:
        found = [m for m in client.messages if "read-only" in m]
        if found and expect:
            return found
        await asyncio.sleep(0.1)
    return [m for m in client.messages if "read-only" in m]


async def test_no_daemon_server_next_to_the_daemon_says_memory_is_read_only(
    home: Path, tmp_path: Path
) -> None:
    """The daemon holds the memory writer once it wrote; a `--no-daemon` server next to it
    used to drop every episode silently. It warns once (cause and fix), tsr/status says
    read-only, and with the daemon stopped the same server gets neither."""
    from lsprotocol import types

    from tsr_lsp.client import server_command

    project = tmp_path / "proj"
    project.mkdir()
    editor, alone, after = TsrClient(), TsrClient(), TsrClient()
    await editor.start([sys.executable, "-m", "tsr_lsp"], root=project)  # spawns the daemon
    try:
        params = types.ExecuteCommandParams(
            command="tsr.memory.remember", arguments=["we deploy on fridays"]
        )
        remembered = await editor.lsp.workspace_execute_command_async(params)
        assert remembered["id"]  # the daemon wrote: it holds the writer now

        await alone.start(server_command(no_daemon=True), root=project)
        warnings = await read_only_warnings(alone, expect=True)
        assert len(warnings) == 1, alone.messages
        assert "holds the memory writer" in warnings[0]
        assert "tsr-lsp daemon stop" in warnings[0] and "--no-daemon" in warnings[0]
        status = await alone.request("tsr/status", {})
        assert status["daemon"] is False
        assert status["memory"]["readOnly"] is True, status["memory"]
        assert "writer" in status["memory"]["reason"]
        with pytest.raises(Exception, match="written by another tsr-lsp process"):
            await alone.lsp.workspace_execute_command_async(params)
        await alone.request("tsr/status", {})
        assert sum("read-only" in m for m in alone.messages) == 1  # once, not per request
        daemon_status = await editor.request("tsr/status", {})
        assert daemon_status["memory"]["readOnly"] is False  # the daemon is the writer
        await alone.stop()

        assert daemon("stop").returncode == 0
        await after.start(server_command(no_daemon=True), root=project)
        assert not await read_only_warnings(after, expect=False), after.messages
        status = await after.request("tsr/status", {})
        assert status["memory"] == {"enabled": True, "readOnly": False, "reason": None}
        stored = await after.lsp.workspace_execute_command_async(params)
        assert stored["id"]  # and it can write now
    finally:
        await asyncio.gather(editor.stop(), alone.stop(), after.stop())
        daemon("stop")


async def test_an_idle_daemon_recycles_in_place_and_keeps_what_it_held(
    home: Path, tmp_path: Path
) -> None:
    """With `recycle_stranded_mb` tiny, the daemon starts afresh in place once no editor is
    connected and it released: the same pid and socket, its lock still held (another daemon
    cannot start), its connection count and uptime carried over, and the memory written
    before is there and can be written again (the writer lock was let go)."""
    from lsprotocol import types

    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text("[daemon]\nrecycle_stranded_mb = 0.001\n")
    project = tmp_path / "proj"
    project.mkdir()
    editor, again = TsrClient(), TsrClient()
    try:
        await editor.start([sys.executable, "-m", "tsr_lsp"], root=project)
        remember = types.ExecuteCommandParams(
            command="tsr.memory.remember", arguments=["we deploy on fridays"]
        )
        assert (await editor.lsp.workspace_execute_command_async(remember))["id"]
        pid = (await editor.request("tsr/status", {}))["pid"]
        await editor.stop()

        log = home / "log" / "daemon.log"
        deadline = time.monotonic() + 90  # a release after 10 s idle (a query would reset it)
        while "recycling in place" not in log.read_text() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert "recycling in place" in log.read_text(), log.read_text()[-2000:]

        status = json.loads(daemon("status", "--json").stdout)
        assert status["pid"] == pid and alive(pid) and status["recycles"] == 1, status
        assert status["totalConnections"] >= 1  # the editor's, from before
        assert "started afresh in place 1x" in daemon("status").stdout
        second = subprocess.run(
            [sys.executable, "-m", "tsr_lsp", "serve", "--socket", status["socket"]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 0 and "already serves" in second.stderr, second

        await again.start([sys.executable, "-m", "tsr_lsp"], root=project)
        assert (await again.request("tsr/status", {}))["pid"] == pid
        found = await again.request("tsr/memory/search", {"query": "deploy fridays"})
        assert any("fridays" in json.dumps(hit) for hit in found["results"]), found
        remember.arguments = ["releases need two reviews"]
        assert (await again.lsp.workspace_execute_command_async(remember))["id"]
    finally:
        await asyncio.gather(editor.stop(), again.stop())
        daemon("stop")
