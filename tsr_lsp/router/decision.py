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


@dataclass
class Prediction:
    """A router's raw opinion: category probabilities and a 0..1 difficulty."""

    category: str
    scores: dict[str, float]
    difficulty: float = 0.0
    source: str = "rules"
    temperature: float | None = None  # a trained temperature head's value, if any
    model: str | None = None  # a profile learned from training data overrides, if any

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

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["scores"] = {k: round(v, 4) for k, v in self.scores.items()}
        out["confidence"] = round(self.confidence, 4)
        return out
