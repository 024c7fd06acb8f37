"""A raw LSP connection for the reliability bench: sends any bytes (hostile ones included),
matches replies to requests by id and times them.

pygls's client cannot send malformed frames and hides a closed connection behind its own
loop, so the bench speaks the base protocol itself. Requests the server sends
(``workspace/configuration``, ``window/workDoneProgress/create`` ...) are answered with
``null`` so the server never waits on the bench.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

READ_LIMIT = 256 * 1024 * 1024
WRITE_TIMEOUT_S = 60.0  # a server that stops reading for this long counts as lost


def frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


class Closed(Exception):
    """The server closed the connection."""


class RawConnection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        proc: asyncio.subprocess.Process | None = None,
        label: str = "",
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.proc = proc
        self.label = label
        self.closed = False  # the server side closed (EOF)
        self.closing = False  # we are closing on purpose
        self.stalled = False  # the server stopped reading what we send
        self.replies: dict[Any, dict[str, Any]] = {}
        self.messages: list[str] = []  # window/showMessage texts
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}  # uri -> the last published
        self.unparsable = 0  # frames from the server that were not JSON
        self._waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1_000_000)
        self._task = asyncio.create_task(self._read_loop())

    # ------------------------------------------------------------------ opening
    @classmethod
    async def stdio(
        cls, cmd: list[str], env: dict[str, str], label: str = "stdio"
    ) -> RawConnection:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            limit=READ_LIMIT,
        )
        assert proc.stdout is not None and proc.stdin is not None
        return cls(proc.stdout, proc.stdin, proc, label)

    @classmethod
    async def unix(cls, path: Path, label: str = "socket") -> RawConnection:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=READ_LIMIT)
        return cls(reader, writer, None, label)

    # ------------------------------------------------------------------ sending
    def next_id(self) -> int:
        return next(self._ids)

    async def send_bytes(self, data: bytes) -> None:
        if self.closed:
            raise Closed(self.label)
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), WRITE_TIMEOUT_S)
        except TimeoutError as exc:
            self.stalled = True
            raise Closed(f"{self.label}: the server stopped reading") from exc
        except (ConnectionError, RuntimeError) as exc:
            self.closed = True
            raise Closed(self.label) from exc

    async def send(self, message: dict[str, Any] | bytes) -> None:
        await self.send_bytes(frame(message))

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def expect(self, msg_id: Any) -> asyncio.Future[dict[str, Any]]:
        """A future for the reply to ``msg_id`` (register before sending)."""
        future = self._waiters.get(msg_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            if msg_id in self.replies:
                future.set_result(self.replies.pop(msg_id))
            elif self.closed:
                future.set_exception(Closed(self.label))
            self._waiters[msg_id] = future
        return future

    async def request(
        self, method: str, params: Any = None, timeout: float = 30.0
    ) -> tuple[dict[str, Any] | None, float]:
        """Send a request; the reply (None on timeout) and the latency in ms."""
        msg_id = self.next_id()
        future = self.expect(msg_id)
        start = time.perf_counter()
        await self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        try:
            reply = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            reply = None
        finally:
            if future.done() or reply is None:
                self._waiters.pop(msg_id, None)
        return reply, (time.perf_counter() - start) * 1000

    async def initialize(self, root: Path | None = None, timeout: float = 30.0) -> dict[str, Any]:
        params = {
            "processId": None,
            "rootUri": root.as_uri() if root else None,
            "capabilities": {"window": {"workDoneProgress": True}},
        }
        reply, _ = await self.request("initialize", params, timeout)
        if reply is None or "result" not in reply:
            raise Closed(f"{self.label}: initialize failed: {reply}")
        await self.notify("initialized", {})
        return reply["result"]

    async def close(self, polite: bool = True) -> None:
        """shutdown + exit (when ``polite``), then close our end."""
        self.closing = True
        if polite and not self.closed and not self.stalled:
            with contextlib.suppress(Closed, ConnectionError):
                await self.request("shutdown", None, timeout=5)
                await self.notify("exit")
        with contextlib.suppress(Exception):
            self.writer.close()
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    # ------------------------------------------------------------------ reading
    async def _read_loop(self) -> None:
        try:
            while True:
                length = None
                while True:
                    line = await self.reader.readline()
                    if not line:
                        return
                    if not line.strip():
                        if length is not None:
                            break
                        continue
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await self.reader.readexactly(length)
                try:
                    message = json.loads(body)
                except ValueError:
                    self.unparsable += 1
                    continue
                if isinstance(message, dict):
                    await self._handle(message)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self.closed = True
            for future in self._waiters.values():
                if not future.done():
                    future.set_exception(Closed(self.label))
                    future.exception()  # retrieved: nobody may be waiting any more

    async def _handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            msg_id = message.get("id")
            future = self._waiters.pop(msg_id, None) if _hashable(msg_id) else None
            if future is not None and not future.done():
                future.set_result(message)
            elif _hashable(msg_id):
                self.replies[msg_id] = message
                if len(self.replies) > 10_000:
                    self.replies.pop(next(iter(self.replies)))
        elif "id" in message:  # a request from the server: never leave it waiting
            result: Any = None
            if method == "workspace/configuration":
                items = (message.get("params") or {}).get("items") or []
                result = [None for _ in items]
            with contextlib.suppress(Closed):
                await self.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
        elif method == "textDocument/publishDiagnostics":
            params = message.get("params") or {}
            uri = params.get("uri")
            if isinstance(uri, str) and (uri in self.diagnostics or len(self.diagnostics) < 1000):
                self.diagnostics[uri] = list(params.get("diagnostics") or [])
        elif method == "window/showMessage":
            text = (message.get("params") or {}).get("message")
            if isinstance(text, str) and len(self.messages) < 1000:
                self.messages.append(text)


def _hashable(value: Any) -> bool:
    return isinstance(value, (int, str, float, type(None)))
