"""What the router hands to the rest of the system, and what editors show."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RouteRequest:
    text: str
    kind: str = "chat"
    language: str = ""
    context: str = ""
    project: str = ""

    @classmethod
    def from_dict(cls, row: Any, project: str = "") -> RouteRequest:
        """Validate a JSON object (tsr/* params, a JSONL line); ValueError says what is wrong."""
        from tsr_lsp.config import KINDS

        if not isinstance(row, dict):
            raise ValueError('expected an object like {"text": "..."}')
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("missing 'text' (a non-empty string)")
        kind = row.get("kind") or "chat"
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
        language = row.get("language") or ""
        context = row.get("context") or ""
        if not isinstance(language, str) or not isinstance(context, str):
            raise ValueError("'language' and 'context' must be strings")
        return cls(text, kind, language, context, project)


@dataclass
class Prediction:
    """A router's raw opinion: category probabilities and a 0..1 difficulty."""

    category: str
    scores: dict[str, float]
    difficulty: float = 0.0
    source: str = "rules"
    temperature: float | None = None  # a trained temperature head's value, if any
    model: str | None = None  # a profile learned from training data overrides, if any
    meaning: list[float] | None = None  # the router's meaning features (success predictor)

    @property
    def confidence(self) -> float:
        return self.scores.get(self.category, 0.0)


@dataclass
class Decision:
    category: str
    model: str
    cot_steps: int
    temperature: float
    top_p: float
    max_tokens: int
    template: str
    confidence: float
    explanation: str
    scores: dict[str, float] = field(default_factory=dict)
    router: str = "rules"
    fallback: bool = False
    method: str = "steps"  # "program": maths computed from a program the model writes

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["scores"] = {k: round(v, 4) for k, v in self.scores.items()}
        out["confidence"] = round(self.confidence, 4)
        return out
