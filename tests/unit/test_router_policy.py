"""The shipped router end to end through the policy: the issue's table, inline completion,
hedging between close categories, and the loader's choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsr_lsp.config import Settings
from tsr_lsp.router.decision import Prediction, RouteRequest
from tsr_lsp.router.evaluate import REQUIRED_POLICY, within_policy
from tsr_lsp.router.loader import KeywordRouter, load_router
from tsr_lsp.router.policy import decide

ALL = {"general", "coder"}


def test_default_policy_realises_the_issue_table(home: Path) -> None:
    s = Settings()
    for cat, (tag, (lo, hi), (t_lo, t_hi)) in REQUIRED_POLICY.items():
        pol = s.router.policy[cat]
        assert pol.tags[0] == tag
        assert pol.cot_min >= lo and (hi is None or pol.cot_max <= hi)
        assert t_lo <= pol.temperature_min <= pol.temperature <= pol.temperature_max <= t_hi
        for difficulty in (0.0, 0.5, 1.0):
            d = decide(Prediction(cat, {cat: 0.95}, difficulty), RouteRequest("x"), s, ALL)
            assert within_policy(d, cat, s), (cat, difficulty, d)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Write a Python function that parses a CSV file into a list of dicts", "code"),
        ("hi, how are you today?", "chat"),
        ("Natalie has 5 apples and buys 3 more. How many does she have?", "math"),
        ("Write a haiku about the sea", "writing"),
        (
            "Extract all the dates from this text: we met on 3 May and again on 9 June.",
            "extraction",
        ),
        ("What's the sentiment of this review? 'Terrible service, cold food.'", "analysis"),
        ("Who painted the Mona Lisa?", "knowledge"),
        (
            "If all bloops are razzies and some razzies are lazzies, are some bloops lazzies?",
            "reasoning",
        ),
    ],
)
def test_shipped_weights_route_plain_requests(home: Path, text: str, category: str) -> None:
    router = load_router(Settings())
    assert router.name == "pretrained"
    prediction = router.predict(RouteRequest(text))
    assert prediction.category == category, prediction.scores
    assert abs(sum(prediction.scores.values()) - 1.0) < 1e-5


def test_a_greeting_to_write_suits_both_chat_and_writing(home: Path) -> None:
    """The foundation demo's second request sits between chat and writing; whichever wins,
    the settings must be right for both rows (CoT 0, a warm temperature, general model)."""
    s = Settings()
    req = RouteRequest("Say hello to my friend Anna in one sentence")
    d = decide(load_router(s).predict(req), req, s, ALL)
    assert d.category in ("chat", "writing")
    assert within_policy(d, "chat", s) and within_policy(d, "writing", s), d.explanation


def test_inline_completion_always_goes_to_a_fim_model(home: Path) -> None:
    s = Settings()
    router = load_router(s)
    req = RouteRequest("Dear Anna, thank you for", kind="inline_completion", language="markdown")
    d = decide(router.predict(req), req, s, ALL)
    assert d.model == "coder" and d.cot_steps == 0 and d.template == "inline_completion"


def test_unsure_between_knowledge_and_reasoning_takes_settings_that_suit_both(
    home: Path,
) -> None:
    s = Settings()
    scores = {"knowledge": 0.6, "reasoning": 0.35, "chat": 0.05}
    d = decide(Prediction("knowledge", scores, 0.0), RouteRequest("x"), s, ALL)
    assert d.category == "knowledge" and within_policy(d, "knowledge", s)
    assert within_policy(d, "reasoning", s)  # CoT 1, temperature <= 0.5
    assert "unsure (reasoning 0.35)" in d.explanation
    sure = decide(Prediction("knowledge", {"knowledge": 0.97}, 0.0), RouteRequest("x"), s, ALL)
    assert sure.cot_steps == 0 and "unsure" not in sure.explanation


def test_loader_choices(home: Path, tmp_path: Path) -> None:
    s = Settings()
    s.router.weights = "rules"
    assert isinstance(load_router(s), KeywordRouter)
    broken = tmp_path / "broken.tsrw"
    broken.write_bytes(b"not weights")
    s.router.weights = str(broken)
    router = load_router(s)
    assert router.name == "rules (weights unusable)"
    assert router.predict(RouteRequest("hello")).source == "rules (weights unusable)"


def test_routing_never_imports_torch(home: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from tsr_lsp.config import Settings; from tsr_lsp.engine import Engine;"
        "from tsr_lsp.router.decision import RouteRequest;"
        "d = Engine(Settings()).route(RouteRequest('hello'));"
        "assert d.router == 'pretrained', d.router;"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
