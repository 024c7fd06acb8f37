"""router calibrate's bookkeeping: results are appended as they come, a rerun skips what
is done (per task, profile and model), a time budget stops between tasks, and categories
are interleaved so a short budget still covers each of them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tsr_lsp.router.calibrate import CalibrationReport, Graded, calibrate, round_robin, summary
from tsr_lsp.router.success import load_outcomes


@dataclass
class T:
    id: str
    category: str
    prompt: str


TASKS = [T(f"{c}-{i}", c, f"{c} task {i}") for c in ("code", "math", "chat") for i in range(3)]


class Runner:
    def __init__(self, fail_on: str = "") -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_on = fail_on

    async def __call__(self, task: T, profile: str, cot: int | None = None) -> Graded:
        self.calls.append((task.id, profile))
        if task.id == self.fail_on:
            return Graded(0.0, 5.0, "model failed to load")
        return Graded(1.0 if profile == "coder" or task.category == "chat" else 0.0, 10.0)


def run(out: Path, runner: Runner, profiles: dict[str, str], **kw: Any) -> CalibrationReport:
    return asyncio.run(calibrate(TASKS, profiles, runner, out, **kw))


def test_round_robin_interleaves_categories() -> None:
    assert [t.id for t in round_robin(TASKS)][:4] == ["code-0", "math-0", "chat-0", "code-1"]


def test_results_are_appended_and_a_rerun_skips_them(tmp_path: Path) -> None:
    out = tmp_path / "outcomes.jsonl"
    profiles = {"coder": "file:coder.gguf", "general": "file:general.gguf"}
    first = Runner()
    report = run(out, first, profiles)
    assert len(first.calls) == 18 and report.ran == 18 and report.skipped == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 18 and {r["profile"] for r in rows} == {"coder", "general"}
    assert all(r["text"] for r in rows)
    again = Runner()
    report = run(out, again, profiles)
    assert again.calls == [] and report.skipped == 18
    # the general profile now points at another model: only it is calibrated again
    moved = Runner()
    run(out, moved, {**profiles, "general": "file:bigger.gguf"})
    assert {p for _, p in moved.calls} == {"general"} and len(moved.calls) == 9
    stats = summary(
        load_outcomes([out]), {"coder": "file:coder.gguf", "general": "file:bigger.gguf"}
    )
    assert stats["coder"]["code"] == {"mean": 1.0, "n": 3}
    assert stats["general"]["chat"] == {"mean": 1.0, "n": 3}
    assert stats["general"]["math"]["mean"] == 0.0


def test_budget_stops_between_tasks_and_the_rerun_resumes(tmp_path: Path) -> None:
    out = tmp_path / "outcomes.jsonl"
    ticks = iter(range(100))
    report = run(out, Runner(), {"coder": "f"}, budget_s=4, clock=lambda: float(next(ticks)))
    assert report.stopped_by_budget and report.ran == 3
    assert {r.category for r in load_outcomes([out])} == {"code", "math", "chat"}
    rest = Runner()
    report = run(out, rest, {"coder": "f"})
    assert len(rest.calls) == 6 and report.skipped == 3
    assert len(load_outcomes([out])) == 9


def test_a_failing_task_is_kept_as_a_zero_and_counted(tmp_path: Path) -> None:
    out = tmp_path / "outcomes.jsonl"
    report = run(out, Runner(fail_on="math-1"), {"coder": "f"})
    assert report.errors == 1
    scores = {o.task: o.score for o in load_outcomes([out])}
    assert scores["math-1"] == 0.0 and scores["math-0"] == 1.0


def test_fixed_depths_are_graded_as_configurations_without_running_twice(
    tmp_path: Path,
) -> None:
    from tsr_lsp.config import default_policy
    from tsr_lsp.router.calibrate import cot_levels

    levels = cot_levels("min", default_policy())
    # code's row is CoT 0-3 (min 0); math's 2-4 (min 2); chat has no range
    assert [levels(t) for t in (TASKS[0], TASKS[3], TASKS[6])] == [[0], [2], []]
    assert cot_levels("all", default_policy())(TASKS[3]) == [2, 3, 4]
    assert cot_levels("1,3,9", default_policy())(TASKS[0]) == [1, 3]
    assert cot_levels("none", default_policy())(TASKS[0]) == []
    with pytest.raises(ValueError, match="--cot"):
        cot_levels("deep", default_policy())

    calls: list[tuple[str, int | None]] = []

    async def run_one(task: T, profile: str, cot: int | None) -> Graded:
        calls.append((task.id, cot))
        table_depth = 0 if task.id == "code-0" else 1  # the table gave code-0 CoT 0
        used = table_depth if cot is None else cot
        return Graded(1.0 if used else 0.5, 10.0 * (used + 1), "", 20 * (used + 1), 50, used)

    out = tmp_path / "outcomes.jsonl"
    report = asyncio.run(calibrate(TASKS, {"coder": "f"}, run_one, out, levels=levels))
    # 9 tasks at the table's depth + 6 code/math tasks at their row's minimum, one of which
    # (code-0 at CoT 0) is the table's own request again: recorded, not run
    assert report.planned == 15 and report.ran == 14
    assert ("code-0", 0) not in calls and ("code-1", 0) in calls
    rows = load_outcomes([out])
    code0 = {r.cot: r for r in rows if r.task == "code-0"}
    assert code0[0].score == code0[None].score and code0[0].completion_tokens == 20
    assert {r.cot for r in rows if r.task == "math-0"} == {None, 2}
    assert summary(rows, {"coder": "f"})["coder CoT 0"]["code"]["n"] == 3
    again = asyncio.run(calibrate(TASKS, {"coder": "f"}, run_one, out, levels=levels))
    assert again.ran == 0 and again.skipped == 15
