"""The answer-quality runner end to end: suite tasks through the real server (stdio, isolated
home) with the default models, forced and routed, graded from what came back."""

from __future__ import annotations

from pathlib import Path

from tsr_lsp.bench.answers import SuiteRunner, grade, load_tasks
from tsr_lsp.bench.answers.runner import run_tasks_async


async def test_runner_forces_routes_and_grades(models_dir: Path) -> None:
    tasks = load_tasks(
        "calibration",
        categories=["extraction", "chat"],
        per_category=1,
        exclude_router_corpus=False,
    )
    for task in tasks:
        task.max_tokens = 48
    seen: list[tuple[int, int]] = []
    async with SuiteRunner() as runner:
        results = await run_tasks_async(
            tasks,
            ["general", None],
            runner=runner,
            progress=lambda done, total, _r: seen.append((done, total)),
        )
        bad = await runner.run(tasks[0], "no-such-profile")
    assert seen[-1] == (4, 4)
    by_key = {(r.profile, r.task_id): r for r in results}
    for task in tasks:
        forced = by_key[("general", task.id)]
        routed = by_key[("routed", task.id)]
        assert forced.model == "general" and routed.model in ("general", "coder", "fim")
        for r in (forced, routed):
            assert not r.error, r.error
            assert r.latency_ms > 0 and 0 < r.completion_tokens <= 48
            assert r.score == grade(task, r.text)  # the score is the text's grade
            assert r.decision["category"]
    assert bad.score == 0.0 and "unknown model profile" in bad.error
