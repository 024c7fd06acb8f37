"""`tsr-lsp router calibrate`: grade a model on the answer suite's calibration split so the
router learns which requests it is good at (docs/ROUTER.md, "Routing learned from outcomes").

Every (task, configuration) result is appended to an outcomes JSONL as soon as it is
graded, so an interrupted run loses at most the task in flight, and a rerun skips what is
done (matched by task id, profile name, the profile's model fingerprint and the CoT depth:
pointing a profile at another model calibrates it afresh). A configuration is a profile at
the policy table's CoT depth, or at a fixed depth of the task's row (``levels``), so the
router can learn where a shallower depth answers as well for fewer tokens. A time budget
stops the run between tasks; tasks are taken round-robin across categories so a short
budget still covers every category. The "retraining" is immediate: the success predictor
indexes the outcomes file (success.py), and a running daemon reloads it on its next
request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tsr_lsp.router.success import Outcome, label, load_outcomes


class TaskLike(Protocol):
    id: str
    category: str
    prompt: str


@dataclass
class Graded:
    """What running one task with one profile gave: a 0..1 score (error = score 0)."""

    score: float
    latency_ms: float = 0.0
    error: str = ""
    completion_tokens: int = 0
    prompt_tokens: int = 0
    cot_steps: int = -1  # the depth the answer was given (-1: unknown)


RunOne = Callable[[Any, str, "int | None"], Awaitable[Graded]]
Levels = Callable[[Any], Sequence[int]]
Progress = Callable[[int, int, str, str, Graded, float], None]


@dataclass
class CalibrationReport:
    planned: int = 0
    skipped: int = 0  # already in the outcomes file
    ran: int = 0
    errors: int = 0
    stopped_by_budget: bool = False
    seconds: float = 0.0
    remaining: list[tuple[str, str]] = field(default_factory=list)


def suite_grader(runner: Any) -> RunOne:
    """The RunOne of a running answer-suite server (``bench.answers.SuiteRunner``): the
    depth recorded is the one the answer was given in steps, None for a program."""

    async def run_one(task: Any, name: str, cot: int | None) -> Graded:
        r = await runner.run(task, name, cot=cot)
        depth = r.decision.get("cot_steps")
        if r.decision.get("method") == "program":
            depth = None  # not the request a fixed depth (steps) makes
        return Graded(
            r.score,
            r.latency_ms,
            r.error,
            r.completion_tokens,
            r.prompt_tokens,
            depth if isinstance(depth, int) else -1,
        )

    return run_one


def round_robin(tasks: Sequence[Any]) -> list[Any]:
    """Interleave categories (code, math, ..., code, math, ...) keeping each one's order."""
    by_cat: dict[str, list[Any]] = {}
    for t in tasks:
        by_cat.setdefault(t.category, []).append(t)
    out: list[Any] = []
    queues = list(by_cat.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def cot_levels(spec: str, policy: dict[str, Any]) -> Levels:
    """``--cot``: which fixed depths to grade per task, always inside the task category's
    policy row (a decision never leaves its row): "min" (the row's lowest, when the row has
    a range), "all", "none", or comma-separated depths."""
    spec = spec.strip().lower()
    wanted: list[int] | None = None
    if spec not in ("min", "all", "none", ""):
        try:
            wanted = sorted({int(x) for x in spec.split(",") if x.strip()})
        except ValueError:
            raise ValueError(
                f"--cot: expected min, all, none or depths like 0,2; got {spec!r}"
            ) from None

    def levels(task: Any) -> list[int]:
        row = policy.get(task.category)
        if row is None or spec in ("none", ""):
            return []
        if spec == "min":
            return [row.cot_min] if row.cot_max > row.cot_min else []
        span = range(row.cot_min, row.cot_max + 1)
        return list(span) if wanted is None else [d for d in wanted if d in span]

    return levels


def done_keys(path: Path) -> set[tuple[str, str, str, int | None]]:
    return {(o.task, o.profile, o.fingerprint, o.cot) for o in load_outcomes([path])}


def append(path: Path, outcome: Outcome) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n")
        fh.flush()


async def calibrate(
    tasks: Sequence[Any],
    profiles: dict[str, str],
    run_one: RunOne,
    out: Path,
    budget_s: float | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    levels: Levels | None = None,
) -> CalibrationReport:
    """Run every (task, profile, depth) not yet graded (profiles: name -> model fingerprint;
    depths: the table's, then ``levels(task)``), appending each result to ``out``; stop
    starting new tasks once ``budget_s`` has passed. A fixed depth equal to the one the
    table gave that task in this run is not run twice: the request would be the same, so
    its result is recorded for both configurations."""
    report = CalibrationReport()
    done = done_keys(out)
    # per task, depth by depth, alternating profiles: a model never answers the same
    # prompt prefix twice in a row (its prompt cache would make the second look faster)
    wanted = [
        (task, name, cot)
        for task in round_robin(tasks)
        for cot in [None, *sorted(set(levels(task) if levels else ()))]
        for name in profiles
    ]
    plan = [(t, n, c) for t, n, c in wanted if (t.id, n, profiles[n], c) not in done]
    report.planned = len(plan)
    report.skipped = len(wanted) - len(plan)
    table_depth: dict[tuple[str, str], Graded] = {}
    started = clock()
    for i, (task, name, cot) in enumerate(plan):
        elapsed = clock() - started
        if budget_s is not None and elapsed >= budget_s:
            report.stopped_by_budget = True
            report.remaining = [(t.id, label(n, c)) for t, n, c in plan[i:]]
            break
        same = table_depth.get((task.id, name))
        if cot is not None and same is not None and same.cot_steps == cot:
            graded = same
        else:
            graded = await run_one(task, name, cot)
            report.ran += 1
        if cot is None:
            table_depth[(task.id, name)] = graded
        if graded.error:
            report.errors += 1
        append(
            out,
            Outcome(
                task.id,
                task.category,
                name,
                min(1.0, max(0.0, graded.score)),
                task.prompt,
                profiles[name],
                graded.latency_ms,
                cot=cot,
                completion_tokens=graded.completion_tokens,
                prompt_tokens=graded.prompt_tokens,
            ),
        )
        if progress is not None:
            progress(i + 1, len(plan), task.id, label(name, cot), graded, clock() - started)
    report.seconds = clock() - started
    return report


def progress_bar(write: Callable[[str], None]) -> Progress:
    """A one-line bar with the last result and the time left at the current pace."""

    def show(done: int, total: int, task: str, profile: str, g: Graded, elapsed: float) -> None:
        width = 24
        filled = int(width * done / max(1, total))
        eta = elapsed / done * (total - done)
        status = f"error: {g.error[:30]}" if g.error else f"score {g.score:.2f}"
        write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {profile:<10} "
            f"{task[:24]:<24} {status:<14} {g.latency_ms / 1000:5.1f} s  ~{eta / 60:.0f} min left"
            + ("\n" if done == total else "")
        )

    return show


def summary(outcomes: Sequence[Outcome], profiles: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Mean score and task count per configuration and category (what `calibrate` prints)."""
    table: dict[str, dict[str, list[float]]] = {}
    for o in outcomes:
        if profiles.get(o.profile) == o.fingerprint:
            name = label(o.profile, o.cot)
            table.setdefault(name, {}).setdefault(o.category, []).append(o.score)
    return {
        p: {c: {"mean": sum(v) / len(v), "n": len(v)} for c, v in sorted(cats.items())}
        for p, cats in sorted(table.items())
    }
