"""Framing and parsing at the server's edge (server/transport.py): every bad message gets an
error and the message after it is still read in step. The real protocol object answers."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

from tsr_lsp.server.app import EngineHolder, TsrLanguageServer
from tsr_lsp.server.daemon import ExitWatcher
from tsr_lsp.server.transport import MAX_DEPTH, read_messages, too_deep


class Capture:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def messages(self) -> list[dict[str, Any]]:
        out, rest = [], self.data
        while rest:
            head, _, rest = rest.partition(b"\r\n\r\n")
            length = int(head.split(b"\r\n")[0].split(b":")[1])
            out.append(json.loads(rest[:length]))
            rest = rest[length:]
        return out


def frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def probe(msg_id: int) -> bytes:
    """A request every server answers (an unknown method: -32601 with its id)."""
    return frame({"jsonrpc": "2.0", "id": msg_id, "method": "probe/unknown"})


async def replies(stream: bytes) -> list[dict[str, Any]]:
    server = TsrLanguageServer(EngineHolder())
    out = Capture()
    server.protocol.set_writer(out)
    reader = asyncio.StreamReader()
    reader.feed_data(stream)
    reader.feed_eof()
    await read_messages(reader, server.protocol)
    await asyncio.sleep(0.05)
    return out.messages()


def in_step(got: list[dict[str, Any]], errors: int) -> None:
    """``errors`` error replies without an id, then the probe answered with its own id."""
    assert [m.get("id") for m in got] == [None] * errors + [7], got
    assert got[-1]["error"]["code"] == -32601


BODY = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "probe/unknown"}).encode()


@pytest.mark.parametrize("value", [b"-5", b"abc", b"1e3", b"5_0", b"", b"0x10"])
async def test_bad_content_length_is_an_error_and_the_stream_stays_in_step(value: bytes) -> None:
    got = await replies(b"Content-Length: " + value + b"\r\n\r\n" + BODY + probe(7))
    assert "Content-Length" in got[0]["error"]["message"]
    assert got[0]["error"]["code"] == -32700
    in_step(got, 2)  # the header, then the orphaned body glued to the probe's header


async def test_missing_content_length_header() -> None:
    got = await replies(b"Content-Type: x\r\n\r\n" + BODY + b"\r\n" + probe(7))
    assert "missing Content-Length" in got[0]["error"]["message"]
    in_step(got, 2)


async def test_a_body_without_header_glued_to_the_next_message() -> None:
    got = await replies(BODY + probe(7))
    assert "without a Content-Length" in got[0]["error"]["message"]
    in_step(got, 1)


async def test_json_nested_too_deep_for_the_parser_gets_an_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    got = await replies(frame(deep) + probe(7))
    assert "nested deeper" in got[0]["error"]["message"]
    in_step(got, 1)


async def test_a_request_too_deep_for_the_parser_is_refused_with_its_id() -> None:
    nested = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    body = (
        b'{"jsonrpc": "2.0", "params": {"id": 1, "x": ' + nested + b'}, "id": "r-9", "method": "m"}'
    )
    got = await replies(frame(body) + probe(7))
    assert got[0]["id"] == "r-9" and "nested deeper" in got[0]["error"]["message"]
    assert got[1]["id"] == 7


async def test_a_deep_request_is_refused_with_its_id() -> None:
    value: Any = 1
    for _ in range(MAX_DEPTH + 5):
        value = {"a": value}
    request = {"jsonrpc": "2.0", "id": 4, "method": "tsr/route", "params": value}
    got = await replies(frame(request) + probe(7))
    assert got[0]["id"] == 4 and got[0]["error"]["code"] == -32600
    assert got[1]["id"] == 7


def test_too_deep_counts_levels() -> None:
    assert not too_deep({"a": [{"b": 1}]}, 3)
    assert too_deep({"a": [{"b": 1}]}, 2)
    assert not too_deep("text", 0)


def test_exit_watcher_streams_big_bodies_and_sees_exit() -> None:
    big = frame({"jsonrpc": "2.0", "method": "x", "params": {"t": "e" * 3_000_000}})
    stream = big + frame({"jsonrpc": "2.0", "method": "exit"})
    watcher = ExitWatcher()
    for i in range(0, len(stream), 4096):
        watcher.feed(stream[i : i + 4096])
        assert len(watcher.header) + len(watcher.body) < 70_000  # never buffers the body
    assert watcher.exit_seen
    one_byte = ExitWatcher()
    for b in frame({"jsonrpc": "2.0", "method": "exited"}):
        one_byte.feed(bytes([b]))
    assert not one_byte.exit_seen


def test_forwarder_exits_0_when_the_daemon_closes_right_after_exit() -> None:
    """The daemon closes the connection as soon as it reads `exit`; the forwarder must know
    it asked for that even when its stdin thread is slow (a loaded machine): a slow watcher
    here once made every clean exit look like a lost daemon (exit code 1)."""
    import socket
    import subprocess
    import sys

    ours, theirs = socket.socketpair()
    code = (
        "import socket, sys, time\n"
        "from tsr_lsp.server import daemon\n"
        "feed = daemon.ExitWatcher.feed\n"
        "def slow(self, chunk):\n"
        "    time.sleep(0.3)\n"
        "    feed(self, chunk)\n"
        "daemon.ExitWatcher.feed = slow\n"
        f"sock = socket.socket(fileno={theirs.fileno()})\n"
        "raise SystemExit(daemon.forward_stdio(sock))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=[theirs.fileno()],
    )
    theirs.close()
    assert proc.stdin is not None
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    proc.stdin.flush()
    got = b""
    while b'"exit"' not in got:
        got += ours.recv(4096)
    ours.close()  # what the daemon does on exit
    assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else b""
    proc.stdin.close()


def test_protocol_stdout_survives_a_library_silencing_fd_1() -> None:
    """llama-cpp-python points fds 1 and 2 at /dev/null while it loads a model; the
    protocol's stream must still reach the client, and stray writes to fd 1 go to stderr."""
    import subprocess
    import sys

    code = (
        "import os\n"
        "from tsr_lsp.server.app import protocol_stdout\n"
        "out = protocol_stdout()\n"
        "os.write(1, b'stray')\n"
        "saved = os.dup(1)\n"
        "os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # what llama.cpp does while loading\n"
        "out.write(b'reply'); out.flush()\n"
        "os.dup2(saved, 1)\n"
        "print('printed')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"reply"
    assert b"stray" in proc.stderr and b"printed" in proc.stderr


@pytest.mark.parametrize(
    ("message", "reply_id", "fragment"),
    [
        ({"jsonrpc": "2.0", "id": [1], "method": "tsr/status"}, None, "'id' must be"),
        ({"jsonrpc": "2.0", "id": True, "method": "tsr/status"}, None, "'id' must be"),
        ({"jsonrpc": "2.0", "id": 5, "params": {}}, 5, "needs a 'method'"),
        ({"jsonrpc": "2.0", "id": 6, "method": 3}, 6, "'method' must be a string"),
    ],
)
async def test_malformed_requests_are_invalid(
    message: dict[str, Any], reply_id: Any, fragment: str
) -> None:
    got = await replies(frame(message) + probe(7))
    assert got[0]["id"] == reply_id and got[0]["error"]["code"] == -32600
    assert fragment in got[0]["error"]["message"]
    assert got[1]["id"] == 7


async def test_a_notification_without_method_is_dropped_quietly() -> None:
    got = await replies(frame({"jsonrpc": "2.0", "params": {}}) + probe(7))
    assert [m.get("id") for m in got] == [7]


@pytest.mark.parametrize("body", [b"null", b'"a string"', b"3", b"[]"])
async def test_json_that_is_no_object_is_invalid(body: bytes) -> None:
    got = await replies(frame(body) + probe(7))
    assert got[0]["error"]["code"] == -32600 and got[1]["id"] == 7


@pytest.mark.parametrize("diagnostics", ["x" * 100_000, [1] * 100_000])
async def test_an_array_param_that_is_no_array_is_refused_at_once(diagnostics: Any) -> None:
    """cattrs structured a string as a list character by character, an exception each: a
    100,000-character ``context.diagnostics`` held the daemon's event loop for 15 s."""
    zero = {"line": 0, "character": 0}
    params = {
        "textDocument": {"uri": "file:///a.py"},
        "range": {"start": zero, "end": zero},
        "context": {"diagnostics": diagnostics},
    }
    message = {"jsonrpc": "2.0", "id": 5, "method": "textDocument/codeAction", "params": params}
    got = await replies(frame(message) + probe(7))
    assert got[0]["id"] == 5 and "context.diagnostics" in got[0]["error"]["message"], got[0]
    assert got[1]["id"] == 7


def test_a_plain_result_is_sent_as_the_converter_would_and_objects_inside_still_convert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tsr/* results skip cattrs's walk (it held the event loop for big memory exports) but
    the wire carries the same JSON; an lsprotocol object inside is still converted, and a
    null result stays in the message."""
    from lsprotocol import types

    server = TsrLanguageServer(EngineHolder())
    out = Capture()
    server.protocol.set_writer(out)
    walked: list[Any] = []

    class Recording:  # the converter, noting what it is asked to walk
        def __init__(self, real: Any) -> None:
            self.real = real

        def unstructure(self, obj: Any, *args: Any) -> Any:
            walked.append(obj)
            return self.real.unstructure(obj, *args)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    monkeypatch.setattr(server.protocol, "_converter", Recording(server.protocol._converter))
    episodes = [{"id": f"{i:016x}", "text": "a note", "tags": ["x"], "ts": 1.5} for i in range(50)]
    pos = types.Position(line=1, character=2)
    server.protocol._send_response(5, result={"episodes": episodes, "at": pos, "none": None})
    server.protocol._send_response(6, result=None)
    first, second = out.messages()
    assert first == {
        "jsonrpc": "2.0",
        "id": 5,
        "result": {"episodes": episodes, "at": {"line": 1, "character": 2}, "none": None},
    }
    assert second == {"jsonrpc": "2.0", "id": 6, "result": None}
    assert walked == [pos]  # only the object, not the whole result


def test_a_result_encoded_in_a_worker_thread_reaches_the_wire_as_the_plain_one_would() -> None:
    """A memory export is encoded item by item off the event loop (feature.Encoded): the
    client reads the same JSON, framed by its byte length (non-ASCII text included)."""
    from tsr_lsp.server.feature import encode_items

    server = TsrLanguageServer(EngineHolder())
    out = Capture()
    server.protocol.set_writer(out)
    episodes = [
        {"id": f"{i:016x}", "text": "naïve café ✓", "tags": [], "ts": 1.5} for i in range(3)
    ]
    server.protocol._send_response("req-1", result=encode_items("episodes", episodes))
    server.protocol._send_response(2, result=encode_items("episodes", []))
    server.protocol._send_response(3, result={"episodes": episodes})
    first, empty, plain = out.messages()
    assert first == {"jsonrpc": "2.0", "id": "req-1", "result": {"episodes": episodes}}
    assert empty == {"jsonrpc": "2.0", "id": 2, "result": {"episodes": []}}
    assert plain["result"] == first["result"]


async def test_a_daemon_client_that_leaves_its_replies_unread_is_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from tsr_lsp.server import transport

    monkeypatch.setattr(transport, "MAX_UNREAD_BYTES", 1 << 20)
    ours, theirs = socket.socketpair()
    _reader, writer = await asyncio.open_connection(sock=ours)
    adapter = transport.StreamWriterAdapter(writer)
    adapter.write(b"x" * (5 << 20))  # one reply bigger than the limit: sent, the peer reads none
    assert not writer.is_closing()
    assert writer.transport.get_write_buffer_size() > 1 << 20
    adapter.write(b"y" * 100)  # the next one finds a backlog: the connection is dropped
    assert writer.is_closing()
    await asyncio.sleep(0)
    theirs.setblocking(False)
    received = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := theirs.recv(1 << 20):
            received += chunk
    assert b"y" not in received  # dropped, not queued behind the backlog
    theirs.close()
