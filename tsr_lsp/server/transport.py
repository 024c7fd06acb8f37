"""Framing for LSP base protocol messages, robust to bad input.

pygls's own loop logs and drops a body that is not JSON; a client then waits forever. This
loop answers malformed input with a JSON-RPC error (-32700 parse error, -32600 invalid
request), refuses bodies over a size limit without buffering them and JSON nested deeper
than ``MAX_DEPTH``, and keeps serving. A bad or missing Content-Length gets an error and
the reader resynchronises on the next header, so one bad message never shifts the others.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import json
import logging
import os
import re
import stat
import sys
import threading
import typing
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import attrs
from pygls.protocol import JsonRPCProtocol

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# replies a daemon client has left unread: beyond this it is not reading; its connection is
# dropped rather than the daemon's memory growing with everything it keeps asking for
MAX_UNREAD_BYTES = 128 * 1024 * 1024
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def error_message(code: int, message: str, msg_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}


def send_raw(protocol: JsonRPCProtocol, payload: dict[str, Any]) -> None:
    """Write a hand-made JSON-RPC message through the protocol's writer."""
    send_body(protocol, json.dumps(payload).encode("utf-8"))


def send_body(protocol: JsonRPCProtocol, body: bytes) -> None:
    """Write an encoded JSON-RPC message, framed, through the protocol's writer."""
    header = f"Content-Length: {len(body)}\r\n\r\n".encode("ascii")
    if protocol.writer is not None:
        protocol.writer.write(header + body)  # our writers are synchronous


async def _skip(reader: asyncio.StreamReader, n: int) -> None:
    while n > 0:
        chunk = await reader.read(min(n, 1 << 20))
        if not chunk:
            return
        n -= len(chunk)


MAX_DEPTH = 100  # LSP messages nest a dozen levels; deeper is an attack or a bug
_LENGTH = re.compile(rb"\s*(\d{1,15})\s*")
_CONTENT_LENGTH = b"content-length"


class Framing:
    """One message's headers as read: the Content-Length, or why there is none."""

    def __init__(self) -> None:
        self.length: int | None = None
        self.problem = ""


async def read_headers(reader: asyncio.StreamReader, protocol: JsonRPCProtocol) -> Framing | None:
    """Read one header block; None at end of stream. Junk before a header is reported and
    skipped, so a bad message never puts the stream out of step with the next one."""
    framing = Framing()
    seen_header = False
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # a line over the reader's limit: asyncio dropped it
            send_raw(protocol, error_message(PARSE_ERROR, "header line too long; skipped"))
            continue
        if not line:
            return None
        stripped = line.strip()
        if not stripped:
            if seen_header:
                return framing
            continue  # tolerate stray blank lines between messages
        at = stripped.lower().find(_CONTENT_LENGTH)
        if at > 0:  # a body without a header, glued to the next message's header
            send_raw(protocol, error_message(PARSE_ERROR, _junk_message(stripped[:at])))
            stripped = stripped[at:]
        elif at < 0 and stripped.startswith((b"{", b"[")):
            send_raw(protocol, error_message(PARSE_ERROR, _junk_message(stripped)))
            continue
        seen_header = True
        name, sep, value = stripped.partition(b":")
        if sep and name.strip().lower() == _CONTENT_LENGTH:
            match = _LENGTH.fullmatch(value)
            if match:
                framing.length = int(match.group(1))
            else:
                shown = value.strip()[:40].decode("ascii", "replace")
                framing.problem = f"invalid Content-Length {shown!r} (expected a byte count)"


def _junk_message(junk: bytes) -> str:
    if junk.startswith((b"{", b"[")):
        return "JSON body without a Content-Length header"
    return f"unexpected bytes before a header ({len(junk)} bytes skipped)"


async def read_messages(
    reader: asyncio.StreamReader,
    protocol: JsonRPCProtocol,
    stop: threading.Event | None = None,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> None:
    """Read framed messages until EOF (or ``stop``) and hand each to the protocol."""
    while stop is None or not stop.is_set():
        framing = await read_headers(reader, protocol)
        if framing is None:
            return
        length = framing.length
        if length is None:
            problem = framing.problem or "missing Content-Length header"
            send_raw(protocol, error_message(PARSE_ERROR, problem))
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


def too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON data nests deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_ID_VALUE = re.compile(rb'\s*:\s*(-?\d{1,18}|"(?:[^"\\]|\\.){0,200}")\s*[,}]')
EDGE = 4096  # a deep message's top-level members sit before or after its nesting
_OPEN, _CLOSE = (b"{", b"["), (b"}", b"]")


def request_id(body: bytes) -> Any:
    """The top-level ``id`` of a request too deep for the JSON parser (so the error can name
    the request), found in the message's first and last few KB by a scan that follows
    strings and brackets; None if there is none, or no ``method`` (a response is owed
    nothing)."""
    members: dict[bytes, Any] = {}
    head = _TOKEN.finditer(body, 0, min(len(body), EDGE))
    _top_level(body, head, _OPEN, _CLOSE, members)
    # backwards from the end: a token's depth = closers after it - openers
    tail = reversed(list(_TOKEN.finditer(body, max(EDGE, len(body) - EDGE))))
    _top_level(body, tail, _CLOSE, _OPEN, members)
    return members.get(b'"id"') if b'"method"' in members else None


def _top_level(
    body: bytes,
    tokens: Iterable[re.Match[bytes]],
    deeper: tuple[bytes, ...],
    shallower: tuple[bytes, ...],
    members: dict[bytes, Any],
) -> None:
    depth = 0
    for m in tokens:
        token = m.group()
        if token in deeper:
            depth += 1
        elif token in shallower:
            depth -= 1
        elif depth == 1:
            _note(body, m, members)


def _note(body: bytes, m: re.Match[bytes], members: dict[bytes, Any]) -> None:
    token = m.group()
    if token == b'"method"':
        members[token] = True
    elif token == b'"id"' and (value := _ID_VALUE.match(body, m.end())) is not None:
        with contextlib.suppress(ValueError):
            members[token] = json.loads(value.group(1))


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, int | str | float) and not isinstance(value, bool))


def shape_problem(data: Any) -> str | None:
    """What makes a parsed message no JSON-RPC 2.0 message, or None."""
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        return "not a JSON-RPC 2.0 object"
    if not _valid_id(data.get("id")):
        return "'id' must be a string or a number"
    if "method" in data:
        if not isinstance(data["method"], str):
            return "'method' must be a string"
    elif "result" not in data and "error" not in data:
        return "a request or notification needs a 'method'"
    return None


def dispatch(protocol: JsonRPCProtocol, body: bytes) -> None:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("malformed JSON-RPC body: %s", exc)
        send_raw(
            protocol, error_message(PARSE_ERROR, f"parse error: body is not valid JSON ({exc})")
        )
        return
    except RecursionError:
        send_raw(
            protocol,
            error_message(
                INVALID_REQUEST, f"JSON nested deeper than {MAX_DEPTH} levels", request_id(body)
            ),
        )
        return
    msg_id = data.get("id") if isinstance(data, dict) else None
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and too_deep(data):
        if not (isinstance(data, dict) and "method" in data and msg_id is not None):
            msg_id = None  # a notification or a response: the error names no request
        send_raw(
            protocol,
            error_message(INVALID_REQUEST, f"JSON nested deeper than {MAX_DEPTH} levels", msg_id),
        )
        return
    problem = shape_problem(data)
    if problem is not None:
        if not _valid_id(msg_id):
            msg_id = None
        if not isinstance(data, dict) or "method" in data or "id" in data:
            send_raw(
                protocol, error_message(INVALID_REQUEST, f"invalid request: {problem}", msg_id)
            )
        else:
            log.warning("dropped a message: %s", problem)  # a notification: nobody to tell
        return
    try:
        message = protocol.structure_message(data)  # the top level only: params as parsed
    except Exception as exc:
        log.warning("cannot decode %s: %s", data.get("method"), exc)
        if msg_id is not None and "method" in data:
            send_raw(
                protocol,
                error_message(
                    -32602,
                    f"invalid params for {data.get('method')}: {_described(exc)}",
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
        if self._writer.is_closing():
            return
        transport = self._writer.transport
        unread = transport.get_write_buffer_size()
        if unread > MAX_UNREAD_BYTES:  # one big reply is fine; a backlog this size is not
            log.warning(
                "a client left %d MB of replies unread: closing its connection", unread >> 20
            )
            transport.abort()  # close() would wait for the unread bytes to be sent
            return
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
        """``params`` (and a ``result``) may be omitted; unknown top-level keys are ignored."""
        return cls(**{name: obj.get(name) for name in attrs.fields_dict(cls)})

    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, as_is)
    converter.register_structure_hook_factory(_is_array_type, lambda t: _array_hook(converter, t))
    return converter


_ARRAY_ORIGINS = (list, collections.abc.Sequence, collections.abc.MutableSequence)


def _is_array_type(t: Any) -> bool:
    return typing.get_origin(t) in _ARRAY_ORIGINS


def _array_hook(converter: Any, t: Any) -> Callable[[Any, Any], Any]:
    """Arrays in LSP params: a JSON array, given up at the first bad item. cattrs turns any
    iterable into a list and collects an exception per item: a 100,000-character string
    sent as ``context.diagnostics`` took 15 s on the daemon's event loop (every client
    waited), 100,000 bad items 8 s."""
    args = typing.get_args(t)
    item = args[0] if args else Any
    make = tuple if typing.get_origin(t) is collections.abc.Sequence else list
    if item is Any:
        return lambda obj, _: _checked_array(obj, t) and make(obj)
    try:
        handler = converter.get_structure_hook(item)
    except RecursionError:  # a type that contains itself: bind late
        handler = converter.structure

    def structure(obj: Any, _: Any) -> Any:
        _checked_array(obj, t)
        out = []
        for index, value in enumerate(obj):
            try:
                out.append(handler(value, item))
            except Exception as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return make(out)

    return structure


def _described(exc: BaseException) -> str:
    """What was wrong, with the path into the message (cattrs's own text is only 'While
    structuring CodeActionRequest (1 sub-exception)')."""
    from cattrs import BaseValidationError, transform_error

    error = exc.__cause__ or exc
    if isinstance(error, BaseValidationError):
        found = transform_error(error, path="$")
        return "; ".join(found[:3]) + (f" (+{len(found) - 3} more)" if len(found) > 3 else "")
    return str(error)


def _checked_array(obj: Any, t: Any) -> bool:
    if not isinstance(obj, (list, tuple)):
        raise TypeError(f"expected an array ({t}), got {type(obj).__name__}")
    return True
