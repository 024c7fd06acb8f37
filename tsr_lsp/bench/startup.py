"""bench startup: spawn -> `initialize` reply, and idle RSS, in-process and via the daemon.

Baseline in the same run: spawning a bare Python interpreter (``python -c pass``), so the
ratio shows what tsr-lsp adds on top of the interpreter itself.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tsr_lsp.bench import wire
from tsr_lsp.bench.stats import median
from tsr_lsp.engine import rss_mb


def _spawn_initialize(
    cmd: list[str], env: dict[str, str]
) -> tuple[float, float, subprocess.Popen[bytes]]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin is not None and proc.stdout is not None
    wire.send(proc.stdin, wire.initialize_message())
    wire.wait_response(proc.stdout, 1)
    elapsed = (time.perf_counter() - start) * 1000
    wire.send(proc.stdin, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
    time.sleep(0.3)
    return elapsed, rss_mb(proc.pid), proc


def _daemon_pid(home: Path) -> int | None:
    lock = home / "run" / "daemon.lock"
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = args.runs or 5
    base_env = dict(os.environ)
    py = sys.executable
    bare: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([py, "-c", "pass"], check=True)
        bare.append((time.perf_counter() - start) * 1000)

    inproc: list[float] = []
    inproc_rss: list[float] = []
    for _ in range(runs):
        ms, rss, proc = _spawn_initialize([py, "-m", "tsr_lsp", "stdio", "--no-daemon"], base_env)
        inproc.append(ms)
        inproc_rss.append(rss)
        wire.shutdown(proc)

    with tempfile.TemporaryDirectory(prefix="tsr-bench-") as tmp:
        env = {**base_env, "TSR_LSP_HOME": tmp}
        cold_ms, _, proc = _spawn_initialize([py, "-m", "tsr_lsp"], env)
        wire.shutdown(proc)
        warm: list[float] = []
        for _ in range(runs):
            ms, _, proc = _spawn_initialize([py, "-m", "tsr_lsp"], env)
            warm.append(ms)
            wire.shutdown(proc)
        pid = _daemon_pid(Path(tmp))
        daemon_rss = rss_mb(pid) if pid else 0.0
        if pid:
            os.kill(pid, 15)
            time.sleep(0.5)

    bare_ms = median(bare)
    return {
        "python_bare_spawn_ms": round(bare_ms, 1),
        "initialize_inprocess_ms": round(median(inproc), 1),
        "initialize_inprocess_ratio": round(median(inproc) / bare_ms, 2),
        "initialize_daemon_cold_ms": round(cold_ms, 1),
        "initialize_daemon_warm_ms": round(median(warm), 1),
        "initialize_daemon_warm_ratio": round(median(warm) / bare_ms, 2),
        "idle_rss_inprocess_mb": round(median(inproc_rss), 1),
        "idle_rss_daemon_mb": round(daemon_rss, 1),
        "runs": runs,
    }
