"""Raw bytes at the real server: malformed JSON-RPC gets an error and the server keeps going."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tsr_lsp.bench import wire

COMMANDS = {
    "in-process": [sys.executable, "-m", "tsr_lsp", "stdio", "--no-daemon"],
    "daemon": [sys.executable, "-m", "tsr_lsp"],  # the forwarder, then the daemon's socket
}


@pytest.fixture(params=list(COMMANDS))
def server(request: pytest.FixtureRequest, home: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        COMMANDS[request.param],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    wire.send(proc.stdin, wire.initialize_message())
    wire.wait_response(proc.stdout, 1)
    yield proc
    wire.shutdown(proc)
    lock = home / "run" / "daemon.lock"
    if lock.is_file():  # this test's own daemon
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(lock.read_text()), signal.SIGTERM)


def raw(proc: subprocess.Popen[bytes], body: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    proc.stdin.flush()


def still_serving(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    wire.send(proc.stdin, {"jsonrpc": "2.0", "id": 77, "method": "tsr/status", "params": {}})
    assert "models" in wire.wait_response(proc.stdout, 77)["result"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"\xff\xfe\x00binary", -32700),
        (b'["jsonrpc", "2.0"]', -32600),
        (b'{"id": 3, "method": "tsr/status"}', -32600),
    ],
)
def test_malformed_messages_get_errors(
    server: subprocess.Popen[bytes], body: bytes, code: int
) -> None:
    raw(server, body)
    assert server.stdout is not None
    reply = wire.read(server.stdout)
    assert reply["error"]["code"] == code
    still_serving(server)


def test_missing_content_length_is_reported(server: subprocess.Popen[bytes]) -> None:
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(b"X-Whatever: 1\r\n\r\n")
    server.stdin.flush()
    assert wire.read(server.stdout)["error"]["code"] == -32700
    still_serving(server)


def test_body_without_headers_is_reported(server: subprocess.Popen[bytes]) -> None:
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(b'{"jsonrpc": "2.0", "id": 9, "method": "tsr/status"}\r\n')
    server.stdin.flush()
    assert "Content-Length" in wire.read(server.stdout)["error"]["message"]
    still_serving(server)


def test_invalid_params_for_a_standard_method(server: subprocess.Popen[bytes]) -> None:
    assert server.stdout is not None
    raw(
        server,
        json.dumps(
            {"jsonrpc": "2.0", "id": 5, "method": "textDocument/hover", "params": {"x": 1}}
        ).encode(),
    )
    reply = wire.wait_response(server.stdout, 5)
    assert reply["error"]["code"] in (-32602, -32601)
    still_serving(server)


def test_huge_and_binary_documents_do_not_break_the_server(server: subprocess.Popen[bytes]) -> None:
    big = "x = 1\n" * 400_000  # 2.4 MB
    for text in (big, "\x00\x01\x02 binary \ufffd"):
        raw(
            server,
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/didOpen",
                    "params": {
                        "textDocument": {
                            "uri": "file:///tmp/a.py",
                            "languageId": "python",
                            "version": 1,
                            "text": text,
                        }
                    },
                }
            ).encode(),
        )
    still_serving(server)


def test_requests_after_shutdown_are_invalid(server: subprocess.Popen[bytes]) -> None:
    assert server.stdin is not None and server.stdout is not None
    wire.send(server.stdin, {"jsonrpc": "2.0", "id": 40, "method": "shutdown"})
    assert wire.wait_response(server.stdout, 40)["result"] is None
    wire.send(server.stdin, {"jsonrpc": "2.0", "id": 41, "method": "tsr/status", "params": {}})
    error = wire.wait_response(server.stdout, 41)["error"]
    assert error["code"] == -32600 and "shutting down" in error["message"]
    wire.send(server.stdin, {"jsonrpc": "2.0", "method": "exit"})
    assert server.wait(timeout=10) == 0


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_refused_and_the_connection_stays(
    server: subprocess.Popen[bytes], depth: int
) -> None:
    raw(
        server,
        b'{"jsonrpc": "2.0", "id": 8, "method": "tsr/route", "params": '
        + b"[" * depth
        + b"]" * depth
        + b"}",
    )
    assert server.stdout is not None
    assert "nested deeper" in wire.read(server.stdout)["error"]["message"]
    still_serving(server)


@pytest.mark.parametrize("value", [b"-5", b"abc", b"1e3"])
def test_bad_content_length_keeps_the_stream_in_step(
    server: subprocess.Popen[bytes], value: bytes
) -> None:
    assert server.stdin is not None and server.stdout is not None
    body = json.dumps({"jsonrpc": "2.0", "id": 12, "method": "tsr/status"}).encode()
    server.stdin.write(b"Content-Length: " + value + b"\r\n\r\n" + body)
    server.stdin.flush()
    assert "Content-Length" in wire.read(server.stdout)["error"]["message"]
    still_serving(server)  # its header follows the orphaned body on the same line
