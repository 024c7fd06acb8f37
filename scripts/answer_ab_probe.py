"""A prompt change, before and after, on one profile: this checkout's server and another
checkout's (`git archive REV tsr_lsp templates | tar -x -C DIR`) answer the same tasks, task
by task, alternating which goes first, the profile forced at the policy table's depth
(``t``) or a fixed one, one thread a model, memory off. One JSON line per answer (``cfg``:
new or old). Use the calibration split while tuning; the report split is for the report.

    python scripts/answer_ab_probe.py calibration reasoning,knowledge 16 fim t DIR > out.jsonl
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tsr_lsp.bench.answers import SuiteRunner, load_tasks


async def main(split: str, cats: str, n: int, profile: str, cot: str, baseline: Path) -> None:
    depth = None if cot == "t" else int(cot)
    tasks = load_tasks(split, categories=cats.split(","), per_category=n)
    init = {"models": {p: {"nThreads": 1} for p in ("general", "coder", "fim")}}
    async with (
        SuiteRunner(initialization_options=init) as new,
        SuiteRunner(initialization_options=init, code_root=baseline, label="old") as old,
    ):
        for i, task in enumerate(tasks):
            pair = [("new", new), ("old", old)]
            for name, runner in pair if i % 2 == 0 else pair[::-1]:
                line = (await runner.run(task, profile, depth)).to_json()
                print(json.dumps({**line, "cfg": name}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    a = sys.argv[1:]
    asyncio.run(main(a[0], a[1], int(a[2]), a[3], a[4], Path(a[5])))
