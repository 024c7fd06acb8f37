from __future__ import annotations

from pathlib import Path

from tsr_lsp.config import Settings
from tsr_lsp.router.decision import Prediction, RouteRequest
from tsr_lsp.router.policy import decide, pick_profile
from tsr_lsp.router.rules import keyword_predict


def settings() -> Settings:
    return Settings()


def test_pick_profile_prefers_first_tag_then_lowest_cost(home: Path) -> None:
    s = settings()
    assert pick_profile(s.models, ["code", "general"], {"general", "coder"}) == "coder"
    assert pick_profile(s.models, ["code", "general"], {"general"}) == "general"
    assert pick_profile(s.models, ["general"], {"general", "coder"}) == "general"  # cheaper


def test_low_confidence_falls_back_and_says_so(home: Path) -> None:
    s = settings()
    pred = Prediction("code", {"code": 0.2, "chat": 0.1}, 0.5)
    d = decide(pred, RouteRequest("x"), s, {"general", "coder"})
    assert d.model == s.router.fallback_profile and d.fallback
    assert "low confidence" in d.explanation


def test_cot_scales_with_difficulty_within_policy(home: Path) -> None:
    s = settings()
    easy = decide(
        Prediction("math", {"math": 0.9}, 0.0), RouteRequest("x"), s, {"general", "coder"}
    )
    hard = decide(
        Prediction("math", {"math": 0.9}, 1.0), RouteRequest("x"), s, {"general", "coder"}
    )
    pol = s.router.policy["math"]
    assert easy.cot_steps == pol.cot_min and hard.cot_steps == pol.cot_max


def test_inline_completion_goes_to_a_fim_model_without_cot(home: Path) -> None:
    s = settings()
    d = decide(
        Prediction("chat", {"chat": 1.0}),
        RouteRequest("x", kind="inline_completion"),
        s,
        {"general", "coder"},
    )
    assert d.model == "coder" and d.cot_steps == 0 and d.template == "inline_completion"


def test_keyword_router_separates_the_foundation_examples() -> None:
    code = keyword_predict(
        RouteRequest("Write a Python function that parses a CSV file into a list of dicts")
    )
    chat = keyword_predict(RouteRequest("Say hello to my friend Anna in one sentence"))
    assert code.category == "code"
    assert chat.category == "chat"
    assert abs(sum(code.scores.values()) - 1.0) < 1e-9


def test_maths_answers_by_program_only_when_a_number_is_asked_for(home: Path) -> None:
    s = settings()
    pred = Prediction("math", {"math": 0.9}, 0.5)
    available = {"general", "coder"}

    def method(text: str, **kw: str) -> str:
        return decide(pred, RouteRequest(text, **kw), s, available).method

    assert method("A train covers 120 km in 1.5 hours. What is its speed?") == "program"
    assert method("Prove that there are infinitely many primes") == "steps"
    assert method("What is the derivative of x^3 + 2x?") == "steps"
    assert method("How many times does this loop run for n = 4?", context="for i in x:") == "steps"
    assert method("Explain the bug in 2 lines", kind="explain") == "steps"
    s.router.policy["math"].method = "steps"  # a user's config turns it off
    assert method("A train covers 120 km in 1.5 hours. What is its speed?") == "steps"


def test_without_a_code_model_maths_is_answered_in_steps(home: Path) -> None:
    d = decide(
        Prediction("math", {"math": 0.9}, 0.5),
        RouteRequest("A train covers 120 km in 1.5 hours. What is its speed?"),
        settings(),
        {"general"},
    )
    assert (d.model, d.method) == ("general", "steps") and "a program" not in d.explanation
