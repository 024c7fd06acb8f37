"""Minimal synchronous LSP framing over a subprocess, for precise timings in benchmarks."""

from __future__ import annotations

import json
import subprocess
from typing import IO, Any


def send(stream: IO[bytes], message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    stream.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    stream.flush()


def read(stream: IO[bytes]) -> dict[str, Any]:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("server closed the stream")
        if not line.strip():
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    result: dict[str, Any] = json.loads(stream.read(length))
    return result


def wait_response(stream: IO[bytes], msg_id: int) -> dict[str, Any]:
    while True:
        msg = read(stream)
        if msg.get("id") == msg_id and "method" not in msg:
            return msg


def initialize_message(msg_id: int = 1, root_uri: str | None = None) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "initialize",
        "params": {"processId": None, "rootUri": root_uri, "capabilities": {}},
    }


def shutdown(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    try:
        send(proc.stdin, {"jsonrpc": "2.0", "id": 999, "method": "shutdown"})
        wait_response(proc.stdout, 999)
        send(proc.stdin, {"jsonrpc": "2.0", "method": "exit"})
        proc.wait(timeout=10)
    except Exception:
        proc.kill()
        proc.wait()
