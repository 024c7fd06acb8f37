"""Featurisation: request -> (sparse feature strings, dense vector). Pure and deterministic.

Why these features: the router must generalise from skewed benchmark data to what people
type, so the text is reduced to signals that transfer: words and word pairs, sub-word
character n-grams (summarise/summarize/summary share them), the words that open and close
the request (instructions usually sit there, around pasted text), numbers collapsed to one
token, and a few shape statistics (code punctuation, digits, answer choices, pasted blocks).
Long inputs are cut to their head and tail so the cost per decision is bounded. Meaning
features come from static word vectors distilled from MiniLM (static.py): two pooled vectors
(all words, opening words) that let unseen wording land near trained wording.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence

from tsr_lsp.config import CATEGORIES, KINDS
from tsr_lsp.router import static

HEAD_CHARS = 1500
TAIL_CHARS = 500
HEAD_TOKENS = 300  # token-level bound too: a code paste has a token every 2-3 characters
TAIL_TOKENS = 100
CONTEXT_CHARS = 4000
EDGE_TOKENS = 8
NGRAM_WORDS = 300  # character n-grams for at most this many distinct words (cost bound)
EDGE_PREFIXES = frozenset(("s", "s0", "s01", "sb", "e", "eb"))

_TOKEN = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*|[^\w\s]", re.UNICODE)
_CODE_CHARS = frozenset("{}[]();=<>_/\\#*&|$`")
_CHOICE_LINE = re.compile(r"^\s*(?:\(?[A-Ea-e][).:]|[-*•]\s)\s*\S", re.M)
_MATH_OP = re.compile(r"\d\s*[-+*/^=<>]\s*[\d(a-z]|\\frac|\\sqrt|\$[^$]+\$|[∫√∑π≤≥]")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|#include|public |private |function |"
    r"const |let |var |return\b|if \(|for \(|while \(|}|SELECT |<\w+[ >])|[;{]\s*$",
    re.M,
)

_HARD_WORDS = frozenset(
    (
        *("design", "designing", "distributed", "scale", "scalable", "scalability"),
        *("framework", "compiler", "interpreter", "engine", "production", "deadlock"),
        *("deadlocks", "system", "systems", "microservice", "microservices"),
    )
)
_HARD_PREFIXES = ("architect", "concurren", "multithread", "migrat", "optimi")
_HARD_PAIRS = frozenset(
    (
        ("thread", "safe"),
        ("lock", "free"),
        ("from", "scratch"),
        ("race", "condition"),
        ("memory", "leak"),
        ("end", "to"),
        ("full", "stack"),
        ("multi", "threaded"),
        ("multi", "threading"),
    )
)


def hard_code_terms(text: str, toks: Sequence[str] | None = None) -> int:
    """Distinct words of design, concurrency or whole-system scope (code difficulty signal).
    Token lookups, not a regex: a case-insensitive alternation cost 0.5 ms on a long paste."""
    words = [t for t in (toks if toks is not None else tokens(text)) if t != "-"]
    found: set[object] = {w for w in set(words) if w in _HARD_WORDS or w.startswith(_HARD_PREFIXES)}
    found |= _HARD_PAIRS.intersection(itertools.pairwise(words))
    return len(found)


_CODE = """python javascript typescript typescriptreact javascriptreact rust go java c cpp
csharp lua ruby php kotlin swift scala sh bash shellscript sql html css r julia haskell zig
dart perl vim elixir erlang ocaml fsharp objective-c powershell"""
CODE_LANGUAGES = frozenset(_CODE.split())
PROSE_LANGUAGES = frozenset(("markdown", "plaintext", "text", "latex", "tex", "restructuredtext"))

DENSE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "code_char_ratio",
    "digit_ratio",
    "upper_ratio",
    "non_ascii_ratio",
    "code_line_ratio",
    "has_fence",
    "math_ops",
    "ends_question",
    "questions",
    "choice_lines",
    "pasted_block",
    "hard_code_terms",
    *(f"kind_{k}" for k in KINDS),
    "lang_code",
    "lang_prose",
    "lang_other",
    "ctx_log_chars",
    "ctx_code_ratio",
    "hist_present",
    *(f"hist_recent_{c}" for c in CATEGORIES),
    *(f"hist_accept_{c}" for c in CATEGORIES),
    *static.FEATURE_NAMES,
)
DENSE_SIZE = len(DENSE_NAMES)


_UPPER = re.compile(r"[A-ZÀ-ÖØ-ÞА-Я]")


def _count_code_chars(text: str) -> int:
    return sum(map(text.count, _CODE_CHARS))


def clip_text(text: str) -> str:
    """Head and tail of long inputs: instructions live there; cost stays bounded."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-TAIL_CHARS:]


def text_tokens(text: str) -> list[str]:
    """The tokens every feature is computed from: those of the clipped text, at most
    HEAD_TOKENS from its start and TAIL_TOKENS from its end (cost bounded per decision)."""
    toks = tokens(clip_text(text))
    if len(toks) > HEAD_TOKENS + TAIL_TOKENS:
        toks = toks[:HEAD_TOKENS] + toks[-TAIL_TOKENS:]
    return toks


def tokens(text: str) -> list[str]:
    """Lower-cased words, numbers collapsed to ``0``, punctuation kept as single tokens."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        out.append("0" if tok[0].isdigit() else tok)
    return out


def sparse_features(text: str, toks: Sequence[str] | None = None) -> list[str]:
    """Deduplicated feature strings in first-seen order (order only matters for tests);
    ``toks`` = text_tokens(text) when the caller already has them."""
    toks = list(toks) if toks is not None else text_tokens(text)
    seen: dict[str, None] = {}
    prev = "<s>"
    for tok in toks:
        seen["w:" + tok] = None
        seen["b:" + prev + " " + tok] = None
        prev = tok
    if toks:
        seen["b:" + prev + " </s>"] = None
    head, tail = toks[:EDGE_TOKENS], toks[-EDGE_TOKENS:]
    for i, tok in enumerate(head):
        seen["s:" + tok] = None
        if i == 0:
            seen["s0:" + tok] = None
        else:
            seen["sb:" + head[i - 1] + " " + tok] = None
    if len(toks) > 1:
        seen["s01:" + toks[0] + " " + toks[1]] = None
    for i, tok in enumerate(tail):
        seen["e:" + tok] = None
        if i:
            seen["eb:" + tail[i - 1] + " " + tok] = None
    words = dict.fromkeys(t for t in toks if len(t) > 3 and t.isalpha())  # ordered
    for tok in list(words)[:NGRAM_WORDS]:
        padded = "<" + tok + ">"
        for n in (3, 4):
            for j in range(len(padded) - n + 1):
                seen["c:" + padded[j : j + n]] = None
    return list(seen)


def dense_features(
    text: str,
    kind: str = "chat",
    language: str = "",
    context: str = "",
    recent: Mapping[str, int] | None = None,
    acceptance: Mapping[str, float] | None = None,
    toks: Sequence[str] | None = None,
) -> list[float]:
    """Shape statistics, request kind, language group, context, history and static word
    vectors (DENSE_NAMES). Only the clipped text is scanned (cost bounded for huge pastes);
    ``toks`` = text_tokens(text) when the caller already has them."""
    clipped = clip_text(text)
    if toks is None:
        toks = text_tokens(text)
    n = max(1, len(clipped))
    words = round(len(clipped.split()) * len(text) / n)  # estimated for clipped texts
    lines = text.count("\n") + 1
    code_chars = _count_code_chars(clipped)
    digits = sum(map(clipped.count, "0123456789"))
    upper = len(_UPPER.findall(clipped))
    non_ascii = len(clipped) - len(clipped.encode("ascii", "ignore"))
    code_lines = len(_CODE_LINE.findall(clipped))
    stripped = text.rstrip()
    longest_para = max((len(p) for p in clipped.split("\n\n")), default=0)
    vec = [
        math.log1p(len(text)) / 10.0,
        math.log1p(words) / 8.0,
        math.log1p(lines) / 5.0,
        min(1.0, 8.0 * code_chars / n),
        min(1.0, 5.0 * digits / n),
        min(1.0, 3.0 * upper / n),
        non_ascii / n,
        min(1.0, code_lines / max(1, min(lines, 40))),
        1.0 if "```" in clipped else 0.0,
        min(1.0, len(_MATH_OP.findall(clipped)) / 4.0),
        1.0 if stripped.endswith("?") else 0.0,
        min(1.0, text.count("?") / 4.0),
        min(1.0, len(_CHOICE_LINE.findall(clipped)) / 4.0),
        1.0 if (words > 60 and longest_para > 250) or lines > 8 else 0.0,
        min(1.0, hard_code_terms(clipped, toks) / 2.0),
    ]
    vec.extend(1.0 if kind == k else 0.0 for k in KINDS)
    lang = language.lower()
    vec.append(1.0 if lang in CODE_LANGUAGES else 0.0)
    vec.append(1.0 if lang in PROSE_LANGUAGES else 0.0)
    vec.append(1.0 if lang and lang not in CODE_LANGUAGES and lang not in PROSE_LANGUAGES else 0.0)
    ctx = context[:CONTEXT_CHARS]
    vec.append(math.log1p(len(context)) / 10.0)
    vec.append(min(1.0, 8.0 * _count_code_chars(ctx) / max(1, len(ctx))))
    total = sum(recent.values()) if recent else 0
    vec.append(1.0 if total or acceptance else 0.0)
    vec.extend((recent.get(c, 0) / total if total and recent else 0.0) for c in CATEGORIES)
    acc = acceptance or {}
    vec.extend((acc[c] - 0.5 if c in acc else 0.0) for c in CATEGORIES)
    vec.extend(static.features(toks))
    return vec


def history_vectors(
    recent: Mapping[str, int] | None, acceptance: Mapping[str, float] | None
) -> tuple[dict[str, int], dict[str, float]]:
    """Keep only known categories so stray keys from a store cannot shift features."""
    r = {k: int(v) for k, v in (recent or {}).items() if k in CATEGORIES and v > 0}
    a = {k: float(v) for k, v in (acceptance or {}).items() if k in CATEGORIES}
    return r, a


def is_edge(feat: str) -> bool:
    return feat[: feat.index(":")] in EDGE_PREFIXES


def feature_ids(feats: Sequence[str], vocab: Mapping[str, int]) -> tuple[list[int], list[bool]]:
    """Vocabulary ids of the known features (unknown ones carry no signal and are dropped),
    and which of them come from the opening / closing words."""
    ids: list[int] = []
    edge: list[bool] = []
    get = vocab.get
    for f in feats:
        i = get(f)
        if i is not None:
            ids.append(i)
            edge.append(is_edge(f))
    return ids, edge


def bag_weights(edge: Sequence[bool]) -> list[float]:
    """Each group sums to unit norm on its own: the few opening and closing words (where
    instructions sit) weigh as much as the whole body, however long the pasted text is."""
    n_edge = sum(1 for e in edge if e)
    n_body = len(edge) - n_edge
    we = 1.0 / math.sqrt(n_edge) if n_edge else 0.0
    wb = 1.0 / math.sqrt(n_body) if n_body else 0.0
    return [we if e else wb for e in edge]
