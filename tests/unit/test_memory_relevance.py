"""The memory relevance gate: unrelated episodes never reach a prompt; a follow-up that
refers to earlier work gets it; the item cap and token budget hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_memory_service import fake_settings
from tsr_lsp.engine import Engine, GenerateOptions
from tsr_lsp.memory.relevance import (
    GateSettings,
    content_words,
    refers_back,
    relevance,
    select_relevant,
    stem,
)
from tsr_lsp.router.decision import RouteRequest

CODE_EPISODES = [
    (
        "Write a Python function parse_rows(path) that parses a CSV file into a list of dicts",
        "def parse_rows(path): import csv ...",
    ),
    (
        "Write a Python class that caches the results of slow lookups in a dict",
        "class LookupCache: ...",
    ),
    ("Explain Python decorators with an example", "A decorator wraps a function ..."),
]


def pick(query: str, episodes=CODE_EPISODES, **kw) -> list[str]:  # type: ignore[no-untyped-def]
    chosen = select_relevant(
        query,
        episodes,
        text_of=lambda ep: ep,
        cost_of=lambda ep: len(ep[0]) // 4,
        max_items=kw.pop("max_items", 4),
        token_budget=kw.pop("token_budget", 400),
        **kw,
    )
    return [ep[0] for _score, ep in chosen]


def test_unrelated_questions_get_no_memory() -> None:
    assert pick("What is the capital of France?") == []
    assert pick("Say hello to my friend Anna in one sentence") == []
    # shared request words ("write a python function") are not a shared topic
    assert pick("Write a Python function that reverses a string") == []
    assert pick("Explain how photosynthesis works") == []


def test_a_follow_up_gets_the_episode_it_refers_to() -> None:
    assert pick("continue the CSV parser: add a delimiter option") == [CODE_EPISODES[0][0]]
    assert pick("Add a method to the cache class we wrote earlier that empties the cache") == [
        CODE_EPISODES[1][0]
    ]
    assert pick("What does parse_rows return?") == [CODE_EPISODES[0][0]]


def test_a_repeated_question_passes_without_a_back_reference() -> None:
    assert pick("Explain Python decorators") == [CODE_EPISODES[2][0]]


def test_generic_words_alone_never_qualify() -> None:
    assert relevance("write a python function", "Write a Python function that sorts") == 0.0
    assert relevance("csv", "") == 0.0
    assert relevance("", "anything") == 0.0


def test_words_found_only_in_the_answer_count_half() -> None:
    full = relevance("LookupCache eviction", "LookupCache eviction policy")
    half = relevance("LookupCache eviction", "a cache", "LookupCache eviction policy")
    assert full == 1.0 and half == pytest.approx(0.5)


def test_back_references_lower_the_bar() -> None:
    assert refers_back("continue the CSV parser")
    assert refers_back("the function we wrote")
    assert refers_back("like last time")
    assert not refers_back("What is the capital of France?")
    query = "add a delimiter to the CSV output"
    score = relevance(query, CODE_EPISODES[0][0])
    assert 0.25 <= score < 0.5  # one topic word of two: only enough when referring back
    assert pick(query) == []
    assert pick(query + " from before") == [CODE_EPISODES[0][0]]


def test_cap_budget_and_order() -> None:
    eps = [(f"csv parser note {i} " + "x " * (10 * i), "") for i in range(1, 6)]
    assert len(pick("csv parser", eps, max_items=2)) == 2
    small = pick("csv parser", eps, token_budget=30)
    assert small and sum(len(e) // 4 for e in small) <= 30
    strict = GateSettings(threshold=1.01, back_reference_threshold=1.01)
    assert pick("csv parser", eps, gate=strict) == []


def test_stemming_and_identifiers() -> None:
    assert stem("parser") == stem("parses") == stem("parsing") == stem("parse")
    assert stem("delimiter") == stem("delimited")
    assert {"parse_rows", "parse", "rows"} <= content_words("call parse_rows now")
    assert "the" not in content_words("the csv")


def test_the_engine_keeps_unrelated_memory_out_of_the_prompt(home: Path) -> None:
    """The issue's case: three code questions, then a knowledge question."""
    engine = Engine(fake_settings(home))
    for text, _resp in CODE_EPISODES:
        engine.generate(RouteRequest(text, project="/p"))
    out = engine.generate(
        RouteRequest("What is the capital of France?", project="/p"),
        options=GenerateOptions(debug=True),
    ).to_json()
    prompt = "\n".join(m["content"] for m in out["messages"])
    assert out["memory"]["episodes"] == []
    assert "Earlier in this project" not in prompt and "CSV" not in prompt
    follow = engine.generate(
        RouteRequest("Continue the CSV parser: add a delimiter option", project="/p"),
        options=GenerateOptions(debug=True),
    ).to_json()
    prompt = "\n".join(m["content"] for m in follow["messages"])
    assert len(follow["memory"]["episodes"]) == 1 and "parse_rows" in prompt
    engine.close()


def test_turns_of_the_same_session_always_pass(home: Path) -> None:
    engine = Engine(fake_settings(home))
    haiku = engine.generate(
        RouteRequest("Write a haiku about autumn leaves", project="/p"),
        options=GenerateOptions(session="s1"),
    ).to_json()["episodeId"]
    again = engine.generate(
        RouteRequest("Make it shorter", project="/p"),
        options=GenerateOptions(session="s1", debug=True),
    ).to_json()
    assert again["memory"]["episodes"] == [haiku]
    other = engine.generate(
        RouteRequest("Make it rhyme", project="/p"), options=GenerateOptions(debug=True)
    ).to_json()
    assert haiku not in other["memory"]["episodes"]  # another conversation
    engine.close()
