"""Which heavy action of the clients probe stalls other clients, each alone: for every
action of the hostile menu, the victims run while one client repeats that action, and the
victims' worst latencies are printed (a diagnostic for docs/RELIABILITY.md).

    python scripts/stall_isolate.py [--repeat 3] [--only big_open,huge_search]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from tsr_lsp.bench.load import hostile_menu
from tsr_lsp.bench.rawclient import Closed
from tsr_lsp.bench.reliability import warm_daemon
from tsr_lsp.bench.victims import VictimProcess


async def main(args: argparse.Namespace) -> None:
    async with warm_daemon("stall-isolate-") as bench:
        menu = hostile_menu(bench, args.big_mb)
        only = set(args.only.split(",")) if args.only else None
        for name, action in menu:
            if only and name not in only:
                continue
            victims = VictimProcess(bench, 20, until_stopped=True)
            await victims.start()
            await asyncio.sleep(1.0)
            conn = await bench.connect("socket")
            took = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                try:
                    await action(conn)
                except Closed:
                    pass
                took.append(round(time.perf_counter() - start, 2))
            await bench.close(conn)
            await asyncio.sleep(1.0)
            victims.stop()
            lat = sorted(await victims.result())
            report = {
                "action": name,
                "action_s": took,
                "victim_max_ms": round(lat[-1], 1),
                "victim_top3_ms": [round(x) for x in lat[-3:]],
                "stalls": victims.stalls,
            }
            print(json.dumps(report), flush=True)
            await asyncio.sleep(3.0)  # let the daemon's release run between actions


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=50)
    parser.add_argument("--only", default="")
    asyncio.run(main(parser.parse_args()))
