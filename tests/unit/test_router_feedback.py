"""Feedback moves later decisions inside the policy range, and says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import held_elsewhere
from tsr_lsp.config import Settings
from tsr_lsp.engine import Engine
from tsr_lsp.memory.api import FeedbackExample, HistoryFeatures, SettingStats
from tsr_lsp.router.decision import RouteRequest
from tsr_lsp.router.feedback import training_rows


@dataclass
class MemoryFeedback:
    """A plain in-memory FeedbackSource (the protocol in tsr_lsp/memory/api.py)."""

    stats: list[SettingStats] = field(default_factory=list)
    examples: list[FeedbackExample] = field(default_factory=list)

    def setting_stats(self, category: str, topic: str = "") -> list[SettingStats]:
        return [s for s in self.stats if s.category == category]

    def feedback_examples(
        self, limit: int = 10_000, *, routing: bool = False
    ) -> list[FeedbackExample]:
        return self.examples[:limit]

    def history(self, project: str, limit: int = 50) -> HistoryFeatures:
        return HistoryFeatures({"code": 4}, {"code": 0.8})


CSV = "Write a Python function that parses a CSV file into a list of dicts"


def csv_stats(good: float, bad: float, topic: str = "csv parsing") -> list[SettingStats]:
    return [
        SettingStats("code", "coder", good, 1, tries=10, accepted=8, rejected=2, topic=topic),
        SettingStats("code", "coder", bad, 1, tries=9, accepted=3, rejected=6, topic=topic),
    ]


def attach(engine: Engine, memory: object) -> Engine:
    """Attach a FeedbackSource as `engine.memory` (behind the lazy property when it exists)."""
    if isinstance(getattr(type(engine), "memory", None), property):
        engine._memory = memory  # what the property would open
    else:
        engine.memory = memory  # type: ignore[attr-defined]
    return engine


def engine_with(memory: MemoryFeedback | None) -> Engine:
    return attach(Engine(Settings()), memory)


def test_feedback_moves_the_temperature_and_explains_it(home: Path) -> None:
    before = engine_with(None).route(RouteRequest(CSV))
    assert before.category == "code" and before.temperature == 0.2
    after = engine_with(MemoryFeedback(csv_stats(0.3, 0.2))).route(RouteRequest(CSV))
    assert after.temperature == 0.3
    assert "feedback for 'csv parsing': temperature 0.3 accepted 8/10 vs 0.2 3/9" in (
        after.explanation
    )


def test_feedback_never_leaves_the_policy_range(home: Path) -> None:
    # users "accepted" 0.9 for code, but code temperature is capped at 0.3 by policy
    memory = MemoryFeedback(csv_stats(0.9, 0.2))
    decision = engine_with(memory).route(RouteRequest(CSV))
    assert decision.temperature == 0.2 and "feedback" not in decision.explanation


def test_the_topic_matching_the_request_wins(home: Path) -> None:
    # users liked 0.3 for xml schemas but 0.1 for csv parsing; whole-category says 0.3
    stats = csv_stats(0.3, 0.2, topic="xml schemas") + csv_stats(0.1, 0.2)
    stats += csv_stats(0.3, 0.2, topic="")
    decision = engine_with(MemoryFeedback(stats)).route(RouteRequest(CSV))
    assert decision.temperature == 0.1 and "'csv parsing'" in decision.explanation
    other = engine_with(MemoryFeedback(stats)).route(RouteRequest("Write a Rust HTTP server"))
    assert other.category == "code" and other.temperature == 0.3
    assert "feedback for code" in other.explanation


def test_too_little_evidence_changes_nothing(home: Path) -> None:
    few = [SettingStats("code", "coder", 0.3, 1, tries=2, accepted=2, topic="csv parsing")]
    decision = engine_with(MemoryFeedback(few)).route(RouteRequest(CSV))
    assert decision.temperature == 0.2


def test_feedback_moves_cot_depth_within_range(home: Path) -> None:
    stats = [
        SettingStats("math", "coder", 0.2, 4, tries=12, accepted=11, rejected=1),
        SettingStats("math", "coder", 0.2, 2, tries=12, accepted=4, rejected=8),
    ]
    text = "Tom has 3 apples and buys 5 more. How many apples does he have?"
    plain = engine_with(None).route(RouteRequest(text))
    moved = engine_with(MemoryFeedback(stats)).route(RouteRequest(text))
    assert plain.category == moved.category == "math"
    assert moved.cot_steps == 4 and "CoT 4 accepted 11/12" in moved.explanation


def test_broken_memory_never_blocks_routing(home: Path) -> None:
    class Broken:
        def setting_stats(self, category: str, topic: str = "") -> list[SettingStats]:
            raise OSError("index locked")

        def history(self, project: str, limit: int = 50) -> HistoryFeatures:
            raise OSError("index locked")

    engine = attach(Engine(Settings()), Broken())
    assert engine.route(RouteRequest(CSV)).category == "code"


def test_feedback_examples_become_training_rows() -> None:
    examples = [
        FeedbackExample("parse csv", "chat", "python", "code", "coder", 0.3, 1, "accepted"),
        FeedbackExample("parse xml", "chat", "python", "code", "coder", 0.2, 1, "edited"),
        FeedbackExample("hello", "chat", "", "chat", "general", 0.6, 0, "rejected"),
    ]
    rows = training_rows(examples)
    assert [r["text"] for r in rows] == ["parse csv", "parse xml"]
    assert rows[0]["weight"] == 1.0 and rows[1]["weight"] == 0.5
    assert rows[0]["temperature"] == 0.3 and rows[0]["source"] == "feedback"


def test_a_router_being_loaded_holds_no_other_route(home: Path) -> None:
    """Loading a project's own router holds the engine's lock for a second or more:
    requests for the loaded router, and the event loop's `heavy` pool, never wait on it
    (a lock per request queued every client's tsr/route behind one slow thread)."""
    from concurrent.futures import ThreadPoolExecutor

    engine = Engine(Settings())
    assert engine.route(RouteRequest(CSV)).category == "code"  # the router is loaded
    heavy = engine.heavy
    with held_elsewhere(engine._router_lock), ThreadPoolExecutor(2) as pool:
        assert pool.submit(engine.route, RouteRequest(CSV)).result(timeout=3).category == "code"
        assert pool.submit(lambda: engine.heavy).result(timeout=3) is heavy
    engine.close()
