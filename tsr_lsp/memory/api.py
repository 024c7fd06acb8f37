"""The contract between memory (DMMS) and its consumers (router, policy, prompts).

Kept tiny and dependency-free so the router can use feedback statistics without knowing
about Tantivy, and tests can hand the router a plain in-memory implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

OUTCOMES = ("accepted", "rejected", "edited")


def acceptance(accepted: int, edited: int, tries: int) -> float:
    """Share of good outcomes, an edit counting half; 0.5 when nothing is known."""
    return (accepted + 0.5 * edited) / tries if tries else 0.5


@dataclass(frozen=True)
class SettingStats:
    """How one (category, model, temperature, cot_steps) setting fared with users."""

    category: str
    model: str
    temperature: float
    cot_steps: int
    tries: int = 0
    accepted: int = 0
    rejected: int = 0
    edited: int = 0
    topic: str = ""  # e.g. "csv parsing"; "" = the whole category

    @property
    def acceptance(self) -> float:
        """Share of good outcomes, an edit counting half; 0.5 when nothing is known."""
        return acceptance(self.accepted, self.edited, self.tries)


@dataclass(frozen=True)
class FeedbackExample:
    """One request with a user outcome: training data for `router train --from-feedback`."""

    text: str
    kind: str
    language: str
    category: str
    model: str
    temperature: float
    cot_steps: int
    outcome: str


@dataclass
class HistoryFeatures:
    """What this user asked recently in this project (router input)."""

    recent_categories: dict[str, int] = field(default_factory=dict)
    acceptance_by_category: dict[str, float] = field(default_factory=dict)


class FeedbackSource(Protocol):
    def setting_stats(self, category: str, topic: str = "") -> list[SettingStats]: ...

    def feedback_examples(
        self, limit: int = 10_000, *, routing: bool = False
    ) -> list[FeedbackExample]:
        """``routing``: a routing decision waits; a write under way that does not end at
        once raises MemoryError instead of holding the request (the store's reads do)."""
        ...

    def history(self, project: str, limit: int = 50) -> HistoryFeatures: ...
