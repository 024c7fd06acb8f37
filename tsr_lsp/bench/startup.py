"""bench startup: spawn -> `initialize` reply, and idle RSS, in-process and via the daemon.

Baselines in the same run: spawning a bare Python interpreter (``python -c pass``), so the
ratio shows what tsr-lsp adds on top of the interpreter itself; and, with ``--baseline
DIR`` (another checkout, e.g. ``git worktree add /tmp/base main``), the same measurements
of that code, interleaved with this one's so both see the same machine load.

"cold" is what an editor meets when no daemon runs: the forwarder starts, spawns the daemon,
and the daemon answers `initialize` (a fresh TSR_LSP_HOME each time); "warm" is a new
editor window while a daemon runs; "first status" is the first request of that daemon, which
builds the engine.
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
from tsr_lsp.release import rss_mb


def _spawn_initialize(
    cmd: list[str], env: dict[str, str], cwd: str
) -> tuple[float, float, subprocess.Popen[bytes]]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    assert proc.stdin is not None and proc.stdout is not None
    wire.send(proc.stdin, wire.initialize_message())
    wire.wait_response(proc.stdout, 1)
    elapsed = (time.perf_counter() - start) * 1000
    wire.send(proc.stdin, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
    time.sleep(0.3)
    return elapsed, rss_mb(proc.pid), proc


def _first_status(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    """The first tsr/status of a daemon nobody has asked anything yet: what the editor's
    first real request meets (the engine, numpy, jinja2 and the router load then)."""
    _, _, proc = _spawn_initialize(cmd, env, cwd)
    assert proc.stdin is not None and proc.stdout is not None
    start = time.perf_counter()
    wire.send(proc.stdin, {"jsonrpc": "2.0", "id": 2, "method": "tsr/status", "params": {}})
    wire.wait_response(proc.stdout, 2)
    elapsed = (time.perf_counter() - start) * 1000
    wire.shutdown(proc)
    return elapsed


def _daemon_pid(home: Path) -> int | None:
    lock = home / "run" / "daemon.lock"
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _stop_daemon(home: Path) -> None:
    from tsr_lsp.commands.daemon_cmd import terminate

    pid = _daemon_pid(home)
    if pid:
        terminate(pid)


class Variant:
    """One code base under test: this checkout, or a baseline put first on PYTHONPATH."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self.inproc: list[float] = []
        self.inproc_rss: list[float] = []
        self.cold: list[float] = []
        self.warm: list[float] = []
        self.daemon_rss: list[float] = []
        self.first_status: list[float] = []

    def measure_once(self, py: str, cwd: str) -> None:
        ms, rss, proc = _spawn_initialize(
            [py, "-m", "tsr_lsp", "stdio", "--no-daemon"], self.env, cwd
        )
        self.inproc.append(ms)
        self.inproc_rss.append(rss)
        wire.shutdown(proc)
        with tempfile.TemporaryDirectory(prefix="tsr-bench-") as tmp:
            env = {**self.env, "TSR_LSP_HOME": tmp}
            ms, _, proc = _spawn_initialize([py, "-m", "tsr_lsp"], env, cwd)
            self.cold.append(ms)
            wire.shutdown(proc)
            ms, _, proc = _spawn_initialize([py, "-m", "tsr_lsp"], env, cwd)
            self.warm.append(ms)
            wire.shutdown(proc)
            pid = _daemon_pid(Path(tmp))
            self.daemon_rss.append(rss_mb(pid) if pid else 0.0)
            self.first_status.append(_first_status([py, "-m", "tsr_lsp"], env, cwd))
            _stop_daemon(Path(tmp))

    def metrics(self, bare_ms: float, prefix: str = "") -> dict[str, float]:
        return {
            f"{prefix}initialize_inprocess_ms": round(median(self.inproc), 1),
            f"{prefix}initialize_inprocess_ratio": round(median(self.inproc) / bare_ms, 2),
            f"{prefix}initialize_daemon_cold_ms": round(median(self.cold), 1),
            f"{prefix}initialize_daemon_warm_ms": round(median(self.warm), 1),
            f"{prefix}initialize_daemon_warm_ratio": round(median(self.warm) / bare_ms, 2),
            f"{prefix}first_status_daemon_ms": round(median(self.first_status), 1),
            # a code base that builds the engine during initialize answers status at once:
            # the sum compares what the editor waits for its first answer
            f"{prefix}cold_initialize_plus_first_status_ms": round(
                median([c + f for c, f in zip(self.cold, self.first_status, strict=True)]), 1
            ),
            f"{prefix}idle_rss_inprocess_mb": round(median(self.inproc_rss), 1),
            f"{prefix}idle_rss_daemon_mb": round(median(self.daemon_rss), 1),
        }


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = args.runs or 5
    py = sys.executable
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    current = Variant("current", base_env)
    variants = [current]
    baseline_dir = getattr(args, "baseline", None)
    if baseline_dir:
        root = Path(baseline_dir).resolve()
        if not (root / "tsr_lsp" / "__init__.py").is_file():
            raise SystemExit(f"tsr-lsp: error: {root} is not a tsr-lsp checkout")
        variants.append(Variant("baseline", {**base_env, "PYTHONPATH": str(root)}))
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tsr-bench-cwd-") as cwd:  # no checkout on path
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([py, "-c", "pass"], check=True, cwd=cwd)
            bare.append((time.perf_counter() - start) * 1000)
            for variant in variants:  # interleaved: both see the same load
                variant.measure_once(py, cwd)
    bare_ms = median(bare)
    out: dict[str, Any] = {"python_bare_spawn_ms": round(bare_ms, 1)}
    out.update(current.metrics(bare_ms))
    if len(variants) > 1:
        base = variants[1]
        out.update(base.metrics(bare_ms, "baseline_"))
        for key in ("inprocess", "daemon_cold", "daemon_warm"):
            out[f"initialize_{key}_vs_baseline_ratio"] = round(
                out[f"initialize_{key}_ms"] / out[f"baseline_initialize_{key}_ms"], 2
            )
        out["cold_initialize_plus_first_status_vs_baseline_ratio"] = round(
            out["cold_initialize_plus_first_status_ms"]
            / out["baseline_cold_initialize_plus_first_status_ms"],
            2,
        )
    out["runs"] = runs
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return out
