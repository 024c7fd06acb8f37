"""The clients section of `tsr-lsp bench reliability` alone (8 clients, 4 hostile), for
back-to-back A/B runs of two code bases:

    python scripts/reliability_clients_probe.py                      # this checkout
    PYTHONPATH=/tmp/old python scripts/reliability_clients_probe.py  # another one

Prints the stall keys and the daemon's RSS before, 2/17/47 s after. With --dump-every S it
also writes `py-spy dump` of the daemon every S seconds into --dump-dir (py-spy must be on
PATH), which is how the lock waits of docs/RELIABILITY.md (stop 16) were found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from tsr_lsp.bench.load import clients_section
from tsr_lsp.bench.reliability import warm_daemon


async def _dumps(pid: int, every: float, folder: Path, stop: asyncio.Event) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        out = subprocess.run(["py-spy", "dump", "-p", str(pid)], capture_output=True, text=True)
        (folder / f"{time.time():.2f}.txt").write_text(out.stdout)
        await asyncio.sleep(every)


async def main(args: argparse.Namespace) -> None:
    async with warm_daemon("clients-probe-") as bench:
        await asyncio.sleep(1.0)
        pid = bench.daemon_pid()
        assert pid is not None
        out: dict[str, Any] = {"rss_before_mb": round(bench.rss_mb(), 1)}
        stop = asyncio.Event()
        dumper = None
        if args.dump_every:
            dumper = asyncio.create_task(_dumps(pid, args.dump_every, args.dump_dir, stop))
        started = time.perf_counter()
        part = await clients_section(bench, args.per_client)
        stop.set()
        if dumper is not None:
            await dumper
        out["clients_s"] = round(time.perf_counter() - started, 1)
        out.update({k: v for k, v in part.items() if not k.startswith("_")})
        out["hostile_slowest_s"] = part["_hostile_slowest_s"]
        # each stall: [start, ms, method, transport, heavy actions running meanwhile]
        out["stalls"] = part["_stalls"]
        for wait in (2, 15, 30):
            await asyncio.sleep(wait)
            out[f"rss_after_{wait}s_mb"] = round(bench.rss_mb(), 1)
        # the daemon's own account of collections that held the interpreter (release.py)
        logs = "".join(f.read_text(errors="replace") for f in bench.home.rglob("*.log*"))
        slow = re.findall(r"generation (\d) held the interpreter (\d+) ms", logs)
        out["slow_gc"] = {g: sorted(int(ms) for gen, ms in slow if gen == g) for g in "012"}
        print(json.dumps(out))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-client", type=int, default=200)
    parser.add_argument("--dump-every", type=float, default=0.0)
    parser.add_argument("--dump-dir", type=Path, default=Path("py-spy-dumps"))
    asyncio.run(main(parser.parse_args()))
