"""Framing for LSP base protocol messages, robust to bad input.

pygls's own loop logs and drops a body that is not JSON; a client then waits forever. This
loop answers malformed input with a JSON-RPC error (-32700 parse error, -32600 invalid
request), refuses bodies over a size limit without buffering them, and keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
import threading
from typing import Any, BinaryIO

from pygls.protocol import JsonRPCProtocol

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def error_message(code: int, message: str, msg_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def send_raw(protocol: JsonRPCProtocol, payload: dict[str, Any]) -> None:
    """Write a hand-made JSON-RPC message through the protocol's writer."""
    body = json.dumps(payload).encode("utf-8")
    header = f"Content-Length: {len(body)}\r\n\r\n".encode("ascii")
    if protocol.writer is not None:
        protocol.writer.write(header + body)  # our writers are synchronous


async def _skip(reader: asyncio.StreamReader, n: int) -> None:
    while n > 0:
        chunk = await reader.read(min(n, 1 << 20))
        if not chunk:
            return
        n -= len(chunk)


async def read_messages(
    reader: asyncio.StreamReader,
    protocol: JsonRPCProtocol,
    stop: threading.Event | None = None,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> None:
    """Read framed messages until EOF (or ``stop``) and hand each to the protocol."""
    while stop is None or not stop.is_set():
        length: int | None = None
        seen_header = False
        while True:
            line = await reader.readline()
            if not line:
                return
            stripped = line.strip()
            if not stripped:
                if seen_header:
                    break
                continue  # tolerate stray blank lines between messages
            if stripped.startswith((b"{", b"[")):
                send_raw(
                    protocol,
                    error_message(PARSE_ERROR, "JSON body without a Content-Length header"),
                )
                continue
            seen_header = True
            name, sep, value = stripped.partition(b":")
            if sep and name.strip().lower() == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    length = None
        if length is None or length < 0:
            send_raw(
                protocol, error_message(PARSE_ERROR, "missing or invalid Content-Length header")
            )
            continue
        if length > max_bytes:
            await _skip(reader, length)
            send_raw(
                protocol,
                error_message(
                    INVALID_REQUEST,
                    f"message of {length:,} bytes exceeds the {max_bytes:,} byte limit",
                ),
            )
            continue
        try:
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return
        dispatch(protocol, body)


def dispatch(protocol: JsonRPCProtocol, body: bytes) -> None:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("malformed JSON-RPC body: %s", exc)
        send_raw(
            protocol, error_message(PARSE_ERROR, f"parse error: body is not valid JSON ({exc})")
        )
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        msg_id = data.get("id") if isinstance(data, dict) else None
        send_raw(
            protocol,
            error_message(INVALID_REQUEST, "invalid request: not a JSON-RPC 2.0 object", msg_id),
        )
        return
    msg_id = data.get("id")
    try:
        message = json.loads(body, object_hook=protocol.structure_message)
    except Exception as exc:
        log.warning("cannot decode %s: %s", data.get("method"), exc)
        if msg_id is not None and "method" in data:
            send_raw(
                protocol,
                error_message(
                    -32602,
                    f"invalid params for {data.get('method')}: {exc.__cause__ or exc}",
                    msg_id,
                ),
            )
        return
    try:
        protocol.handle_message(message)
    except Exception:
        log.exception("error handling %s", data.get("method"))
        if msg_id is not None and "method" in data:
            send_raw(protocol, error_message(-32603, "internal error", msg_id))


class StdoutWriter:
    """Blocking writes to stdout; one lock so threads never interleave two messages."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        pass


class StreamWriterAdapter:
    """An asyncio StreamWriter (daemon socket) behind pygls's writer interface."""

    def __init__(self, writer: asyncio.StreamWriter):
        self._writer = writer

    def write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()


async def stdin_reader(stream: BinaryIO | None = None) -> asyncio.StreamReader:
    """An asyncio reader over stdin: a pipe transport when possible, else a reader thread."""
    stream = stream or sys.stdin.buffer
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_MESSAGE_BYTES)
    mode = os.fstat(stream.fileno()).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):  # what editors give us
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stream)
    else:  # a file, /dev/null or a terminal: epoll cannot watch all of these

        def pump() -> None:
            while chunk := os.read(stream.fileno(), 1 << 16):
                loop.call_soon_threadsafe(reader.feed_data, chunk)
            loop.call_soon_threadsafe(reader.feed_eof)

        threading.Thread(target=pump, daemon=True, name="stdin").start()
    return reader


def plain_converter() -> Any:
    """pygls's converter, except custom (tsr/*) params and results stay plain dicts.

    pygls turns unknown payloads into namedtuples, which lose key names like ``from``
    and cannot be validated with ordinary dict code.
    """
    from pygls.protocol import (
        JsonRPCNotification,
        JsonRPCRequestMessage,
        JsonRPCResponseMessage,
        default_converter,
    )

    converter = default_converter()

    def as_is(obj: dict[str, Any], cls: type) -> Any:
        return cls(**obj)

    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, as_is)
    return converter
