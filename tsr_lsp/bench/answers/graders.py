"""Graders: an answer's text -> a score in 0..1. Pure, except `code_tests`, which runs the
candidate code in a sandboxed subprocess (codeexec.py).

Each grader reads the answer the way a user would: the final number, the chosen option,
the JSON object, the code block. They are lenient about form (a letter in bold, a number
with a thousands separator, code without a fence) and strict about content, so the score
measures whether the answer is right, not whether it matches a format by chance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# ------------------------------------------------------------------ numbers (maths)
_NUM = r"-?\$?\s?\d[\d,]*(?:\.\d+)?"
_FINAL_MARKERS = (
    rf"####\s*({_NUM})",
    rf"\\boxed\{{\s*({_NUM})",
    rf"(?:final answer|the answer is|answer\s*[:=])\s*(?:is\s*)?[:=]?\s*\**\s*({_NUM})",
)


def _to_float(token: str) -> float | None:
    cleaned = token.replace("$", "").replace(",", "").replace(" ", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def final_number(text: str) -> float | None:
    """The answer's final number: after an explicit marker ("####", "the answer is",
    "\\boxed{"), else the last number in the text."""
    lowered = text.lower()
    for pattern in _FINAL_MARKERS:
        found = re.findall(pattern, lowered)
        if found:
            return _to_float(found[-1])
    numbers = re.findall(_NUM, lowered)
    return _to_float(numbers[-1]) if numbers else None


def grade_numeric(text: str, expected: dict[str, Any]) -> float:
    got = final_number(text)
    if got is None:
        return 0.0
    want = float(expected["answer"])
    return 1.0 if abs(got - want) <= 1e-6 * max(1.0, abs(want)) else 0.0


# ------------------------------------------------------------------ options and labels
LETTERS = "ABCDEFGH"


def chosen_option(text: str, choices: list[str]) -> int | None:
    """Which option an answer picks: an explicit "answer: B", else a leading "B." / "(B)",
    else the one option whose text it quotes; None when it picks none or several (an
    answer that lists the options back picks none)."""
    letters = LETTERS[: len(choices)]
    explicit = re.search(
        rf"(?i:answer|option|choice)\s*(?i:is|:)?\s*[:\-]?\s*[\*\(\[]*([{letters}])(?![A-Za-z])",
        text,
    )
    if explicit:
        return letters.index(explicit.group(1))
    listed = re.findall(rf"^\s*[\*\(\[]*([{letters}])[\)\]\.:]\s", text, re.M)
    if len(set(listed)) > 1:  # it repeats the options instead of choosing one
        return None
    lead = re.match(rf"\s*[\*\(\[]*([{letters}])(?:[\)\]\.:\*]|\s*$)", text)
    if lead:
        return letters.index(lead.group(1))
    lowered = text.lower()
    texts = [c.strip().rstrip(".").lower() for c in choices]
    quoted = [i for i, c in enumerate(texts) if c and c in lowered]
    if len(quoted) == 1:
        return quoted[0]
    bare = re.findall(rf"(?<![A-Za-z])([{letters}])(?=[\)\]\.:\*]|[ \t]*$)", text, re.M)
    if len(set(bare)) == 1:
        return letters.index(bare[0])
    return None


def grade_choice(text: str, expected: dict[str, Any]) -> float:
    return 1.0 if chosen_option(text, expected["choices"]) == int(expected["gold"]) else 0.0


def first_label(text: str, labels: list[str]) -> str | None:
    """The label the answer states first (whole words, case-insensitive)."""
    best: tuple[int, str] | None = None
    for label in labels:
        m = re.search(rf"(?<![a-z]){re.escape(label.lower())}(?![a-z])", text.lower())
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), label)
    return best[1] if best else None


def grade_label(text: str, expected: dict[str, Any]) -> float:
    return 1.0 if first_label(text, expected["labels"]) == expected["label"] else 0.0


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+", text.casefold())) + " "


def grade_alias(text: str, expected: dict[str, Any]) -> float:
    """Short free-text answers (TriviaQA): one of the accepted names appears, as whole
    words, in the answer's first 30 words (a list of guesses further on does not count)."""
    head = _words(" ".join(text.split()[:30]))
    names = [_words(a) for a in expected["aliases"]]
    return 1.0 if any(n.strip() and n in head for n in names) else 0.0


# ------------------------------------------------------------------ extraction
def json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in the text (fenced or not)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            value, _end = decoder.raw_decode(text[m.start() :])
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _norm(value: Any) -> str:
    text = str(value).strip().strip("\"'").rstrip(".").casefold()
    return re.sub(r"\s+", " ", text)


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, int | float) and not isinstance(want, bool):
        number = _to_float(str(got)) if got is not None else None
        return number is not None and abs(number - float(want)) < 1e-6
    return _norm(got) == _norm(want)


def grade_fields(text: str, expected: dict[str, Any]) -> float:
    """Share of the wanted fields the answer's JSON object gets exactly right (keys match
    case-insensitively; a missing object scores 0)."""
    obj = json_object(text)
    fields: dict[str, Any] = expected["fields"]
    if obj is None or not fields:
        return 0.0
    by_key = {str(k).strip().casefold(): v for k, v in obj.items()}
    right = sum(_same(by_key.get(k.casefold()), v) for k, v in fields.items())
    return right / len(fields)


# ------------------------------------------------------------------ verifiable instructions
def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return [p for p in parts if re.search(r"[A-Za-z0-9]", p)]


def _bullets(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if re.match(r"\s*(?:[-*\u2022]|\d+[.)])\s+\S", ln)]


def _word_list(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][A-Za-z0-9'\-]*", text)


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(word.lower())}", text.lower()) is not None


CHECKS: dict[str, Callable[[str, Any], bool]] = {
    "max_words": lambda t, n: 0 < len(_word_list(t)) <= int(n),
    "min_words": lambda t, n: len(_word_list(t)) >= int(n),
    "max_sentences": lambda t, n: 0 < len(_sentences(t)) <= int(n),
    "include": lambda t, ws: all(_has_word(t, w) for w in ws),
    "exclude": lambda t, ws: not any(_has_word(t, w) for w in ws),
    "name": lambda t, name: re.search(rf"\b{re.escape(name)}\b", t) is not None,
    "bullets": lambda t, n: len(_bullets(t)) == int(n),
    "title": lambda t, _v: re.search(r"<<[^<>\n]+>>", t) is not None,
    "ends_with": lambda t, phrase: t.strip().rstrip("\"'").endswith(phrase),
    "starts_with": lambda t, word: t.strip().lstrip("\"'*#").lower().startswith(word.lower()),
    "lowercase": lambda t, _v: bool(t.strip()) and t == t.lower(),
    "no_commas": lambda t, _v: bool(t.strip()) and "," not in t,
    "question": lambda t, _v: "?" in t,
    "quoted": lambda t, _v: len(t.strip()) > 2 and t.strip()[0] == t.strip()[-1] == '"',
}


def check_instruction(text: str, check: dict[str, Any]) -> bool:
    return CHECKS[check["type"]](text, check.get("value"))


def grade_instructions(text: str, expected: dict[str, Any]) -> float:
    """IFEval-style instruction-level score: the share of verifiable instructions met."""
    checks: list[dict[str, Any]] = expected["checks"]
    if not checks:
        return 0.0
    return sum(check_instruction(text, c) for c in checks) / len(checks)


# ------------------------------------------------------------------ code
def code_blocks(text: str) -> str:
    """The Python an answer gives: its fenced blocks joined, else the text from the first
    line that starts code (def/class/import/from) on."""
    blocks = re.findall(r"```[ \t]*(?:python|py|python3)?[^\n]*\n(.*?)(?:```|\Z)", text, re.S)
    if blocks:
        return "\n\n".join(b.strip("\n") for b in blocks)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"(def|class|import|from)\s", line):
            return "\n".join(lines[i:])
    return text


def grade_code_tests(text: str, expected: dict[str, Any]) -> float:
    """1 when every test assertion passes against the answer's code (MBPP's pass@1),
    run in a subprocess with time and memory limits."""
    from tsr_lsp.bench.answers.codeexec import run_tests

    result = run_tests(
        code_blocks(text), expected["tests"], setup=expected.get("setup", ""), timeout_s=10.0
    )
    return 1.0 if result.passed == result.total and result.total > 0 else 0.0


GRADERS: dict[str, Callable[[str, dict[str, Any]], float]] = {
    "numeric": grade_numeric,
    "choice": grade_choice,
    "label": grade_label,
    "alias": grade_alias,
    "fields": grade_fields,
    "instructions": grade_instructions,
    "code_tests": grade_code_tests,
}
