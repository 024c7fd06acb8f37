"""Which heavy action of the reliability bench's clients section leaves the daemon's RSS
higher, each alone: a fresh warmed daemon per action, the action repeated, 10 s idle (the
memory release runs), RSS before and after (a diagnostic for docs/RELIABILITY.md).

    python scripts/rss_isolate.py [--repeat 10] [--only big_import,big_open]
"""

from __future__ import annotations

import argparse
import asyncio
import json

from tsr_lsp.bench.load import hostile_menu
from tsr_lsp.bench.rawclient import Closed
from tsr_lsp.bench.reliability import warm_daemon


async def one(name: str, repeat: int, big_mb: int) -> dict[str, object]:
    async with warm_daemon("rss-isolate-") as bench:
        await asyncio.sleep(2.0)
        before = bench.rss_mb()
        action = dict(hostile_menu(bench, big_mb))[name]
        conn = await bench.connect("socket")
        for _ in range(repeat):
            try:
                await action(conn)
            except Closed:
                conn = await bench.connect("socket")
        await bench.close(conn)
        await asyncio.sleep(10.0)
        return {
            "action": name,
            "rss_before_mb": round(before, 1),
            "rss_after_mb": round(bench.rss_mb(), 1),
        }


async def main(args: argparse.Namespace) -> None:
    names = [name for name, _action in hostile_menu_names()]
    for name in args.only.split(",") if args.only else names:
        print(json.dumps(await one(name, args.repeat, args.big_mb)), flush=True)


def hostile_menu_names() -> list[tuple[str, object]]:
    from types import SimpleNamespace

    return hostile_menu(SimpleNamespace(), 1)  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--big-mb", type=int, default=50)
    parser.add_argument("--only", default="")
    asyncio.run(main(parser.parse_args()))
