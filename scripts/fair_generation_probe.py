"""Editor A queues N chat generations at once; editor B then asks one. Prints how long B
waited with the real default general model (SmolLM2-135M GGUF), through the daemon
(backends/pool.py FairLock: connections take turns; before it, B waited for all of A's).

    python scripts/fair_generation_probe.py [N=6] [--baseline DIR]

``--baseline DIR`` runs the daemon from another checkout (PYTHONPATH) for a before/after in
one session. A private TSR_LSP_HOME (memory off); the daemon is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from tsr_lsp.bench.daemon_under_test import Bench, make_home
from tsr_lsp.bench.rawclient import frame
from tsr_lsp.bench.reliability import _stop_daemon

REAL_MODELS = "[memory]\nenabled = false\n"  # the default profiles, real GGUF files
ASK = {
    "text": "Write a short story about a cat and a boat.",
    "model": "general",
    "maxTokens": 96,
    "cotSteps": 0,
    "temperature": 0.0,
    "seed": 1,
}


async def probe(n: int, baseline: str | None) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="fair-gen-"))
    os.chdir(root)  # `python -m tsr_lsp` puts the cwd first on sys.path: no checkout there
    home, env = make_home(root)
    (home / "config" / "config.toml").write_text(REAL_MODELS)
    if baseline:
        env["PYTHONPATH"] = baseline
    project = root / "proj"
    project.mkdir()
    bench = Bench(home, env, home / "run" / "daemon.sock", True, project)
    a = await bench.connect("socket")
    b = await bench.connect("socket")
    await a.request("tsr/generate", {**ASK, "maxTokens": 4}, timeout=300)  # model loaded
    started = time.perf_counter()
    replies = []
    for i in range(n):
        replies.append(a.expect(90_000 + i))
        message = {"jsonrpc": "2.0", "id": 90_000 + i, "method": "tsr/generate", "params": ASK}
        a.writer.write(frame(message))
    await a.writer.drain()
    await asyncio.sleep(0.5)  # A's first is generating, the rest queued
    reply, b_ms = await b.request("tsr/generate", ASK, timeout=600)
    assert reply is not None and "result" in reply, reply
    before_b = sum(1 for r in replies if r.done())
    await asyncio.wait_for(asyncio.gather(*replies), 600)
    print(f"  A's replies before B's: {before_b} of {n}")
    a_ms = (time.perf_counter() - started) * 1000
    await a.close()
    await b.close()
    _stop_daemon(bench)
    return b_ms, a_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=6)
    parser.add_argument("--baseline")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    variants = [("current", None)] + ([("baseline", args.baseline)] if args.baseline else [])
    for r in range(args.rounds):
        for name, where in variants:  # alternating: both see the same load
            b_ms, a_ms = asyncio.run(probe(args.n, where))
            print(f"round {r} {name}: B waited {b_ms:.0f} ms; A's {args.n} took {a_ms:.0f} ms")


if __name__ == "__main__":
    main()
