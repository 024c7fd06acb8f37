"""Training data: the user-facing JSONL format (validated with line numbers) and examples.

One JSON object per line (blank lines are ignored)::

    {"text": "Summarise this email: ...", "category": "analysis"}
    {"text": "...", "category": "code", "cot_steps": 2, "temperature": 0.1, "model": "coder",
     "kind": "chat", "language": "python", "difficulty": 0.7, "source": "my-notes"}

``text`` and ``category`` are required; the rest is optional. ``cot_steps`` trains the
difficulty head (its position inside the category's CoT range), ``temperature`` the
temperature head, ``model`` the model head; ``source`` groups rows for held-out evaluation.
The shipped corpus (``corpus.py``) is written in this same format.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tsr_lsp.config import CATEGORIES, KINDS, default_policy

MAX_REPORTED_ERRORS = 20


class DataError(ValueError):
    """Bad training data; every line of the message is `file:line: problem (fix)`."""


@dataclass
class Example:
    text: str
    category: str
    kind: str = "chat"
    language: str = ""
    context: str = ""
    cot_steps: int | None = None
    temperature: float | None = None
    model: str | None = None
    difficulty: float | None = None
    source: str = ""
    weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None and v != ""}
        if out.get("weight") == 1.0:
            del out["weight"]
        if out.get("kind") == "chat":
            del out["kind"]
        return out

    def difficulty_target(self) -> float | None:
        """0..1 for the difficulty head: explicit, else from cot_steps in the policy range."""
        if self.difficulty is not None:
            return self.difficulty
        if self.cot_steps is None:
            return None
        pol = default_policy()[self.category]
        span = pol.cot_max - pol.cot_min
        if span <= 0:
            return None
        return min(1.0, max(0.0, (self.cot_steps - pol.cot_min) / span))


def _check_row(row: Any, require_category: bool) -> tuple[Example | None, str | None]:
    cats = ", ".join(CATEGORIES)
    if not isinstance(row, dict):
        return None, 'expected a JSON object like {"text": ..., "category": ...}'
    text = row.get("text")
    if "text" not in row:
        return None, "missing 'text' (the request as a user would type it)"
    if not isinstance(text, str) or not text.strip():
        return None, "'text' must be a non-empty string"
    category = row.get("category")
    if category is None:
        if require_category:
            return None, f"missing 'category' (one of {cats})"
        category = ""
    elif category not in CATEGORIES:
        return None, f"unknown category {category!r} (one of {cats})"
    ex = Example(text=text, category=category)
    kind = row.get("kind", "chat") or "chat"
    if kind not in KINDS:
        return None, f"unknown kind {kind!r} (one of {', '.join(KINDS)})"
    ex.kind = kind
    for key in ("language", "context", "source"):
        value = row.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            return None, f"'{key}' must be a string"
        setattr(ex, key, value)
    cot = row.get("cot_steps")
    if cot is not None:
        if isinstance(cot, bool) or not isinstance(cot, int) or not 0 <= cot <= 16:
            return None, "'cot_steps' must be an integer from 0 to 16"
        ex.cot_steps = cot
    temp = row.get("temperature")
    if temp is not None:
        if isinstance(temp, bool) or not isinstance(temp, int | float) or not 0 <= temp <= 1.5:
            return None, "'temperature' must be a number from 0 to 1.5"
        ex.temperature = float(temp)
    model = row.get("model")
    if model is not None:
        if not isinstance(model, str) or not model.strip():
            return None, "'model' must be a profile name (a non-empty string)"
        ex.model = model
    diff = row.get("difficulty")
    if diff is not None:
        if isinstance(diff, bool) or not isinstance(diff, int | float) or not 0 <= diff <= 1:
            return None, "'difficulty' must be a number from 0 to 1"
        ex.difficulty = float(diff)
    weight = row.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
        return None, "'weight' must be a positive number"
    ex.weight = float(weight)
    return ex, None


def parse_jsonl(blob: bytes, where: str, require_category: bool = True) -> list[Example]:
    """Parse and validate; raises DataError listing every bad line (first 20) by number."""
    errors: list[str] = []
    examples: list[Example] = []
    for number, raw in enumerate(blob.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(
                f"{where}:{number}: not valid UTF-8 (byte {exc.start + 1} of the line); "
                "save the file as UTF-8"
            )
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            errors.append(f"{where}:{number}: invalid JSON ({exc})")
            continue
        ex, problem = _check_row(row, require_category)
        if problem:
            errors.append(f"{where}:{number}: {problem}")
        elif ex is not None:
            examples.append(ex)
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        if len(errors) > len(shown):
            shown.append(f"{where}: ... and {len(errors) - len(shown)} more bad lines")
        raise DataError("\n".join(shown))
    if not examples:
        raise DataError(
            f"{where}: no examples (empty file); write one JSON object per line, "
            'e.g. {"text": "Summarise this email", "category": "analysis"}'
        )
    return examples


def load_jsonl(path: Path, require_category: bool = True) -> list[Example]:
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_jsonl(blob, str(path), require_category)


def write_jsonl(examples: list[Example], path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
