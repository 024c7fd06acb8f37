"""Was an applied edit kept, changed by hand, or undone? Judged from the document's text.

After an edit is applied the server keeps what the edited lines held before and after.
Each later ``didChange`` of the document is judged: the new text still there -> kept
(accepted); the old text back instead -> undone (rejected); neither -> changed by hand
(edited). A verdict only moves on when it changes, so a burst of keystrokes writes memory
once per state, not once per key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

ACCEPTED = "accepted"
EDITED = "edited"
REJECTED = "rejected"
WATCH_S = 600.0  # how long an edit is watched


@dataclass
class Applied:
    uri: str
    episode_id: str
    old: str  # the edited lines before the edit ('' for a pure insertion)
    new: str  # the same lines after it
    outcome: str = ACCEPTED
    since: float = field(default_factory=time.monotonic)

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) - self.since > WATCH_S


def judge(applied: Applied, text: str) -> str:
    """The outcome the document's current text says."""
    new, old = applied.new.strip(), applied.old.strip()
    if new and new in text:
        return ACCEPTED
    if not new:  # the edit only removed text: it is undone when the old text is back
        return REJECTED if old and old in text else ACCEPTED
    if old and old in text:
        return REJECTED
    if not old and not _overlap(new, text):
        return REJECTED  # an insertion that is gone entirely
    return EDITED


def _overlap(new: str, text: str) -> bool:
    """Does any substantial line of ``new`` survive in ``text``?"""
    return any(line.strip() in text for line in new.split("\n") if len(line.strip()) > 8)


def update(applied: Applied, text: str) -> str | None:
    """The new outcome when the judgement changed, else None (nothing to record)."""
    verdict = judge(applied, text)
    if verdict == applied.outcome:
        return None
    applied.outcome = verdict
    return verdict
