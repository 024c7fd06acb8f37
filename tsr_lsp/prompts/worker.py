"""Template renders for the server, in a worker process that may be killed.

The sandbox (prompts/sandbox.py) budgets a render's work, but a render in the daemon runs
in the process every editor shares: a payload the budget misses could take its memory or
hold the interpreter lock. So the server renders previews here: a small child process
(``python -m tsr_lsp.prompts.worker``) with an address-space limit (RLIMIT_AS), one request
at a time over pipes, killed and replaced when it overruns its time.

``preview()`` is the pure part (what a preview returns); ``Renderer`` is the parent side,
owned by the Engine and shared by every connection.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)
MB = 1024 * 1024
STARTUP_S = 30.0  # the child's start and imports: not part of a render's time (load varies)
READY = b"ready"


def preview(name: str, source: str, path: str, values: dict[str, Any]) -> dict[str, Any]:
    """Render a template's body and system prompt with its samples, overridden by
    ``values``; a RenderError becomes ``{"error": ...}``."""
    from tsr_lsp.prompts.library import parse_template
    from tsr_lsp.prompts.sandbox import RenderError

    try:
        template = parse_template(name, source, Path(path))
        used = {**template.sample_values(), **values}
        text = template.render(used)
        system = template.render_system(used)
    except RenderError as exc:
        return {"error": str(exc)}
    plain = json.loads(json.dumps(used, default=str))
    return {"name": template.name, "system": system, "text": text, "values": plain}


class Worker:
    """One child process; not thread-safe (the Renderer hands it to one caller at a time)."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tsr_lsp.prompts.worker", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.buffer = b""
        self.ready = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """The child's answer, or None when it overran ``timeout_s`` or died (then it is
        killed: the caller makes a new one)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.kill()
            return None
        if not self.ready:  # the render's clock starts once the child has started
            if self._line(STARTUP_S) != READY:
                self.kill()
                return None
            self.ready = True
        line = self._line(timeout_s)
        if line is None:
            return None
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _line(self, timeout_s: float) -> bytes | None:
        """The child's next line; None (and the child killed) on overrun or death."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.kill()
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.kill()
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class Renderer:
    """Up to ``size`` idle workers, reused; a caller takes one for one render."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.idle: list[Worker] = []
        self.lock = threading.Lock()

    def preview(
        self,
        name: str,
        source: str,
        path: str,
        values: dict[str, Any],
        *,
        timeout_s: float,
        memory_mb: int,
    ) -> dict[str, Any]:
        worker = self._take(memory_mb)
        request = {"name": name, "source": source, "path": path, "values": values}
        answer = worker.call(request, timeout_s)
        if answer is None:
            return {
                "error": f"rendering stopped after {timeout_s:g} s (server.render_timeout_s); "
                "the template does too much work"
            }
        if "crash" in answer:  # the child gave up (out of memory): it exits
            worker.kill()
            return {"error": answer["crash"]}
        self._give(worker)
        return answer

    def _take(self, memory_mb: int) -> Worker:
        with self.lock:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive() and worker.memory_mb == memory_mb:
                    return worker
                worker.kill()
        return Worker(memory_mb)

    def _give(self, worker: Worker) -> None:
        with self.lock:
            if len(self.idle) < self.size:
                self.idle.append(worker)
                return
        worker.kill()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()


def serve(memory_mb: int, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The child: one JSON request per line in, one JSON answer per line out."""
    limit = memory_mb * MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import tsr_lsp.prompts.library  # noqa: F401  (imported before the first request's clock)

    stdout.write(READY + b"\n")
    stdout.flush()
    for line in stdin:
        try:
            req = json.loads(line)
            answer = preview(req["name"], req["source"], req["path"], req["values"] or {})
        except MemoryError:
            answer = {
                "crash": f"rendering needed more than {memory_mb} MB (server.render_memory_mb)"
            }
        except Exception as exc:  # a bug in a render must not lose the answer
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()
        if "crash" in answer:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), sys.stdin.buffer, sys.stdout.buffer))
