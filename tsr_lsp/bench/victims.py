"""The victim clients of `bench reliability`, in a process of their own.

A victim's latency must measure the daemon. In the bench's own event loop it also measured
the bench: parsing a hostile client's big reply (a 20,000-episode export, a 50 MB hover)
held that loop 0.1-0.5 s, and a victim's reply waiting behind it counted as a daemon stall.
Here the victims run their own loop, started by ``run_victims`` and stopped by a line on
stdin; their latencies come back as one JSON object on stdout.

    python -m tsr_lsp.bench.victims HOME SOCKET PROJECT N [--until-stdin]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tsr_lsp.bench.daemon_under_test import Bench
from tsr_lsp.bench.rawclient import Closed

VICTIM_TEXTS = [
    "write a csv parser in python",
    "what is the capital of France",
    "solve 3x + 5 = 20",
    "summarise this paragraph",
]
TRANSPORTS = ("stdio", "socket", "stdio", "socket")
LOST_MS = 60_000.0  # a request that got no reply counts as this slow


STALL_MS = 1000.0


async def victim(
    bench: Bench,
    transport: str,
    n: int,
    done: asyncio.Event | None,
    stalls: list[list[Any]] | None = None,
) -> list[float]:
    """At least ``n`` cheap requests (tsr/status, tsr/route), and more until ``done``; each
    one over ``STALL_MS`` is noted in ``stalls`` as [wall-clock start, ms, method, transport]
    so a probe can line it up with what the other clients were doing."""
    conn = await bench.connect(transport)
    latencies: list[float] = []
    rng = random.Random(n)
    i = 0
    try:
        while i < n or (done is not None and not done.is_set()):
            started = time.time()
            if i % 2:
                method, params = "tsr/status", {}
            else:
                method, params = "tsr/route", {"text": rng.choice(VICTIM_TEXTS)}
            reply, ms = await conn.request(method, params, 60)
            latencies.append(ms if reply is not None else LOST_MS)
            if stalls is not None and latencies[-1] > STALL_MS:
                stalls.append([round(started, 3), round(latencies[-1], 1), method, transport])
            i += 1
            await asyncio.sleep(rng.uniform(0.01, 0.03))
    except Closed:
        latencies.append(LOST_MS)
    finally:
        await bench.close(conn)
    return latencies


def _until_stdin(done: asyncio.Event) -> None:
    """Set ``done`` when the parent writes a line or closes our stdin (a daemon thread: a
    blocked read must not keep this process from exiting)."""
    loop = asyncio.get_running_loop()

    def wait() -> None:
        sys.stdin.readline()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=wait, daemon=True).start()


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args.home, dict(os.environ), args.socket, False, args.project)
    done: asyncio.Event | None = None
    if args.until_stdin:
        done = asyncio.Event()
        _until_stdin(done)
    stalls: list[list[Any]] = []
    lists = await asyncio.gather(*(victim(bench, t, args.n, done, stalls) for t in TRANSPORTS))
    latencies = [x for lat in lists for x in lat]
    return {"latencies_ms": latencies, "failed_connects": bench.failed_connects, "stalls": stalls}


class VictimProcess:
    """The parent's handle: ``start`` the victims, ``stop`` them (when the hostile clients
    are done), then ``result`` gives their latencies; failed connects go to the bench."""

    def __init__(self, bench: Bench, n: int, until_stopped: bool) -> None:
        self.bench, self.n, self.until_stopped = bench, n, until_stopped
        self.proc: asyncio.subprocess.Process | None = None
        self.stalls: list[list[Any]] = []  # [start, ms, method, transport] of each stall

    async def start(self) -> None:
        b = self.bench
        cmd = [sys.executable, "-m", "tsr_lsp.bench.victims", str(b.home), str(b.socket)]
        cmd += [str(b.project), str(self.n)] + (["--until-stdin"] if self.until_stopped else [])
        self.proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE if self.until_stopped else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            env=b.env,
        )

    def stop(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        with contextlib.suppress(ConnectionError):
            self.proc.stdin.write(b"done\n")
            self.proc.stdin.close()

    async def result(self) -> list[float]:
        assert self.proc is not None
        out, _ = await self.proc.communicate()
        try:
            report = json.loads(out)
        except ValueError:  # the victims' process died: every victim lost
            self.bench.failed_connects += len(TRANSPORTS)
            return [LOST_MS] * len(TRANSPORTS)
        self.bench.failed_connects += int(report["failed_connects"])
        self.stalls = report.get("stalls", [])
        return [float(x) for x in report["latencies_ms"]]


async def run_victims(bench: Bench, n: int) -> list[float]:
    """The victims alone (the baseline)."""
    victims = VictimProcess(bench, n, until_stopped=False)
    await victims.start()
    return await victims.result()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("socket", type=Path)
    parser.add_argument("project", type=Path)
    parser.add_argument("n", type=int)
    parser.add_argument("--until-stdin", action="store_true")
    print(json.dumps(asyncio.run(_main(parser.parse_args()))))
