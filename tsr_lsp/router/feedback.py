"""Learning from feedback at decision time: user outcomes shift settings inside the policy.

The memory system aggregates accepted / rejected / edited outcomes per (category, topic,
model, temperature, cot_steps) as ``SettingStats``. Here those statistics pick, among the
settings users have actually tried, the temperature and CoT depth with the best smoothed
acceptance, but only inside the category's policy range, only with enough evidence, and
only when clearly better than the default. Pure: no I/O.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tsr_lsp.config import CategoryPolicy
from tsr_lsp.memory.api import FeedbackExample, SettingStats

log = logging.getLogger(__name__)

MIN_TRIES = 3  # a setting needs this many outcomes before it can win
MARGIN = 0.1  # and must beat the default's smoothed acceptance by this much


@dataclass(frozen=True)
class Tally:
    tries: int
    good: float  # accepted + half of edited

    @property
    def score(self) -> float:
        """Acceptance smoothed towards 0.5 (two pseudo-outcomes), so 1/1 is not a certainty."""
        return (self.good + 1.0) / (self.tries + 2.0)

    def shown(self) -> str:
        good = f"{self.good:g}"
        return f"{good}/{self.tries}"


def _words(text: str) -> set[str]:
    """Crude stems (first four letters) so 'parsing' matches 'parses' and 'parser'."""
    return {w[:4] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def relevant(
    stats: Iterable[SettingStats], category: str, text: str
) -> tuple[list[SettingStats], str]:
    """Stats of the request's topic when one matches its words, else of the whole category."""
    stats = [s for s in stats if s.category == category and s.tries > 0]
    words = _words(text)
    topics = {s.topic for s in stats if s.topic}
    matching = [t for t in topics if _words(t) and _words(t) <= words]
    if not matching and len(topics) == 1 and not any(not s.topic for s in stats):
        matching = list(topics)  # the source already picked the topic for this request
    if matching:
        topic = max(matching, key=lambda t: (len(_words(t)), t))
        return [s for s in stats if s.topic == topic], topic
    return [s for s in stats if not s.topic], ""


def tally(stats: Sequence[SettingStats], key: str) -> dict[float, Tally]:
    out: dict[float, Tally] = {}
    for s in stats:
        value = round(float(getattr(s, key)), 2)
        prev = out.get(value, Tally(0, 0.0))
        out[value] = Tally(prev.tries + s.tries, prev.good + s.accepted + 0.5 * s.edited)
    return out


def _best(
    tallies: dict[float, Tally], current: float, low: float, high: float
) -> tuple[float, str] | None:
    inside = {v: t for v, t in tallies.items() if low - 1e-9 <= v <= high + 1e-9}
    candidates = [
        (t.score, -abs(v - current), v) for v, t in inside.items() if t.tries >= MIN_TRIES
    ]
    if not candidates:
        return None
    _, _, best = max(candidates)
    if abs(best - current) < 1e-9:
        return None
    base = inside.get(round(current, 2), Tally(0, 0.0))
    if inside[best].score < base.score + MARGIN:
        return None
    note = f"{best:g} accepted {inside[best].shown()}"
    if base.tries:
        note += f" vs {current:g} {base.shown()}"
    return best, note


def adjust(
    stats: Iterable[SettingStats],
    category: str,
    text: str,
    pol: CategoryPolicy,
    temperature: float,
    cot_steps: int,
) -> tuple[float, int, str]:
    """(temperature, cot_steps, note): the feedback-preferred settings and why ("" = none)."""
    chosen, topic = relevant(stats, category, text)
    if not chosen:
        return temperature, cot_steps, ""
    notes = []
    temp = _best(
        tally(chosen, "temperature"), temperature, pol.temperature_min, pol.temperature_max
    )
    if temp is not None:
        temperature = temp[0]
        notes.append(f"temperature {temp[1]}")
    cot = _best(tally(chosen, "cot_steps"), float(cot_steps), pol.cot_min, pol.cot_max)
    if cot is not None:
        cot_steps = int(cot[0])
        notes.append(f"CoT {cot[1]}")
    if not notes:
        return temperature, cot_steps, ""
    where = f" for '{topic}'" if topic else f" for {category}"
    return temperature, cot_steps, "feedback" + where + ": " + ", ".join(notes)


def training_rows(examples: Iterable[FeedbackExample]) -> list[dict[str, object]]:
    """Stored outcomes as training rows (docs/ROUTER.md): accepted ones teach category and
    settings at full weight, edited ones at half weight; rejected ones are left to the
    decision-time statistics above (they say which setting failed, not what to do)."""
    rows: list[dict[str, object]] = []
    for ex in examples:
        if ex.outcome not in ("accepted", "edited") or not ex.text.strip():
            continue
        rows.append(
            {
                "text": ex.text,
                "category": ex.category,
                "kind": ex.kind,
                "language": ex.language,
                "temperature": ex.temperature,
                "cot_steps": ex.cot_steps,
                "model": ex.model,
                "weight": 1.0 if ex.outcome == "accepted" else 0.5,
                "source": "feedback",
            }
        )
    return rows


def safe_history(memory: object, project: str) -> object:
    """HistoryFeatures from a FeedbackSource, or None; memory trouble never blocks routing."""
    if memory is None:
        return None
    try:
        return memory.history(project)  # type: ignore[attr-defined]
    except Exception as exc:  # any store failure: route without history
        log.warning("memory history unavailable: %s", exc)
        return None


def safe_stats(memory: object, category: str, text: str = "") -> list[SettingStats]:
    """The source's statistics for the category; the request text lets it pick the topic."""
    if memory is None:
        return []
    try:
        return list(memory.setting_stats(category, text))  # type: ignore[attr-defined]
    except Exception as exc:  # any store failure: route with the plain policy
        log.warning("memory feedback statistics unavailable: %s", exc)
        return []


# ---------------------------------------------------------------------- inline completion
MIN_COMPLETIONS = 12  # outcomes of a kind before feedback moves a completion setting
MIN_MAX_TOKENS = 16


@dataclass(frozen=True)
class CompletionOutcome:
    """One inline suggestion's fate: how long it was and how much of it the user kept."""

    lines: int
    chars: int
    outcome: str  # accepted | edited (partly accepted) | rejected
    accepted_chars: int = 0


def _rate(outcomes: Sequence[CompletionOutcome]) -> float:
    return Tally(
        len(outcomes),
        sum(
            1.0 if o.outcome == "accepted" else 0.5 if o.outcome == "edited" else 0.0
            for o in outcomes
        ),
    ).score


def completion_settings(
    outcomes: Sequence[CompletionOutcome], max_tokens: int, multiline: str
) -> tuple[int, str, str]:
    """(max_tokens, multiline, note): the completion settings the user's outcomes favour.

    - Multi-line suggestions accepted clearly less often than single lines (smoothed, by
      MARGIN, with MIN_COMPLETIONS of each): ``auto`` becomes ``never``.
    - Suggestions mostly taken only in part (half of the outcomes or more) and then only
      their first part: ``max_tokens`` shrinks to the share users keep (>= 16).
    Only ``auto`` is ever changed, never a user's explicit choice; pure, no I/O."""
    notes = []
    multi = [o for o in outcomes if o.lines > 1]
    single = [o for o in outcomes if o.lines <= 1]
    if (
        multiline == "auto"
        and len(multi) >= MIN_COMPLETIONS
        and len(single) >= MIN_COMPLETIONS
        and _rate(multi) + MARGIN < _rate(single)
    ):
        multiline = "never"
        notes.append(f"multi-line accepted {_rate(multi):.2f} vs single {_rate(single):.2f}")
    partial = [o for o in outcomes if o.outcome == "edited" and o.chars > 0]
    if len(partial) >= MIN_COMPLETIONS and 2 * len(partial) >= len(outcomes):
        shares = sorted(min(1.0, o.accepted_chars / o.chars) for o in partial)
        kept = shares[len(shares) // 2]
        shorter = max(MIN_MAX_TOKENS, int(max_tokens * max(kept, 0.25)))
        if shorter < max_tokens:
            notes.append(f"users keep {kept:.0%} of a suggestion: max_tokens {shorter}")
            max_tokens = shorter
    return max_tokens, multiline, ("feedback: " + "; ".join(notes)) if notes else ""
