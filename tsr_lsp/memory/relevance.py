"""The relevance gate: which remembered episodes may enter a prompt. Pure.

Retrieval (retrieval.py) ranks episodes against each other; its scores are relative (the
best candidate is always 1.0), so "the best of the unrelated" still ranks first. Small
models follow whatever a prompt holds: three code questions in memory turned "What is the
capital of France?" into an answer about a CSV parser. So an episode enters the prompt only
when the request itself points at it:

- relevance = the share of the request's content words the episode contains, words
  weighted by how specific they are (request vocabulary such as "write", "python",
  "function", "explain" counts a quarter; stop words nothing), with light stemming so
  "parser" meets "parses";
- at least one specific word must match (generic words alone never qualify);
- a stand-alone request takes only a near-repeat of an earlier one (threshold 0.9): a
  project full of similar work (the same extraction instructions, the same kind of
  question) must not leak an old answer's names and numbers into a new task;
- a request that refers back in its first clause ("continue the CSV parser", "the function
  we wrote earlier", "from before") and pinned facts and decisions take 0.25: a single
  shared topic word is then enough evidence.

Episodes that pass are kept best first within an item cap and a token budget.
docs/ANSWERS.md measures the effect (memory_harm, memory_help).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tsr_lsp.memory.retrieval import STOPWORDS

T = TypeVar("T")

# words every request uses: they say what kind of help is wanted, not what it is about
_GENERIC_TEXT = """
    write writes written rewrite create make makes give show explain describe tell list
    python code coding program script function functions method methods class classes
    example examples simple short small quick please help want need add adds change
    use using used new file files value values return returns input output variable
    question answer answers one two three sentence sentences paragraph way thing things
    good best better work works working implement implementation improve modify update
    option options argument arguments parameter parameters support version
"""
GENERIC = frozenset(_GENERIC_TEXT.split())
# words that refer back to earlier work: the user expects memory
_BACK_TEXT = """
    continue continuing continued resume extend extending earlier previous previously
    again remember recall yesterday existing
"""
BACK_REFERENCES = frozenset(_BACK_TEXT.split())
BACK_PHRASES = re.compile(
    r"\b(?:we|you|i)\s+(?:wrote|made|built|created|discussed|started|had|did)\b"
    r"|\b(?:from|as|like) (?:before|earlier|last time)\b|\blast time\b",
    re.IGNORECASE,
)
_FIRST_CLAUSE = re.compile(r"[^.?!:;\n]*")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s", "e", "ly")
_WORD = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*")


@dataclass(frozen=True)
class GateSettings:
    threshold: float = 0.9  # share of the request's weighted content words an episode holds
    back_reference_threshold: float = 0.25  # the same when the request refers back
    generic_weight: float = 0.25
    response_credit: float = 0.5  # a word found only in the episode's answer counts half


DEFAULT_GATE = GateSettings()


def stem(word: str) -> str:
    """A crude suffix strip: enough for "parser"/"parses"/"parsing" to meet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stop words and back-references; identifiers such as
    ``parse_rows`` and compounds such as ``to-do`` stay whole and also give their parts."""
    out: set[str] = set()
    for word in _WORD.findall(text.lower()):
        parts = [word, *re.split(r"[_-]", word)] if "_" in word or "-" in word else [word]
        for part in parts:
            if part and part not in STOPWORDS and part not in BACK_REFERENCES and len(part) > 1:
                out.add(part)
    return out


def refers_back(text: str) -> bool:
    """Whether the request's first clause (its instruction, not a pasted passage) points
    at earlier work or at the project."""
    m = _FIRST_CLAUSE.match(text.strip())
    head = m.group(0) if m else ""
    words = set(_WORD.findall(head.lower()))
    return bool(words & BACK_REFERENCES) or BACK_PHRASES.search(head) is not None


def _matches(word: str, stems: set[str], words: set[str]) -> bool:
    if word in words:
        return True
    s = stem(word)
    if s in stems:
        return True
    return len(s) >= 5 and any(len(o) >= 5 and o[:5] == s[:5] for o in stems)


def relevance(
    query: str, episode_text: str, episode_response: str = "", gate: GateSettings = DEFAULT_GATE
) -> float:
    """0..1: how much of the request's content the episode holds (0 unless at least one
    specific, non-generic word matches)."""
    q = content_words(query)
    if not q:
        return 0.0
    text_words = content_words(episode_text)
    resp_words = content_words(episode_response)
    text_stems = {stem(w) for w in text_words}
    resp_stems = {stem(w) for w in resp_words}
    total = got = 0.0
    specific_hit = False
    for word in q:
        weight = gate.generic_weight if word in GENERIC else 1.0
        total += weight
        if _matches(word, text_stems, text_words):
            got += weight
            specific_hit = specific_hit or word not in GENERIC
        elif resp_words and _matches(word, resp_stems, resp_words):
            got += weight * gate.response_credit
            specific_hit = specific_hit or word not in GENERIC
    return got / total if specific_hit else 0.0


def gate_threshold(query: str, gate: GateSettings = DEFAULT_GATE) -> float:
    return gate.back_reference_threshold if refers_back(query) else gate.threshold


def select_relevant(
    query: str,
    candidates: Iterable[T],
    *,
    text_of: Callable[[T], tuple[str, str]],
    cost_of: Callable[[T], int],
    max_items: int,
    token_budget: int,
    gate: GateSettings = DEFAULT_GATE,
    pinned: Callable[[T], bool] = lambda _c: False,
) -> list[tuple[float, T]]:
    """The candidates that pass the gate, most relevant first, within ``max_items`` and
    ``token_budget`` (a candidate that does not fit is skipped; a smaller one may).
    ``pinned`` candidates (facts the user pinned) take the lower threshold."""
    threshold = gate_threshold(query, gate)
    scored: list[tuple[float, int, T]] = []
    for i, cand in enumerate(candidates):
        text, response = text_of(cand)
        score = relevance(query, text, response, gate)
        if score >= (gate.back_reference_threshold if pinned(cand) else threshold):
            scored.append((score, i, cand))
    scored.sort(key=lambda s: (-s[0], s[1]))
    out: list[tuple[float, T]] = []
    budget = token_budget
    for score, _i, cand in scored:
        if len(out) >= max_items:
            break
        cost = cost_of(cand)
        if cost > budget:
            continue
        budget -= cost
        out.append((score, cand))
    return out


def explain(query: str, items: Sequence[tuple[float, Any]]) -> str:
    """One line for logs and debug output: why memory did or did not enter the prompt."""
    mode = "refers back" if refers_back(query) else "stand-alone"
    return f"memory gate ({mode}, threshold {gate_threshold(query):.2f}): {len(items)} episode(s)"
