"""`bench answers` arithmetic: per-profile and per-category quality, the routed trade-off
against the best single profile, and the keys the issue names."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tsr_lsp.bench.answers.bench import ci95, summarize, unrelated_episodes
from tsr_lsp.bench.answers.runner import TaskResult


def r(profile: str, category: str, score: float, ms: float, model: str = "") -> TaskResult:
    return TaskResult("t", category, "report", profile, model or profile, score, ms, 10, 20)


def test_summary_keys_and_the_routed_trade_off() -> None:
    results = [
        r("general", "code", 0.0, 100),
        r("general", "chat", 1.0, 100),
        r("coder", "code", 1.0, 400),
        r("coder", "chat", 1.0, 400),
        r("routed", "code", 1.0, 400, "coder"),
        r("routed", "chat", 1.0, 100, "general"),
    ]
    out = summarize(results)
    assert out["quality_general"] == 0.5 and out["quality_coder"] == 1.0
    assert out["best_profile"] == "coder"
    assert out["quality_best_profile"] == 1.0 and out["latency_best_profile_ms"] == 400
    assert out["quality_routed"] == 1.0 and out["latency_routed_ms"] == 250
    assert out["quality_kept_ratio"] == 1.0 and out["latency_share_ratio"] == 0.625
    assert out["quality_code"] == 1.0 and out["quality_chat"] == 1.0  # routed is the headline
    assert out["routed_to_coder_ratio"] == 0.5
    assert out["quality_code_general"] == 0.0


def test_quality_is_the_mean_of_category_means() -> None:
    results = [r("general", "code", 1.0, 1)] + [r("general", "chat", 0.0, 1)] * 3
    assert summarize(results)["quality_general"] == 0.5  # not 0.25: categories weigh equally


def test_without_routing_the_best_profile_is_the_headline() -> None:
    out = summarize([r("general", "math", 0.25, 1), r("coder", "math", 0.75, 1)])
    assert out["quality_math"] == 0.75 and "quality_routed" not in out


def test_ci95() -> None:
    assert ci95([1.0] * 10) == 0.0
    assert ci95([0.0, 1.0] * 50) == pytest.approx(1.96 * (0.2525 / 100) ** 0.5, rel=1e-3)


def test_unrelated_memory_is_calibration_work() -> None:
    episodes = unrelated_episodes("/p", per_category=1)
    assert len(episodes) == 3 + 8
    assert all(e["project"] == "/p" and e["text"] and e["response"] for e in episodes)


def test_schedule_staggers_profiles_over_the_same_stretch() -> None:
    from tsr_lsp.bench.answers.runner import schedule

    order = schedule(4, 3)
    assert sorted(order) == [(i, j) for i in range(4) for j in range(3)]  # each pair once
    position = {pair: k for k, pair in enumerate(order)}
    # no pass runs last: every profile's tasks spread over the whole run
    for j in range(3):
        mine = [k for (i, jj), k in position.items() if jj == j]
        assert max(mine) - min(mine) >= len(order) // 2
    # a task's answers by two profiles are never adjacent in the run (prompt cache)
    for a, b in itertools.pairwise(order):
        assert a[0] != b[0]


def test_tradeoff_interval_brackets_the_ratios() -> None:
    from tsr_lsp.bench.answers.bench import tradeoff_interval

    results = []
    for i in range(10):
        for cat in ("code", "chat"):
            b = TaskResult(f"{cat}{i}", cat, "report", "coder", "coder", 1.0, 400 + i, 1, 1)
            ok = 1.0 if i % 5 else 0.0  # routing loses 1 in 5 tasks, at half the latency
            x = TaskResult(f"{cat}{i}", cat, "report", "routed", "general", ok, 200 + i, 1, 1)
            results += [b, x]
    out = summarize(results)
    assert out["quality_kept_ratio"] == 0.8
    assert out["quality_kept_ratio_lo"] < 0.8 < out["quality_kept_ratio_hi"] <= 1.0
    assert out["latency_share_ratio_lo"] < out["latency_share_ratio"]
    assert out["latency_share_ratio"] < out["latency_share_ratio_hi"] < 0.6
    assert tradeoff_interval(results[:2], "coder") is None  # one task: no interval


def test_a_baseline_checkouts_routing_is_compared_with_the_same_best_profile() -> None:
    results = [
        r("coder", "code", 1.0, 400),
        r("coder", "chat", 1.0, 400),
        r("routed", "code", 1.0, 200, "coder"),
        r("routed", "chat", 1.0, 100, "general"),
        r("routed_baseline", "code", 1.0, 400, "coder"),
        r("routed_baseline", "chat", 1.0, 400, "coder"),
    ]
    out = summarize(results)
    assert out["best_profile"] == "coder"  # the baseline's routing is not a profile
    assert out["baseline_quality_kept_ratio"] == 1.0
    assert out["baseline_latency_share_ratio"] == 1.0 and out["latency_share_ratio"] == 0.375
    assert out["routed_vs_baseline_latency_ratio"] == 0.375


def test_a_baseline_is_served_from_its_own_checkout(tmp_path: Path) -> None:
    """Run from this checkout's root, `python -m` used to import this checkout for the
    baseline too; the runner starts it with -P and checks where tsr_lsp comes from."""
    import sys

    from tsr_lsp.bench.answers.runner import _check_served_from

    base = tmp_path / "base"
    (base / "tsr_lsp").mkdir(parents=True)
    (base / "tsr_lsp" / "__init__.py").write_text("")
    _check_served_from(base, sys.executable, {"PYTHONPATH": str(base)})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="its server would import"):
        _check_served_from(empty, sys.executable, {"PYTHONPATH": str(empty)})


def test_every_profile_answers_route_to_is_forced_by_default(home: Path) -> None:
    from tsr_lsp.bench.answers.bench import routable_profiles

    # the best single profile of the trade-off must be among them: the 1.5B answers too
    assert routable_profiles() == ["coder", "fim", "general"]
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "config.toml").write_text('[models.fim]\ntags = ["fim"]\n')
    assert routable_profiles() == ["coder", "general"]
