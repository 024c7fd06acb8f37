"""The request path with the fake backend: fast checks of streaming, forcing, cancelling."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tsr_lsp.config import ModelProfile, Settings, UnknownProfileError
from tsr_lsp.engine import Engine, GenerateOptions
from tsr_lsp.router.decision import RouteRequest


def fake_settings(delay: str = "") -> Settings:
    s = Settings()
    s.models = {
        "general": ModelProfile(backend="fake", tags=["general", "chat"], model=delay),
        "coder": ModelProfile(backend="fake", tags=["code", "fim"], cost=2.0, model=delay),
    }
    return s


def test_generate_streams_the_whole_answer_in_order(home: Path) -> None:
    engine = Engine(fake_settings())
    events: list[tuple[str, dict]] = []
    out = engine.generate(
        RouteRequest("Write a Python function to add numbers"),
        on_event=lambda k, p: events.append((k, p)),
    )
    assert events[0][0] == "decision" and events[0][1]["model"] == "coder"
    streamed = "".join(p["delta"] for k, p in events if k == "delta")
    assert streamed == out.text and out.text.startswith("[coder]")


def test_forcing_an_unknown_model_names_the_profile(home: Path) -> None:
    engine = Engine(fake_settings())
    with pytest.raises(UnknownProfileError, match="nope"):
        engine.generate(RouteRequest("hi"), options=GenerateOptions(model="nope"))


def test_cancel_stops_generation_early(home: Path) -> None:
    engine = Engine(fake_settings(delay="0.02"))
    cancel = threading.Event()
    seen: list[str] = []

    def on_event(kind: str, payload: dict) -> None:
        if kind == "delta":
            seen.append(payload["delta"])
            if len(seen) == 3:
                cancel.set()

    text = "word " * 200
    out = engine.generate(
        RouteRequest(text),
        on_event=on_event,
        cancel=cancel,
        options=GenerateOptions(raw=True, max_tokens=200),
    )
    assert out.cancelled
    assert len(seen) <= 4


def test_enough_ends_the_answer_early_without_a_cancel(home: Path) -> None:
    engine = Engine(fake_settings())
    text = "alpha beta gamma delta " * 50
    options = GenerateOptions(raw=True, max_tokens=200, enough=lambda t: "gamma" in t)
    out = engine.generate(RouteRequest(text), options=options)
    assert not out.cancelled and out.result.finish_reason == "stop"
    assert out.text.split()[1:] == ["alpha", "beta", "gamma"]  # nothing after the piece
    # the caller's cancel still cancels
    cancel = threading.Event()
    cancel.set()
    out = engine.generate(RouteRequest(text), options=options, cancel=cancel)
    assert out.cancelled


def test_a_cancel_after_the_last_token_records_no_episode(home: Path) -> None:
    """The caller cancelled while the model finished: it never gets the answer, so memory
    does not keep it; the same run uncancelled is recorded."""
    engine = Engine(fake_settings())
    cancel = threading.Event()

    def on_event(kind: str, payload: dict) -> None:
        if kind == "delta":
            cancel.set()  # during the one and last piece: the backend returns normally

    request = RouteRequest("Write a Python function to add numbers", project="/p")
    one = GenerateOptions(max_tokens=1)
    out = engine.generate(request, on_event=on_event, cancel=cancel, options=one)
    assert out.result.finish_reason == "stop"  # the model finished; the caller had gone
    assert out.cancelled and "episodeId" not in out.extra
    done = engine.generate(request, options=one)
    assert not done.cancelled and done.extra["episodeId"]
    assert [ep["id"] for ep in engine.memory.export("/p")] == [done.extra["episodeId"]]


def test_outcomes_choose_the_configuration_only_when_the_router_chooses_the_model(
    home: Path, tmp_path: Path
) -> None:
    import json

    from tsr_lsp.router.success import Outcome

    rows = []
    for i, verb in enumerate(["reverses a string", "sums a list", "sorts words", "counts vowels",
                              "merges two dicts", "finds the maximum"]):  # fmt: skip
        text = f"Write a Python function that {verb}"
        fp = "backend:fake"
        rows += [  # the coder is as right without a plan, in a quarter of the tokens
            Outcome(f"t{i}", "code", "coder", 1.0, text, fp, 900.0, 1.0, None, 200, 60),
            Outcome(f"t{i}", "code", "coder", 1.0, text, fp, 300.0, 1.0, 0, 50, 60),
            Outcome(f"t{i}", "code", "general", 0.0, text, fp, 400.0, 1.0, None, 100, 60),
        ]
    path = tmp_path / "outcomes.jsonl"
    path.write_text("".join(json.dumps(o.to_json()) + "\n" for o in rows))
    settings = fake_settings()
    settings.router.outcomes = str(path)
    engine = Engine(settings)
    request = RouteRequest("Write a Python function that reverses a list", kind="ask")
    routed = engine.generate(request).decision
    assert (routed.model, routed.cot_steps) == ("coder", 0)
    assert "coder CoT 0 predicted 1.00 in ~50 tokens" in routed.explanation
    # a forced profile gets the policy table's settings; cotSteps fixes the depth
    forced = engine.generate(request, options=GenerateOptions(model="coder")).decision
    assert "predicted" not in forced.explanation and "forced" in forced.explanation
    deep = engine.generate(request, options=GenerateOptions(model="coder", cot_steps=2))
    assert deep.decision.cot_steps == 2


def test_cot_steps_param_is_bounded() -> None:
    from tsr_lsp.server.custom import GenerateParams

    assert GenerateParams(text="x", cot_steps=3).options().cot_steps == 3
    with pytest.raises(ValueError, match="cotSteps"):
        GenerateParams(text="x", cot_steps=17)


async def test_a_cancel_after_the_run_was_recorded_forgets_its_episode(home: Path) -> None:
    """The feature-side half (tsr/generate and the code actions share it): the engine had
    recorded the run when the editor cancelled, so the episode goes when the run returns."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor
    from types import SimpleNamespace
    from typing import Any, cast

    from tsr_lsp.server.feature import CancelToken, LanguageFeature

    engine = Engine(fake_settings())
    request = RouteRequest("Write a Python function to add numbers", project="/p")
    kept = engine.generate(request, options=GenerateOptions(max_tokens=1))
    recorded, release = threading.Event(), threading.Event()

    def work() -> Any:
        out = engine.generate(request, options=GenerateOptions(max_tokens=1))
        recorded.set()
        release.wait(10)  # the reply is on its way when the cancel comes
        return out

    with ThreadPoolExecutor(2) as pool:
        feature = LanguageFeature(cast(Any, SimpleNamespace(engine=engine, thread_pool=pool)))
        token = CancelToken()
        task = asyncio.ensure_future(feature.generation(work, token))
        await asyncio.get_running_loop().run_in_executor(None, recorded.wait, 10)
        assert len(engine.memory.export("/p")) == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert token.is_set()
        release.set()
        for _ in range(200):
            if len(engine.memory.export("/p")) == 1:
                break
            await asyncio.sleep(0.02)
    assert [ep["id"] for ep in engine.memory.export("/p")] == [kept.extra["episodeId"]]


def program_settings() -> Settings:
    """Every row answers by program, so the fake backend's echo of a question decides
    whether the 'program' computes."""
    s = fake_settings()
    for row in s.router.policy.values():
        row.method = "program"
    return s


def test_a_program_that_computes_is_the_answer(home: Path) -> None:
    engine = Engine(program_settings())
    events: list[tuple[str, dict]] = []
    out = engine.generate(
        RouteRequest("Work out 6 x 7:\n```python\nanswer = 6 * 7\n```"),
        on_event=lambda k, p: events.append((k, p)),
    )
    assert out.decision.method == "program" and "a program" in out.decision.explanation
    streamed = "".join(p["delta"] for k, p in events if k == "delta")
    assert streamed.endswith("```\n\nAnswer: 42")  # editors show the stream
    assert out.text == "42"
    assert out.reasoning == "```python\nanswer = 6 * 7\n```"


def test_a_program_that_does_not_compute_is_answered_in_steps(home: Path) -> None:
    engine = Engine(program_settings())
    events: list[tuple[str, dict]] = []
    out = engine.generate(
        RouteRequest("How much is 6 x 7, in words?"), on_event=lambda k, p: events.append((k, p))
    )
    decisions = [p for k, p in events if k == "decision"]
    assert len(decisions) == 2 and "did not compute" in decisions[1]["explanation"]
    streamed = "".join(p["delta"] for k, p in events if k == "delta")
    assert streamed.count("How much is 6 x 7") == 2  # the program's attempt, then the steps'
    assert "How much is 6 x 7, in words?" in out.text and not out.text.startswith("```")
    words = len(f"[{out.decision.model}] How much is 6 x 7, in words?".split())
    assert out.result.completion_tokens == 2 * words  # the user waited for both


def test_a_depth_asked_for_is_answered_in_steps(home: Path) -> None:
    engine = Engine(program_settings())
    out = engine.generate(
        RouteRequest("Work out:\n```python\nanswer = 6 * 7\n```"),
        options=GenerateOptions(cot_steps=2),
    )
    assert out.decision.method == "steps" and out.text != "42"


def test_only_a_code_model_answers_by_program(home: Path) -> None:
    engine = Engine(program_settings())
    text = "Work out:\n```python\nanswer = 6 * 7\n```"
    out = engine.generate(RouteRequest(text), options=GenerateOptions(model="general"))
    assert out.decision.method == "steps" and "answered in steps" in out.decision.explanation
    out = engine.generate(RouteRequest(text), options=GenerateOptions(model="coder"))
    assert out.decision.method == "program" and out.text == "42"
