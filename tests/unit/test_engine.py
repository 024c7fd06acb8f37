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
