"""Semantic memory: what worked, across projects. Pure consolidation of episodes.

Episodes with an outcome (accepted / rejected / edited) are grouped per task category and
per topic (salient words shared by several requests, e.g. "csv parsing"), then per setting
(model, temperature, CoT steps). Each group becomes a `Pattern` with counts, a readable
statement ("for csv parsing tasks, temperature 0.3 accepted 8/10 vs 0.7 3/9") and the ids
of the episodes behind it. The router reads these through `FeedbackSource.setting_stats`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tsr_lsp.memory.api import SettingStats, acceptance
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.retrieval import STOPWORDS

# words that say what kind of help is wanted, not what the task is about
_GENERIC_TEXT = """
    write function code python please make create implement help need want file class
    method program script using use simple small give show explain tell new one add fix
    return list value values example examples something thing things work works way into
    java javascript typescript rust go golang c cpp sql bash shell html css test tests
    answer question find get set take read quick short better good best
"""
GENERIC = frozenset(_GENERIC_TEXT.split())
MIN_SUPPORT = 2  # a topic needs at least this many episodes with outcomes


def stem(word: str) -> str:
    """A tiny suffix stripper: parse/parses/parsing/parser -> pars. Enough to group topics."""
    w = word.lower()
    for suffix in ("ings", "ing", "ers", "er", "ed", "es", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] if suffix != "es" or w[-3] in "sxz" else w[:-1]
            break
    return w[:-1] if w.endswith("e") and len(w) > 4 else w


def topic_terms(text: str) -> dict[str, str]:
    """Salient words of a request: stem -> the surface form first seen."""
    out: dict[str, str] = {}
    text = re.sub(r"\[REDACTED:[^\]]*\]", " ", text)
    for word in re.findall(r"[A-Za-z][A-Za-z0-9+#]{1,}", text):
        low = word.lower()
        if low in STOPWORDS or low in GENERIC or len(low) < 3:
            continue
        out.setdefault(stem(low), low)
    return out


@dataclass
class Setting:
    model: str
    temperature: float
    cot_steps: int
    tries: int = 0
    accepted: int = 0
    rejected: int = 0
    edited: int = 0
    episode_ids: list[str] = field(default_factory=list)

    def label(self, vary: set[str]) -> str:
        parts = []
        if "model" in vary:
            parts.append(self.model)
        if "temperature" in vary or not vary:
            parts.append(f"temperature {self.temperature:g}")
        if "cot_steps" in vary:
            parts.append(f"CoT {self.cot_steps}")
        return " ".join(parts)


@dataclass
class Pattern:
    category: str
    topic: str  # "" = the whole category
    terms: list[str]
    settings: list[Setting]

    @property
    def key(self) -> str:
        return f"{self.category}/{'+'.join(self.terms) or '*'}"

    @property
    def statement(self) -> str:
        ranked = sorted(self.settings, key=lambda s: (-_acceptance(s), -s.tries))
        vary = {
            name
            for name in ("model", "temperature", "cot_steps")
            if len({getattr(s, name) for s in ranked}) > 1
        }
        what = f"{self.topic} tasks" if self.topic else f"{self.category} tasks"
        first, rest = ranked[0], ranked[1:3]
        text = f"for {what}, {first.label(vary)} accepted {first.accepted}/{first.tries}"
        if rest:
            # "vs 0.7 3/9" when only the temperature differs, else the full setting
            others = [
                f"{f'{s.temperature:g}' if vary == {'temperature'} else s.label(vary)} "
                f"{s.accepted}/{s.tries}"
                for s in rest
            ]
            text += " vs " + ", ".join(others)
        return text

    def stats(self) -> list[SettingStats]:
        return [
            SettingStats(
                self.category,
                s.model,
                s.temperature,
                s.cot_steps,
                s.tries,
                s.accepted,
                s.rejected,
                s.edited,
                self.topic,
            )
            for s in self.settings
        ]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "statement": self.statement, "key": self.key}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Pattern:
        settings = [Setting(**s) for s in raw.get("settings", [])]
        return cls(raw["category"], raw.get("topic", ""), list(raw.get("terms", [])), settings)


def _acceptance(s: Setting) -> float:
    return acceptance(s.accepted, s.edited, s.tries)


def _settings(episodes: Iterable[Episode]) -> list[Setting]:
    groups: dict[tuple[str, float, int], Setting] = {}
    for ep in episodes:
        key = (ep.model, round(ep.temperature, 3), ep.cot_steps)
        s = groups.setdefault(key, Setting(*key))
        s.tries += 1
        if ep.outcome == "accepted":
            s.accepted += 1
        elif ep.outcome == "rejected":
            s.rejected += 1
        elif ep.outcome == "edited":
            s.edited += 1
        s.episode_ids.append(ep.id)
    return sorted(groups.values(), key=lambda s: (s.model, s.temperature, s.cot_steps))


def consolidate(episodes: Sequence[Episode], min_support: int = MIN_SUPPORT) -> list[Pattern]:
    """Episodes with outcomes -> patterns per (category, topic) and setting. Deterministic."""
    rated = [e for e in episodes if e.outcome and e.category]
    by_cat: dict[str, list[Episode]] = defaultdict(list)
    for ep in rated:
        by_cat[ep.category].append(ep)
    out: list[Pattern] = []
    for category in sorted(by_cat):
        eps = by_cat[category]
        out.append(Pattern(category, "", [], _settings(eps)))
        terms_of = {ep.id: topic_terms(ep.text) for ep in eps}
        df: Counter[str] = Counter(t for terms in terms_of.values() for t in terms)
        surface: dict[str, str] = {}
        for terms in terms_of.values():
            for t, w in terms.items():
                # a readable name: the -ing form when seen ("parsing"), else the shortest
                old = surface.get(t)
                ing = w.endswith("ing") and (old is None or not old.endswith("ing"))
                if old is None or ing or (not old.endswith("ing") and len(w) < len(old)):
                    surface[t] = w
        # terms that always occur together form one topic ("csv" + "pars" -> "csv parsing")
        members: dict[frozenset[str], list[str]] = defaultdict(list)
        for term, n in df.items():
            if n >= min_support:
                ids = frozenset(i for i, terms in terms_of.items() if term in terms)
                members[ids].append(term)
        for ids, group in sorted(members.items(), key=lambda kv: (-len(kv[0]), sorted(kv[1]))):
            ordered = sorted(group, key=lambda t: (-df[t], t))[:3]
            topic = " ".join(surface[t] for t in ordered)
            chosen = [ep for ep in eps if ep.id in ids]
            out.append(Pattern(category, topic, sorted(ordered), _settings(chosen)))
    return out


def match_topic(patterns: Sequence[Pattern], category: str, topic: str) -> Pattern | None:
    """The pattern of ``category`` whose topic best matches ``topic`` (a topic name or a
    whole request text); the category-wide pattern when no topic word matches."""
    cands = [p for p in patterns if p.category == category]
    if not cands:
        return None
    wanted = set(topic_terms(topic)) if topic else set()
    best, best_key = None, (0, 0)
    for p in cands:
        if not p.terms:
            continue
        shared = len(wanted & set(p.terms))
        key = (shared, sum(s.tries for s in p.settings))
        if shared and key > best_key:
            best, best_key = p, key
    if best is not None:
        return best
    return next((p for p in cands if not p.terms), None)
