"""Tiny hand-written HTTP servers on loopback that misbehave on purpose (for openai_http).

Each one is real (a socket, a thread) and stops when its context manager exits.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[["Recorder", BaseHTTPRequestHandler], None]


class Recorder:
    """What the server saw, plus an event that releases stalled handlers at teardown."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.lock = threading.Lock()

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["path"].endswith(path))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(handler: Handler) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with recorder.lock:
                recorder.requests.append(
                    {
                        "path": self.path,
                        "method": self.command,
                        "headers": dict(self.headers),
                        "body": json.loads(body) if body else None,
                    }
                )

        def do_GET(self) -> None:
            self._record()
            handler(recorder, self)

        def do_POST(self) -> None:
            self._record()
            handler(recorder, self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", recorder
    finally:
        recorder.release.set()
        server.shutdown()
        server.server_close()


def send_json(h: BaseHTTPRequestHandler, status: int, obj: Any, **headers: str) -> None:
    body = json.dumps(obj).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    for key, value in headers.items():
        h.send_header(key.replace("_", "-"), value)
    h.end_headers()
    h.wfile.write(body)


def send_sse(h: BaseHTTPRequestHandler, events: list[Any], done: bool = True) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Connection", "close")
    h.end_headers()
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event)
        h.wfile.write(f"data: {data}\n\n".encode())
        h.wfile.flush()
    if done:
        h.wfile.write(b"data: [DONE]\n\n")
    h.wfile.flush()
    h.close_connection = True


def chat_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def one_chunk_then_silence(text: str) -> Handler:
    """A chat stream that sends ``text`` and then nothing until teardown."""

    def handler(rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        if models_ok(h):
            return
        send_sse(h, [chat_chunk(text)], done=False)
        rec.release.wait(30)

    return handler


def models_ok(h: BaseHTTPRequestHandler) -> bool:
    """Answer GET /models like an OpenAI server; True when it was that request."""
    if h.command == "GET" and h.path.endswith("/models"):
        send_json(h, 200, {"object": "list", "data": [{"id": "tiny", "object": "model"}]})
        return True
    return False
