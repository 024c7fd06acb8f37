"""Pure parts of memory: redaction, consolidation into patterns, query planning, ranking."""

from __future__ import annotations

import pytest

from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.redact import find_secrets, redact
from tsr_lsp.memory.retrieval import (
    Candidate,
    QueryPlan,
    RetrievalConfig,
    plan_query,
    rerank,
    strip_speakers,
)
from tsr_lsp.memory.semantic import consolidate, match_topic, topic_terms


@pytest.mark.parametrize(
    ("text", "kind", "secret"),
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "aws-key", "AKIAIOSFODNN7EXAMPLE"),
        ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx", "api-key", "abcdefghijklmnop"),
        ("postgres://app:s3cr3tpass@db:5432/x", "url-password", "s3cr3tpass"),
        (
            "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
            "bearer",
            "abcdefghijklmnopqrst",
        ),
        ('{"password": "correct-horse-battery"}', "password", "correct-horse-battery"),
        ("tok ghp_abcdefghijklmnopqrstuvwxyz0123456789", "github-token", "ghp_abcdefghij"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "private-key",
            "MIIEpAIBAAKCAQEA",
        ),
    ],
)
def test_redact_removes_each_kind_of_secret(text: str, kind: str, secret: str) -> None:
    assert kind in find_secrets(text)
    out = redact(text)
    assert secret not in out and f"[REDACTED:{kind}]" in out


def test_redact_keeps_ordinary_text() -> None:
    text = "Parse the CSV file at https://example.com/data.csv with a token-bucket limiter"
    assert redact(text) == text


def _episodes(temp: float, accepted: int, tries: int, text: str) -> list[Episode]:
    return [
        Episode(
            project="/p",
            text=text,
            category="code",
            model="coder",
            temperature=temp,
            cot_steps=0,
            outcome="accepted" if i < accepted else "rejected",
        )
        for i in range(tries)
    ]


def test_consolidation_states_what_worked_per_topic() -> None:
    eps = _episodes(0.3, 8, 10, "Write a function for parsing a CSV file")
    eps += _episodes(0.7, 3, 9, "Parse this CSV export")
    eps += _episodes(0.7, 2, 2, "Sort a list of numbers")
    patterns = consolidate(eps)
    topic = match_topic(patterns, "code", "continue with the csv parser")
    assert topic is not None and topic.topic == "csv parsing"
    assert topic.statement == "for csv parsing tasks, temperature 0.3 accepted 8/10 vs 0.7 3/9"
    ids = {i for s in topic.settings for i in s.episode_ids}
    assert ids == {e.id for e in eps[:19]}
    whole = match_topic(patterns, "code", "something unrelated")
    assert whole is not None and whole.topic == "" and sum(s.tries for s in whole.settings) == 21
    stats = {s.temperature: s for s in topic.stats()}
    assert stats[0.3].accepted == 8 and stats[0.7].rejected == 6


def test_topic_terms_ignore_generic_words_and_redactions() -> None:
    terms = topic_terms("Please write a Python function [REDACTED:api-key] to parse CSV rows")
    assert set(terms) == {"pars", "csv", "row"}


def test_query_plan_sets_speakers_aside_and_drops_question_words() -> None:
    plan = plan_query(
        "When did Caroline go to the LGBTQ support group?",
        analyze=lambda w: [w.lower()],
        is_speaker=lambda t: t == "caroline",
    )
    assert plan.speakers == {"caroline"}
    assert set(plan.terms) == {"go", "lgbtq", "support", "group"}


def test_rerank_credits_neighbours_and_speakers() -> None:
    plan = QueryPlan({"x": 1.0}, speakers={"ann"})
    cands = [
        Candidate(0, 1.0, thread=1, seq=5, speaker=2, ts_ms=0),
        Candidate(1, 0.9, thread=1, seq=6, speaker=1, ts_ms=0),  # Ann, next to the best
        Candidate(2, 0.95, thread=2, seq=1, speaker=2, ts_ms=0),
    ]
    config = RetrievalConfig(neighbour=0.5, speaker_boost=0.5, dense_weight=0.0)
    ranked = rerank(cands, plan, lambda s: 1 if s == "ann" else 2, 0, config)
    assert [c.key for _s, c in ranked] == [1, 0, 2]


def test_strip_speakers_removes_names_only() -> None:
    out = strip_speakers(
        "Wow, Caroline! Caroline's painting is lovely, carol.",
        is_speaker=lambda t: t == "caroline",
        analyze=lambda w: [w.lower()],
    )
    assert out == "Wow, painting is lovely, carol."
