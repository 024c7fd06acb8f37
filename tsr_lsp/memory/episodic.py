"""Episodes: what happened in one project (interactions, pinned facts, conversation turns).

Pure data and helpers. An episode is stored whole as JSON (the ``payload`` of its Tantivy
document) so export/import and schema migrations never lose a field; the indexed fields are
derived from it (see store.py).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

# interaction: one tsr/generate (request + decision + response summary [+ outcome])
# fact / decision: pinned by the user (tsr.memory.remember); never evicted by age
# turn: one message of a conversation (Ask sessions; LoCoMo in the benchmark)
KINDS = ("interaction", "fact", "decision", "turn")
PINNED_KINDS = ("fact", "decision")
# completion: one inline completion the user accepted, partly accepted or dismissed; kept
# apart from KINDS so chat retrieval and consolidation never see them
COMPLETION_KIND = "completion"
STORED_KINDS = (*KINDS, "pattern", COMPLETION_KIND)  # patterns: semantic memory (consolidation)
SUMMARY_CHARS = 400


def new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass
class Episode:
    project: str
    text: str
    kind: str = "interaction"
    id: str = field(default_factory=new_id)
    ts: float = field(default_factory=time.time)
    response: str = ""  # a summary of the answer, at most SUMMARY_CHARS
    speaker: str = ""  # "user" / "assistant" / a person's name for turns
    thread: str = ""  # conversation / session id: neighbouring turns share it
    seq: int = 0  # position in the thread
    language: str = ""
    file: str = ""
    category: str = ""
    model: str = ""
    temperature: float = -1.0
    cot_steps: int = -1
    template: str = ""
    outcome: str = ""  # "" or one of api.OUTCOMES
    outcome_ts: float = 0.0
    finished_ts: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pinned(self) -> bool:
        return self.kind in PINNED_KINDS

    @property
    def summary(self) -> str:
        """One line for prompts: what was asked and what came of it."""
        head = self.text if len(self.text) <= 200 else self.text[:197] + "..."
        if self.kind in PINNED_KINDS:
            return f"{self.kind}: {head}"
        if self.kind == "turn":
            return f"{self.speaker or 'someone'}: {head}"
        parts = [f"asked: {head}"]
        if self.response:
            resp = self.response if len(self.response) <= 160 else self.response[:157] + "..."
            parts.append(f"answered: {resp}")
        if self.outcome:
            parts.append(f"({self.outcome})")
        return " ".join(parts)

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.ts, UTC).strftime("%Y-%m-%d")

    def to_json(self) -> dict[str, Any]:
        """Every field (``meta`` copied one level deep; it holds JSON data only). Not
        dataclasses.asdict: its recursive deep copy was a third of ingest time."""
        out = {name: getattr(self, name) for name in _FIELD_NAMES}
        out["meta"] = dict(self.meta)
        return out

    def to_prompt(self) -> dict[str, Any]:
        """What templates see as one item of ``memory.episodes``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "summary": self.summary,
            "text": self.text,
            "response": self.response,
            "outcome": self.outcome,
            "date": self.date,
            "language": self.language,
            "file": self.file,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Episode:
        """Trusted JSON only (our own episodes): imports go through `validate.check_record`,
        stored payloads through `validate.read_payload`. Unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in raw.items() if k in names}
        if "project" not in data or "text" not in data:
            raise ValueError("an episode needs 'project' and 'text'")
        return cls(**data)


def summarize_response(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first lines of an answer, whitespace collapsed, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


_FIELD_NAMES = tuple(f.name for f in fields(Episode))
