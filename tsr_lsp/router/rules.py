"""KeywordRouter: a transparent rule-based baseline (``router.weights = "rules"``).

It exists as the yardstick the trained router must beat and as the fallback when no weights
can be loaded. Scores are keyword hits turned into a distribution.
"""

from __future__ import annotations

import math
import re

from tsr_lsp.config import CATEGORIES
from tsr_lsp.router.decision import Prediction, RouteRequest

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "code": (
        "python",
        "function",
        "code",
        "class",
        "script",
        "bug",
        "compile",
        "regex",
        "sql",
        "javascript",
        "typescript",
        "java",
        "rust",
        "c++",
        "golang",
        "api",
        "implement",
        "refactor",
        "debug",
        "exception",
        "error",
        "def ",
        "import ",
        "```",
        "csv",
        "json",
        "parse",
        "program",
        "algorithm",
        "method",
        "variable",
        "html",
        "css",
        "bash",
        "git",
        "docker",
        "unit test",
        "library",
        "array",
        "loop",
    ),
    "math": (
        "calculate",
        "solve",
        "equation",
        "integral",
        "derivative",
        "sum of",
        "how many",
        "how much",
        "percent",
        "probability",
        "average",
        "area",
        "+",
        "=",
        "prove",
        "theorem",
        "multiply",
        "divide",
        "total",
        "remainder",
    ),
    "reasoning": (
        "puzzle",
        "riddle",
        "logic",
        "if all",
        "deduce",
        "which of the following",
        "infer",
        "what would happen",
        "true or false",
        "paradox",
        "assume",
    ),
    "writing": (
        "write a story",
        "poem",
        "essay",
        "blog",
        "email",
        "letter",
        "story",
        "song",
        "rewrite",
        "slogan",
        "tweet",
        "creative",
        "role-play",
        "pretend",
        "narrative",
        "speech",
    ),
    "extraction": (
        "extract",
        "list all",
        "pull out",
        "find all the",
        "from the following text",
        "names mentioned",
        "dates mentioned",
        "table of",
        "fields",
    ),
    "analysis": (
        "sentiment",
        "summarize",
        "summarise",
        "classify",
        "categorize",
        "tone",
        "analyse",
        "analyze",
        "tl;dr",
        "key points",
        "review",
    ),
    "knowledge": (
        "what is",
        "who was",
        "who is",
        "when did",
        "why do",
        "explain",
        "history",
        "capital of",
        "define",
        "difference between",
        "how does",
    ),
    "chat": (
        "hello",
        "hi ",
        "hey",
        "thanks",
        "thank you",
        "good morning",
        "how are you",
        "say hello",
        "greet",
        "bye",
    ),
}

_CODE_LANGS = {"python", "javascript", "typescript", "rust", "go", "java", "c", "cpp", "lua"}


def keyword_predict(request: RouteRequest) -> Prediction:
    text = " " + request.text.lower() + " "
    raw = {cat: 0.2 for cat in CATEGORIES}
    for cat, words in _KEYWORDS.items():
        raw[cat] += sum(1.0 for w in words if w in text)
    if request.kind in {"explain", "refactor", "fix", "tests", "inline_completion"}:
        raw["code"] += 2.0
    if request.language in _CODE_LANGS and request.kind != "chat":
        raw["code"] += 1.0
    if re.search(r"\d+\s*[-+*/^]\s*\d+", text):
        raw["math"] += 1.5
    total = sum(math.exp(v) for v in raw.values())
    scores = {cat: math.exp(v) / total for cat, v in raw.items()}
    best = max(scores, key=lambda c: scores[c])
    difficulty = min(1.0, len(text.split()) / 120)
    return Prediction(best, scores, difficulty, source="rules")
