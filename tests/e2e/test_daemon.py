"""The shared daemon: one Engine for many editors, a private socket, crash recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

from tsr_lsp.client import TsrClient

STDIO = [sys.executable, "-m", "tsr_lsp"]  # what editors launch: forwards to the daemon


def daemon_pid(home: Path) -> int:
    return int((home / "run" / "daemon.lock").read_text())


@pytest.fixture
def daemon_home(home: Path) -> Path:
    yield home
    try:
        os.kill(daemon_pid(home), signal.SIGKILL)
    except (OSError, ValueError):
        pass


async def test_two_editors_share_one_daemon_over_a_private_socket(daemon_home: Path) -> None:
    a, b = TsrClient(), TsrClient()
    await asyncio.gather(a.start(STDIO), b.start(STDIO))
    try:
        sa, sb = await asyncio.gather(a.request("tsr/status", {}), b.request("tsr/status", {}))
        assert sa["daemon"] and sb["daemon"]
        assert sa["pid"] == sb["pid"] == daemon_pid(daemon_home)
        sock = daemon_home / "run" / "daemon.sock"
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    finally:
        await asyncio.gather(a.stop(), b.stop())


async def test_a_real_lsp_client_on_the_socket(daemon_home: Path) -> None:
    """Speak LSP straight to the daemon's Unix socket (no forwarder in between)."""
    from lsprotocol import types
    from pygls.io_ import run_async
    from pygls.lsp.client import LanguageClient

    from tsr_lsp.server.daemon import connect_or_spawn
    from tsr_lsp.server.transport import plain_converter

    sock_path = daemon_home / "run" / "daemon.sock"
    connect_or_spawn(sock_path).close()
    reader, writer = await asyncio.open_unix_connection(str(sock_path))
    client = LanguageClient("socket-test", "1", converter_factory=plain_converter)
    client.protocol.set_writer(writer)  # type: ignore[arg-type]
    task = asyncio.create_task(run_async(client._stop_event, reader, client.protocol))
    result = await client.initialize_async(
        types.InitializeParams(capabilities=types.ClientCapabilities())
    )
    assert result.server_info is not None and result.server_info.name == "tsr-lsp"
    status = await client.protocol.send_request_async("tsr/status", {})
    assert status["daemon"] is True
    # pymalloc kept a hostile burst's arenas (5x idle RSS); the daemon runs on glibc malloc
    environ = Path(f"/proc/{daemon_pid(daemon_home)}/environ").read_bytes().split(b"\0")
    assert b"PYTHONMALLOC=malloc" in environ
    await client.shutdown_async(None)
    client.exit(None)
    await asyncio.wait_for(task, 10)


async def test_killed_daemon_is_reported_and_replaced(daemon_home: Path) -> None:
    first = TsrClient()
    await first.start(STDIO)
    pid = (await first.request("tsr/status", {}))["pid"]
    os.kill(pid, signal.SIGKILL)
    server = first.lsp._server
    assert server is not None
    code = await asyncio.wait_for(server.wait(), 10)
    assert code == 1
    assert any("lost the connection to the daemon" in m for m in first.messages)
    await first.lsp.stop()

    second = TsrClient()
    await second.start(STDIO)  # an index/lock left by the killed daemon must not matter
    try:
        status = await second.request("tsr/status", {})
        assert status["pid"] != pid and status["daemon"]
    finally:
        await second.stop()


def test_idle_daemon_exits(daemon_home: Path) -> None:
    import subprocess

    sock = daemon_home / "run" / "daemon.sock"
    proc = subprocess.Popen([*STDIO, "serve", "--idle-timeout", "1", "--socket", str(sock)])
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sock.exists()
    assert proc.wait(timeout=15) == 0
    assert not sock.exists()


async def test_editors_take_turns_for_a_model(daemon_home: Path) -> None:
    """One editor queues three chats, another then asks once: with the real general model,
    the second is answered right after the first chat, not after all three (FairLock)."""
    a, b = TsrClient(), TsrClient()
    await asyncio.gather(a.start(STDIO), b.start(STDIO))
    ask = {"text": "Count from one to twenty in words.", "model": "general"}
    ask |= {"maxTokens": 40, "cotSteps": 0, "temperature": 0.0}
    order: list[str] = []

    async def chat(client: TsrClient, tag: str) -> None:
        await client.request("tsr/generate", ask)
        order.append(tag)

    try:
        await a.request("tsr/generate", {**ask, "maxTokens": 2})  # the model is loaded
        first = [asyncio.create_task(chat(a, f"a{i}")) for i in range(3)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # one running, two queued
            models = (await b.request("tsr/status", {}))["loadedModels"]
            if models["general"]["queued"] >= 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.gather(chat(b, "b"), *first)
        assert order.index("b") == 1, order  # behind the running chat only (FIFO: last)
    finally:
        await asyncio.gather(a.stop(), b.stop())
