"""Hybrid ranking for episodic memory. Pure: no Tantivy, no I/O.

The store (store.py) turns a `QueryPlan` into a Tantivy query, fetches a candidate pool with
per-candidate facts (BM25 score, thread, position, speaker, time) and hands them to `rerank`.
docs/MEMORY.md lists what each technique added on LoCoMo; the defaults in `RetrievalConfig`
are the cross-validated ones.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

# A standard English stop list plus question words: tantivy's built-in "english" list is
# Lucene's 33 words, which leaves "what", "did", "when", "how" ... in every query.
_STOP_TEXT = """a about above after again against all am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn
    doing don down during each few for from further had hadn has hasn have haven having he
    her here hers herself him himself his how i if in into is isn it its itself just let
    ll me more most mustn my myself no nor not now of off on once only or other ought our
    ours ourselves out over own re s same shan she should shouldn so some such t than that
    the their theirs them themselves then there these they this those through to too under
    until up ve very was wasn we were weren what when where which while who whom why will
    with won would wouldn you your yours yourself yourselves d m o y ain also ever get got
    like really yes yeah oh hey hi thanks thank lot way much many"""
STOPWORDS = frozenset(_STOP_TEXT.split())

_MONTH_TEXT = (
    "january february march april may june july august september october november december"
)
MONTHS = _MONTH_TEXT.split()


@dataclass(frozen=True)
class RetrievalConfig:
    """Knobs of the hybrid ranking (defaults = the cross-validated choice)."""

    # how much a query term found in each field counts (Tantivy BM25 per field, summed)
    field_boosts: dict[str, float] = field(
        default_factory=lambda: {
            "text": 1.0,
            "ctx_prev": 0.25,
            "ctx_next": 0.25,
            "response": 0.6,
            "when": 1.0,
        }
    )
    stopwords: bool = True  # drop stop and question words from the query
    speaker_terms: str = "boost"  # keep | drop | boost: a speaker's name in the query
    speaker_boost: float = 0.8  # x(1+b) for candidates said by a speaker the query names
    neighbour: float = 0.3  # + a * the best neighbouring turn's score (same thread)
    candidates: int = 200  # pool size fetched from Tantivy before reranking
    dense_candidates: int = 0  # + the nearest episodes by embedding that share no word
    prf_docs: int = 3  # pseudo relevance feedback: expand with terms of the top docs
    prf_terms: int = 8
    prf_weight: float = 0.25
    # where feedback terms are looked up: not in responses (their weight there would be
    # ~0.15 and their long postings are what a search at scale spends its time on)
    prf_fields: tuple[str, ...] = ("text", "ctx_prev", "ctx_next")
    recency: float = 0.0  # + r * top score * 2^(-age / half-life)
    recency_half_life_days: float = 30.0
    fusion: str = "score"  # score: normalised weighted sum | rrf: reciprocal rank fusion
    dense_weight: float = 0.5  # + w * (z-scored embedding similarity, clipped at 0) / 3
    kind_boost: dict[str, float] = field(default_factory=lambda: {"fact": 1.2, "decision": 1.2})
    thread_credit: float = 0.6  # + t * its thread's strength (`thread_strength`)


DEFAULT_CONFIG = RetrievalConfig()


@dataclass
class QueryPlan:
    """An analysed query: weighted terms for Tantivy, and metadata hints for reranking."""

    terms: dict[str, float]  # analysed (stemmed) term -> weight
    speakers: set[str] = field(default_factory=set)  # analysed speaker names mentioned
    months: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.terms and not self.speakers


def plan_query(
    text: str,
    analyze: Callable[[str], list[str]],
    is_speaker: Callable[[str], bool],
    config: RetrievalConfig = DEFAULT_CONFIG,
) -> QueryPlan:
    """Analyse a question: stop words out, speaker names set aside, repeated terms summed."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    kept = [w for w in words if not (config.stopwords and w.lower() in STOPWORDS)]
    terms: Counter[str] = Counter()
    speakers: set[str] = set()
    for word in kept:
        for term in analyze(word):
            if config.speaker_terms != "keep" and is_speaker(term):
                speakers.add(term)
                continue
            terms[term] += 1
    if config.speaker_terms == "boost" and not terms:
        # a query that is only a name ("Caroline?") still has to find something
        for s in speakers:
            terms[s] += 1
    months = [w.lower() for w in words if w.lower() in MONTHS]
    return QueryPlan({t: float(c) for t, c in terms.items()}, speakers, months)


@dataclass(slots=True)
class Candidate:
    key: int  # index into the store's candidate arrays
    score: float
    thread: int
    seq: int
    speaker: int
    ts_ms: int
    kind: str = ""
    dense: float | None = None  # cosine similarity to the query, when vectors exist


def dense_scores(cands: Sequence[Candidate]) -> list[float]:
    """Similarities as a bonus on the scale of a normalised lexical score: z-scored over the
    pool (so the model's global offset does not matter), negatives clipped, divided by 3."""
    values = [c.dense for c in cands if c.dense is not None]
    if len(values) < 2:
        return [0.0] * len(cands)
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
    return [0.0 if c.dense is None else max(0.0, (c.dense - mean) / std) / 3 for c in cands]


def rrf(cands: Sequence[Candidate], k: int = 60) -> list[float]:
    """Reciprocal rank fusion of the lexical and the embedding ranking (for comparison)."""
    lex = sorted(range(len(cands)), key=lambda i: -cands[i].score)
    den = sorted(range(len(cands)), key=lambda i: -(cands[i].dense or -1.0))
    out = [0.0] * len(cands)
    for ranking in (lex, den):
        for rank, i in enumerate(ranking):
            out[i] += 1.0 / (k + rank + 1)
    top = max(out) or 1.0
    return [v / top for v in out]


def thread_strength(cands: Sequence[Candidate], base: Sequence[float]) -> dict[int, float]:
    """How much a thread (an Ask session, a LoCoMo session) is about the query: the mean of
    its 3 best fused scores (missing ones count 0). Evidence clusters in a session, so a
    turn of a strong session is likelier relevant than an equal turn of a weak one."""
    per_thread: dict[int, list[float]] = {}
    for c, b in zip(cands, base, strict=True):
        if c.thread:
            per_thread.setdefault(c.thread, []).append(b)
    return {t: sum(sorted(v)[-3:]) / 3 for t, v in per_thread.items()}


def rerank(
    cands: Sequence[Candidate],
    plan: QueryPlan,
    speaker_hash: Callable[[str], int],
    now_ms: int,
    config: RetrievalConfig = DEFAULT_CONFIG,
) -> list[tuple[float, Candidate]]:
    """Combine lexical scores with neighbour credit, speaker match, recency and kind."""
    if not cands:
        return []
    top = max(c.score for c in cands) or 1.0
    dense = dense_scores(cands) if config.dense_weight else [0.0] * len(cands)
    if config.fusion == "rrf" and any(c.dense is not None for c in cands):
        base = rrf(cands)
    else:
        base = [c.score / top + config.dense_weight * d for c, d in zip(cands, dense, strict=True)]
    by_pos = {(c.thread, c.seq): b for c, b in zip(cands, base, strict=True) if c.thread}
    wanted = {speaker_hash(s) for s in plan.speakers} if config.speaker_terms == "boost" else set()
    strength = thread_strength(cands, base) if config.thread_credit else {}
    half_life_ms = config.recency_half_life_days * 86_400_000
    out: list[tuple[float, Candidate]] = []
    for c, score in zip(cands, base, strict=True):
        if config.neighbour and c.thread:
            before = by_pos.get((c.thread, c.seq - 1), 0.0)
            after = by_pos.get((c.thread, c.seq + 1), 0.0)
            score += config.neighbour * max(before, after)
        if strength and c.thread:
            score += config.thread_credit * strength[c.thread]
        if wanted and c.speaker in wanted:
            score *= 1.0 + config.speaker_boost
        if config.recency and half_life_ms > 0:
            age = max(0, now_ms - c.ts_ms)
            score += config.recency * math.pow(2.0, -age / half_life_ms)
        score *= config.kind_boost.get(c.kind, 1.0)
        out.append((score, c))
    out.sort(key=lambda pair: (-pair[0], -pair[1].ts_ms))
    return out


def feedback_terms(
    docs: Sequence[tuple[float, list[str]]], plan: QueryPlan, config: RetrievalConfig
) -> dict[str, float]:
    """Pseudo relevance feedback: frequent terms of the best documents, score-weighted."""
    if not docs:
        return {}
    top = max(s for s, _ in docs) or 1.0
    weights: dict[str, float] = {}
    for score, terms in docs:
        for term in set(terms):
            if term not in plan.terms and term not in plan.speakers and len(term) > 2:
                weights[term] = weights.get(term, 0.0) + score / top
    best = sorted(weights.items(), key=lambda kv: -kv[1])[: config.prf_terms]
    if not best:
        return {}
    norm = best[0][1]
    return {t: config.prf_weight * w / norm for t, w in best}


def session_words(date_text: str) -> str:
    """Words a question may use about when something happened ("in June", "2023")."""
    return " ".join(re.findall(r"[A-Za-z]+|\d{4}", date_text))


_CAPITALISED = re.compile(r"[^A-Za-z0-9]*[A-Z]")


def strip_speakers(
    text: str, is_speaker: Callable[[str], bool], analyze: Callable[[str], list[str]]
) -> str:
    """``text`` without the names of conversation speakers (and their 's): names dominate
    sentence embeddings of chat turns ("Wow, Caroline!") and drown the topic."""
    out = []
    for word in text.split():
        if not _CAPITALISED.match(word):  # names are capitalised: skip the analysis
            out.append(word)
            continue
        core = re.sub(r"(?:'s|\u2019s)?[^A-Za-z0-9]*$", "", re.sub(r"^[^A-Za-z0-9]+", "", word))
        terms = analyze(core) if core else []
        if terms and len(terms) == 1 and core[:1].isupper() and is_speaker(terms[0]):
            continue
        out.append(word)
    return " ".join(out)
