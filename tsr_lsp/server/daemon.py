"""The shared daemon (one Engine, many editors) and the stdio forwarder that reaches it.

pygls's ``start_tcp`` binds every connection to one protocol object and stops when the
first client leaves, so the daemon runs its own accept loop: each connection gets its own
TsrLanguageServer (its own LSP session) over the one shared Engine.

The socket lives in a private (0700) runtime folder and is itself 0600. A ``flock`` on a
lock file makes sure two editors starting at once end up with one daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from tsr_lsp import paths, release

if TYPE_CHECKING:  # the forwarder below runs with every editor: it does without asyncio
    import asyncio

log = logging.getLogger(__name__)

SOCKET_NAME = "daemon.sock"
M_MMAP_THRESHOLD = -3  # mallopt parameters (malloc.h)
M_ARENA_MAX = -8


def default_socket_path() -> Path:
    return paths.runtime_dir() / SOCKET_NAME


def socket_alive(path: Path, timeout: float = 0.5) -> bool:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        sock.close()


MMAP_THRESHOLD = 1024 * 1024  # 64 KB measured no better (docs/RELIABILITY.md, stop 24)


def tune_malloc() -> None:
    """glibc keeps freed memory for reuse: after a client sends a 50 MB document, the
    daemon would stay 50+ MB bigger. Big blocks (over 1 MB) are mapped and unmapped on their
    own (a fixed threshold: glibc otherwise raises it after the first big free), and fewer
    arenas fragment less across the worker threads."""
    libc = release.glibc()
    if libc is not None:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(M_ARENA_MAX, 4)


def daemon_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The daemon's environment: ``environ`` with Python's small-object allocator off
    (PYTHONMALLOC=malloc) unless the user chose one. pymalloc only returns a 1 MiB arena
    when every object in it is gone: after a hostile burst (JSON of 2,000-episode imports,
    50 MB documents, big lint results) one survivor per arena kept 390 arenas (410 MB) with
    35 MB in use, and the daemon stayed at 5x its idle RSS. glibc's free pages go back with
    ``malloc_trim`` (tsr_lsp/release.py): the clients probe of docs/RELIABILITY.md idles at
    148 MB instead of 500."""
    env = dict(environ)
    env.setdefault("PYTHONMALLOC", "malloc")
    return env


STATE_ENV = "TSR_LSP_DAEMON_STATE"  # what a recycling daemon hands the image it execs


def should_recycle(
    limit_mb: float, served: int, connections: int, running: int, stranded: float
) -> bool:
    """Whether an idle daemon starts afresh in place: it served an editor since it started
    (a fresh image never recycles again on its own), nobody is connected, no request runs,
    and at least ``limit_mb`` of freed memory stays resident after the release (0: never)."""
    idle = served > 0 and connections == 0 and running == 0
    return limit_mb > 0 and idle and stranded >= limit_mb


def inherited_state(environ: MutableMapping[str, str]) -> dict[str, float] | None:
    """The state a recycled daemon was handed (removed from ``environ``, so nothing this
    process starts sees it); None when there is none or it cannot be read."""
    raw = environ.pop(STATE_ENV, None)
    if raw is None:
        return None
    try:
        state = json.loads(raw)
        keys = ("lock", "listen", "recycles", "startedAt", "totalConnections", "rssMb")
        out = {key: float(state[key]) for key in keys}
        lock, listen = os.fstat(int(out["lock"])), os.fstat(int(out["listen"]))
        if not (stat.S_ISREG(lock.st_mode) and stat.S_ISSOCK(listen.st_mode)):
            raise ValueError("not a lock file and a socket")
        return out
    except (ValueError, KeyError, TypeError, OSError):  # set by hand, say: start afresh
        log.warning("ignoring a malformed %s", STATE_ENV)
        return None


class Daemon:
    def __init__(
        self,
        socket_path: Path,
        idle_timeout_s: float,
        recycle_mb: float = 0.0,
        argv: list[str] | None = None,
    ):
        """``argv``: the command line that started this daemon, run again in place when it
        recycles (``recycle_mb``, see ``should_recycle``); None never recycles."""
        self.socket_path = socket_path
        self.idle_timeout_s = idle_timeout_s
        self.recycle_mb = recycle_mb if argv else 0.0
        self.argv = argv
        self.connections = 0
        self.total_connections = 0
        self.recycles = 0
        self.recycled_rss_mb = 0.0  # RSS when it last recycled: what it would have kept
        self.started_at = time.time()
        self.last_activity = time.monotonic()
        self._stop: asyncio.Event | None = None
        self._lock_fh: IO[str] | None = None
        self._listen_fd: int | None = None
        self._inherited = inherited_state(os.environ)
        if self._inherited is not None:
            self.recycles = int(self._inherited["recycles"])
            self.started_at = self._inherited["startedAt"]
            self.total_connections = int(self._inherited["totalConnections"])
            self.recycled_rss_mb = self._inherited["rssMb"]
        self._connections_before = self.total_connections  # those of earlier images
        self._recycle_checked = 0.0  # release.last_release() when it last looked
        from tsr_lsp.server.app import EngineHolder

        self.engines = EngineHolder()

    # ------------------------------------------------------------------ lifecycle
    def acquire_lock(self) -> bool:
        if self._inherited is not None:  # recycled: the lock came held with the image
            fd = int(self._inherited["lock"])
            os.set_inheritable(fd, False)
            self._lock_fh = os.fdopen(fd, "a+")
            return True
        paths.private_dir(self.socket_path.parent)
        self._lock_fh = open(self.socket_path.with_suffix(".lock"), "a+")  # noqa: SIM115
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._lock_fh.seek(0)
        self._lock_fh.truncate()
        self._lock_fh.write(str(os.getpid()))
        self._lock_fh.flush()
        return True

    def run(self) -> int:
        if not self.acquire_lock():
            print(f"tsr-lsp: a daemon already serves {self.socket_path}", file=sys.stderr)
            return 0
        import asyncio

        return asyncio.run(self._main())

    async def _main(self) -> int:
        import asyncio

        tune_malloc()
        # worker threads hand the GIL back every 1 ms instead of 5: a request on the event
        # loop waits that long each time it needs the interpreter
        sys.setswitchinterval(0.001)
        release.watch_collections(log)
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        limit = 64 * 1024 * 1024
        if self._inherited is not None:  # recycled: editors connecting meanwhile waited in
            sock = socket.socket(fileno=int(self._inherited["listen"]))  # its backlog
            sock.set_inheritable(False)
            server = await asyncio.start_unix_server(self._on_connection, sock=sock, limit=limit)
        else:
            self.socket_path.unlink(missing_ok=True)  # stale: we hold the lock, nobody serves
            old_umask = os.umask(0o177)
            try:
                server = await asyncio.start_unix_server(
                    self._on_connection, path=str(self.socket_path), limit=limit
                )
            finally:
                os.umask(old_umask)
            os.chmod(self.socket_path, 0o600)
        self._listen_fd = server.sockets[0].fileno()
        log.info(
            "daemon %d serving %s%s",
            os.getpid(),
            self.socket_path,
            f" (recycled {self.recycles}x)" if self.recycles else "",
        )
        watchdog = asyncio.create_task(self._idle_watchdog())
        async with server:
            await self._stop.wait()
        watchdog.cancel()
        self.socket_path.unlink(missing_ok=True)
        self.engines.close()
        log.info("daemon stopped")
        return 0

    async def _idle_watchdog(self) -> None:
        import asyncio

        from tsr_lsp.release import release_if_idle

        assert self._stop is not None
        while True:
            await asyncio.sleep(min(1.0, self.idle_timeout_s))
            await asyncio.to_thread(release_if_idle)
            if self.recycle_mb > 0:
                self._recycle_if_bloated()
            idle = time.monotonic() - self.last_activity
            if self.connections == 0 and idle >= self.idle_timeout_s:
                log.info("idle for %.0fs with no editor connected; exiting", idle)
                self._stop.set()
                return

    def _recycle_if_bloated(self) -> None:
        """Once after each release (the idle one, or the one after models unloaded) that
        comes in a quiet spell: how much freed memory stays resident, and the recycle when
        ``should_recycle``. Called on the event loop, with no await from the check to the
        exec: no editor can connect in between."""
        released = release.last_release()
        if released <= self._recycle_checked or release.activity.quiet_s() < release.IDLE_S:
            return
        self._recycle_checked = released
        stranded = release.stranded_mb()
        if stranded is None:  # not glibc or not Linux: nothing to go by
            return
        log.info("after the release %.1f MB of freed memory stays resident", stranded)
        served = self.total_connections - self._connections_before
        running = release.activity.running
        if should_recycle(self.recycle_mb, served, self.connections, running, stranded):
            self._recycle(stranded)

    def _recycle(self, stranded: float) -> None:
        """Run this daemon's command line again in this process (same pid, socket and
        lock): the way to give back what glibc cannot, the pages that free chunks pin
        between small survivors of a burst (uWSGI's reload-on-rss, gunicorn's
        max_requests). Only while no editor is connected and no request runs; the Engine
        is closed first, as at exit (memory committed, models unloaded). Editors connecting
        meanwhile wait in the socket's backlog. Returns only when the exec failed."""
        assert self._lock_fh is not None and self._listen_fd is not None
        rss = release.rss_mb()
        log.warning(  # not a fault, but rare and worth seeing in the default log
            "recycling in place: %.0f MB of freed memory stays resident (RSS %.0f MB) and "
            "no editor is connected",
            stranded,
            rss,
        )
        try:
            self.engines.close()
        except Exception as exc:  # the exec goes on: memory survives even a kill -9
            log.warning("closing the engine before the recycle failed: %s", exc)
        fds = (self._lock_fh.fileno(), self._listen_fd)
        state = {
            "lock": fds[0],
            "listen": fds[1],
            "recycles": self.recycles + 1,
            "startedAt": self.started_at,
            "totalConnections": self.total_connections,
            "rssMb": round(rss, 1),
        }
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert self.argv is not None
        try:
            for fd in fds:
                os.set_inheritable(fd, True)
            os.execve(self.argv[0], self.argv, {**os.environ, STATE_ENV: json.dumps(state)})
        except OSError as exc:
            for fd in fds:
                os.set_inheritable(fd, False)
            self.recycle_mb = 0.0  # once is enough to learn it does not work here
            log.warning("recycling failed (%s); serving on", exc)

    # ------------------------------------------------------------------ connections
    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        import asyncio

        from tsr_lsp.server.app import TsrLanguageServer
        from tsr_lsp.server.transport import StreamWriterAdapter, read_messages

        self.connections += 1
        self.total_connections += 1
        server = TsrLanguageServer(self.engines, in_daemon=True, daemon_info=self.info)
        server.protocol.set_writer(StreamWriterAdapter(writer))
        try:
            await read_messages(reader, server.protocol, server.connection_closed)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections -= 1
            self.last_activity = time.monotonic()
            server.protocol.cancel_all()  # stops generations the vanished editor awaited
            server.dispatcher.connection_lost()
            if server._thread_pool is not None:
                server._thread_pool.shutdown(wait=False, cancel_futures=True)
            with contextlib.suppress(Exception):
                writer.close()
            # what the connection held (a 50 MB document, say) goes back to the system,
            # also while other editors stay connected
            from tsr_lsp.release import release_later

            release_later(1.0)

    def info(self) -> dict[str, object]:
        return {
            "socket": str(self.socket_path),
            "connections": self.connections,
            "totalConnections": self.total_connections,
            "recycles": self.recycles,
            "recycledRssMb": self.recycled_rss_mb,
            "uptimeS": round(time.time() - self.started_at, 1),
        }


# ---------------------------------------------------------------------- the forwarder


def spawn_args(log_path: Path, socket_path: Path) -> list[str]:
    """The daemon's command line after ``python -m tsr_lsp``: cli.fast_args parses exactly
    this form without building the whole parser."""
    return ["--log-file", str(log_path), "serve", "--socket", str(socket_path)]


def connect_or_spawn(socket_path: Path, timeout_s: float = 20.0) -> socket.socket:
    """Connect to the daemon, starting one in the background if none answers."""
    sock = _try_connect(socket_path)
    if sock is not None:
        return sock
    log_path = paths.log_dir() / "daemon.log"
    paths.private_dir(log_path.parent)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsr_lsp", *spawn_args(log_path, socket_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives the editor that started it
        close_fds=True,
        env=daemon_env(os.environ),
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock = _try_connect(socket_path)
        if sock is not None:
            return sock
        if proc.poll() not in (None, 0):
            break
        time.sleep(0.01)
    raise ConnectionError(
        f"could not start the tsr-lsp daemon on {socket_path} (see {log_path}); "
        "set daemon.enabled = false to run in-process"
    )


def _try_connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _notification(message: str) -> bytes:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "window/showMessage",
            "params": {"type": 1, "message": message},
        }
    ).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


class ExitWatcher:
    """Follows message framing on the editor->daemon stream to notice the `exit` notification,
    so that the daemon closing the socket afterwards is not mistaken for a crash.

    Streams: it keeps at most one header block and one small body, so a 50 MB didOpen costs
    no copies (appending every chunk to one buffer was quadratic)."""

    SMALL = 256  # an exit notification is about 40 bytes
    MAX_HEADER = 64 * 1024

    def __init__(self) -> None:
        self.header = b""
        self.body = b""
        self.remaining = 0
        self.exit_seen = False

    def feed(self, chunk: bytes) -> None:
        while chunk:
            if self.remaining:
                take = chunk[: self.remaining]
                chunk = chunk[len(take) :]
                self.remaining -= len(take)
                if self.body or self.remaining + len(take) < self.SMALL:
                    self.body += take
                    if not self.remaining:
                        self._check(self.body)
                        self.body = b""
                continue
            self.header += chunk
            chunk = b""
            end = self.header.find(b"\r\n\r\n")
            if end < 0:
                self.header = self.header[-self.MAX_HEADER :]
                return
            head, chunk = self.header[:end], self.header[end + 4 :]
            self.header = b""
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    self.remaining = int(value)

    def _check(self, body: bytes) -> None:
        if b'"exit"' in body:
            with contextlib.suppress(ValueError, AttributeError):
                self.exit_seen = json.loads(body).get("method") == "exit"


def forward_stdio(sock: socket.socket) -> int:
    """Pump bytes between our stdin/stdout and the daemon until either side closes."""
    stdout = sys.stdout.buffer
    watcher = ExitWatcher()
    editor_gone = threading.Event()

    def upstream() -> None:
        try:
            # os.read, not sys.stdin: a thread blocked inside a buffered reader makes the
            # interpreter abort at exit while it waits for the reader's lock.
            # the watcher sees a chunk before the daemon does: fed after sendall, an `exit`
            # could close the socket (the daemon's answer to it) while this thread waited
            # for the GIL, and a clean exit was reported as a lost daemon (exit code 1)
            while chunk := os.read(0, 1 << 16):
                watcher.feed(chunk)
                sock.sendall(chunk)
        except OSError:
            pass
        finally:
            editor_gone.set()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, daemon=True, name="stdin->daemon").start()
    try:
        while chunk := sock.recv(1 << 16):
            stdout.write(chunk)
            stdout.flush()
    except BrokenPipeError:  # the editor closed our stdout
        return 0
    except OSError:
        pass
    if watcher.exit_seen or editor_gone.is_set():
        return 0
    # The daemon went away while the editor still talks to us: say so, then exit so the
    # editor restarts us (and we start a fresh daemon).
    msg = "tsr-lsp: lost the connection to the daemon; restart the language server"
    print(msg, file=sys.stderr)
    with contextlib.suppress(OSError):
        stdout.write(_notification(msg))
        stdout.flush()
    return 1
