"""`tsr-lsp daemon status|stop|restart`: see and manage the shared daemon.

Status speaks LSP to the daemon's socket (never starting one): pid, uptime, RSS, loaded
models, connected editors. Stop sends SIGTERM to the pid the daemon itself reports (or its
lock file names, when it no longer answers) and waits for it to go; restart stops it and
starts a fresh one the way an editor would.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

STATUS_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 10.0


def add_parser(sub: Any) -> None:
    daemon = sub.add_parser("daemon", help="see, stop or restart the shared daemon")
    dsub = daemon.add_subparsers(dest="daemon_command", metavar="ACTION", required=True)
    status = dsub.add_parser("status", help="pid, uptime, memory, loaded models, editors")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    dsub.add_parser("stop", help="stop the daemon (editors reconnect to a fresh one)")
    dsub.add_parser("restart", help="stop the daemon and start a fresh one")


def query(path: Path, timeout: float = STATUS_TIMEOUT_S) -> dict[str, Any] | None:
    """tsr/status from the daemon on ``path``; None when none answers."""
    from tsr_lsp.bench import wire

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        with sock.makefile("rb") as rfile, sock.makefile("wb") as wfile:
            wire.send(wfile, wire.initialize_message())
            wire.wait_response(rfile, 1)
            wire.send(wfile, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
            wire.send(wfile, {"jsonrpc": "2.0", "id": 2, "method": "tsr/status", "params": {}})
            reply = wire.wait_response(rfile, 2)
            wire.send(wfile, {"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
            wire.wait_response(rfile, 3)
            wire.send(wfile, {"jsonrpc": "2.0", "method": "exit"})
    except (OSError, EOFError, ValueError):
        return None
    finally:
        sock.close()
    result = reply.get("result")
    return result if isinstance(result, dict) else None


def _lock_pid(path: Path) -> int | None:
    """The pid in the daemon's lock file, if that process is a tsr-lsp daemon."""
    try:
        pid = int(path.with_suffix(".lock").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if b"tsr_lsp" in b" ".join(cmdline) and b"serve" in cmdline else None


def alive(pid: int) -> bool:
    """The process runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def summary(status: dict[str, Any]) -> dict[str, Any]:
    """What `daemon status` shows, from a tsr/status reply (the query's own connection is
    not an editor)."""
    info = status.get("daemonInfo") or {}
    loaded = status.get("loadedModels") or {}
    return {
        "pid": status.get("pid"),
        "uptimeS": info.get("uptimeS", status.get("uptimeS")),  # the Engine's is newer
        "recycles": int(info.get("recycles", 0)),
        "rssMb": status.get("rssMb"),
        "models": {name: m.get("memoryMb") for name, m in loaded.items()},
        "modelsIdleS": {name: m.get("idleS") for name, m in loaded.items()},
        "idleUnloadS": status.get("idleUnloadS"),
        "clients": max(0, int(info.get("connections", 1)) - 1),
        "totalConnections": max(0, int(info.get("totalConnections", 1)) - 1),
        "socket": info.get("socket"),
        "version": status.get("version"),
    }


def _print(s: dict[str, Any]) -> None:
    models = ", ".join(f"{n} ({mb:.0f} MB)" for n, mb in s["models"].items()) or "none loaded"
    unload = s["idleUnloadS"]
    print(f"tsr-lsp daemon {s['version']}  pid {s['pid']}  up {_duration(s['uptimeS'])}")
    print(f"  socket   {s['socket']}")
    again = f" (started afresh in place {s['recycles']}x when idle)" if s["recycles"] else ""
    print(f"  memory   {s['rssMb']:.0f} MB resident{again}")
    print(f"  models   {models}" + (f"  (unloaded after {unload:.0f} s idle)" if unload else ""))
    print(f"  editors  {s['clients']} connected ({s['totalConnections']} connections since start)")


def _duration(seconds: float | None) -> str:
    s = int(seconds or 0)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def stop(path: Path) -> tuple[int | None, bool]:
    """Stop the daemon on ``path``: (its pid or None when none ran, whether it is gone)."""
    status = query(path)
    pid = status.get("pid") if status else _lock_pid(path)
    if not isinstance(pid, int):
        return None, True
    return pid, terminate(pid)


def terminate(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM, wait up to ``timeout_s``, then SIGKILL (a daemon stuck in native code has
    no graceful exit); whether the process is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    return not alive(pid)


def run(args: argparse.Namespace) -> int:
    from tsr_lsp.commands.serve import _daemon_settings, socket_path

    path = socket_path(_daemon_settings()[1].socket)
    cmd = args.daemon_command
    if cmd == "status":
        status = query(path)
        if status is None:
            pid = _lock_pid(path)
            if args.json:
                print(json.dumps({"running": pid is not None, "pid": pid, "socket": str(path)}))
            elif pid is None:
                print(f"no tsr-lsp daemon running (socket {path})")
            else:
                print(
                    f"tsr-lsp daemon {pid} holds {path} but does not answer; "
                    "`tsr-lsp daemon restart` replaces it"
                )
            return 0 if pid is None else 1
        out = summary(status)
        if args.json:
            print(json.dumps({"running": True, **out}))
        else:
            _print(out)
        return 0
    pid, gone = stop(path)
    if not gone:
        print(f"tsr-lsp: daemon {pid} did not stop", file=sys.stderr)
        return 1
    if cmd == "stop":
        print("no tsr-lsp daemon running" if pid is None else f"stopped tsr-lsp daemon {pid}")
        return 0
    from tsr_lsp.server.daemon import connect_or_spawn

    connect_or_spawn(path).close()
    status = query(path)
    new_pid = status.get("pid") if status else _lock_pid(path)
    was = f" (was {pid})" if pid else ""
    print(f"started tsr-lsp daemon {new_pid}{was}")
    return 0
