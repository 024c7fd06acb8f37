"""Grade again, with this checkout's prompts, the rows of an outcomes file that a prompt
change made stale: the same tasks, profiles and depths, so the file keeps its scope
(`router calibrate` deals today's tasks, which need not be the file's).

    TSR_LSP_HOME=H python scripts/regrade_outcomes.py FILE --categories reasoning,knowledge

Rows chosen: the categories given, at the table's depth or a fixed depth >= 1 (a CoT 0
answer has no steps; ``--all-depths`` takes those too). They are removed from FILE and
graded again in one server, appended as `router calibrate` appends (an interrupted run
leaves the rows not yet graded missing: restore FILE and run again). The profiles come
from the settings in H (the shipped outcomes: ``n_threads = 1``); a row whose fingerprint
is not the profile's model is left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tsr_lsp import paths
from tsr_lsp.bench.answers import SuiteRunner, load_tasks
from tsr_lsp.bench.answers.tasks import MAX_TOKENS, PUBLIC_SOURCES
from tsr_lsp.config import load_settings
from tsr_lsp.router.calibrate import calibrate, progress_bar, suite_grader
from tsr_lsp.router.success import fingerprint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--categories", required=True)
    ap.add_argument("--all-depths", action="store_true")
    args = ap.parse_args()
    cats = set(args.categories.split(","))
    settings, _ = load_settings(None)
    prints = {n: fingerprint(p) for n, p in settings.models.items()}

    lines = [line for line in args.file.read_text(encoding="utf-8").splitlines() if line]
    keep, stale = [], []
    for line in lines:
        row = json.loads(line)
        chosen = (
            row["category"] in cats
            and (args.all_depths or row.get("cot", 1) >= 1)
            and prints.get(row["profile"]) == row["fingerprint"]
        )
        if chosen:
            stale.append(row)
        else:
            keep.append(line)
    # looked up by id: in the whole calibration split, then in the sources (a row may be of
    # an item today's deal no longer gives calibration, e.g. a calibration-only source's
    # even positions, which neither split uses; never a report task: checked below)
    pool = load_tasks("calibration", categories=cats, per_category=10_000)
    report = {t.id for t in load_tasks("report", categories=cats, per_category=10_000)}
    for cat in cats:
        for loader in PUBLIC_SOURCES.get(cat, ()):
            for task in loader(paths.shared_data_dir()):
                task.max_tokens = MAX_TOKENS[cat]
                pool.append(task)
    tasks: dict[str, Any] = {}
    for task in pool:
        tasks.setdefault(task.id, task)
    missing = {r["task"] for r in stale} - tasks.keys()
    if {r["task"] for r in stale} & report:
        raise SystemExit("a stale row is of a report task: the file needs cleaning first")
    if missing:
        raise SystemExit(f"not in the suite's sources: {sorted(missing)[:5]}")
    args.file.write_text("".join(f"{line}\n" for line in keep), encoding="utf-8")
    print(f"regrading {len(stale)} rows of {len(lines)}", flush=True)

    init = {"models": {n: asdict(settings.models[n]) for n in prints}}

    async def run() -> None:
        async with SuiteRunner(initialization_options=init) as runner:
            for name in sorted({r["profile"] for r in stale}):
                mine = [r for r in stale if r["profile"] == name]
                ids = list(dict.fromkeys(r["task"] for r in mine))
                depths = {
                    i: sorted({r["cot"] for r in mine if r["task"] == i and "cot" in r})
                    for i in ids
                }
                await calibrate(
                    [tasks[i] for i in ids],
                    {name: prints[name]},
                    suite_grader(runner),
                    args.file,
                    progress=progress_bar(lambda s: print(s, end="", flush=True)),
                    levels=lambda task, depths=depths: depths[task.id],
                )

    asyncio.run(run())


if __name__ == "__main__":
    main()
