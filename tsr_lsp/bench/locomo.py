"""LoCoMo-format conversations as memory episodes, and recall@k of their evidence turns.

Every turn becomes a `turn` episode (one project per conversation, one thread per session,
the turn's ``dia_id`` kept in ``meta``) written through `EpisodeStore.add`, the API the
daemon uses; every question of categories 1-4 with resolvable evidence is asked through
`EpisodeStore.search`. Recall@k = share of a question's evidence turns in the top k.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.retrieval import DEFAULT_CONFIG, RetrievalConfig
from tsr_lsp.memory.store import EpisodeStore

EVIDENCE = re.compile(r"D\d+:\d+")


@dataclass
class Question:
    text: str
    evidence: list[str]
    category: int


@dataclass
class Conversation:
    sample_id: str
    turns: list[Episode] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    @property
    def project(self) -> str:
        return f"locomo/{self.sample_id}"


def parse_date(text: str) -> float:
    for fmt in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y"):
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return 0.0


def load_locomo(path: Path, captions: bool = True) -> list[Conversation]:
    """Parse a LoCoMo JSON file; raises ValueError with the fix on a malformed file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read LoCoMo file {path}: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(c, dict) for c in data):
        raise ValueError(f"{path}: expected a JSON list of conversations (LoCoMo format)")
    out = []
    for n, raw in enumerate(data):
        conv = Conversation(str(raw.get("sample_id") or f"conv-{n}"))
        sessions = raw.get("conversation") or {}
        keys = sorted(
            (k for k in sessions if re.fullmatch(r"session_\d+", k)),
            key=lambda k: int(k.split("_")[1]),
        )
        for key in keys:
            date = str(sessions.get(f"{key}_date_time") or "")
            start = parse_date(date)
            for i, turn in enumerate(sessions[key] or []):
                text = str(turn.get("text") or "")
                if captions and turn.get("blip_caption"):
                    text += f" [shares a photo: {turn['blip_caption']}]"
                conv.turns.append(
                    Episode(
                        project=conv.project,
                        text=text,
                        kind="turn",
                        speaker=str(turn.get("speaker") or ""),
                        thread=key,
                        seq=i,
                        ts=start + i,
                        meta={"dia_id": str(turn.get("dia_id") or ""), "date": date},
                    )
                )
        known = {t.meta["dia_id"] for t in conv.turns}
        for qa in raw.get("qa") or []:
            category = int(qa.get("category") or 0)
            ids = [e for ev in qa.get("evidence") or [] for e in EVIDENCE.findall(str(ev))]
            ids = list(dict.fromkeys(e for e in ids if e in known))
            if 1 <= category <= 4 and ids and qa.get("question"):
                conv.questions.append(Question(str(qa["question"]), ids, category))
        out.append(conv)
    return out


def ingest(store: EpisodeStore, convs: list[Conversation], batch: int = 5000) -> float:
    """Write every turn; returns seconds taken."""
    start = time.perf_counter()
    for conv in convs:
        for i in range(0, len(conv.turns), batch):
            store.add([_copy(t) for t in conv.turns[i : i + batch]], bounded=False)
    return time.perf_counter() - start


def _copy(ep: Episode) -> Episode:
    return Episode.from_json(ep.to_json())


def evaluate(
    store: EpisodeStore,
    convs: list[Conversation],
    ks: tuple[int, ...] = (1, 5, 10),
    config: RetrievalConfig = DEFAULT_CONFIG,
) -> dict[str, Any]:
    """Recall@k overall and per conversation, and search latency."""
    per: dict[str, dict[str, float]] = {}
    total = {k: 0.0 for k in ks}
    count = 0
    latencies: list[float] = []
    for conv in convs:
        sums = {k: 0.0 for k in ks}
        for q in conv.questions:
            t0 = time.perf_counter()
            hits = store.search(q.text, project=conv.project, k=max(ks), config=config)
            latencies.append((time.perf_counter() - t0) * 1000)
            ranked = [h.episode.meta.get("dia_id") for h in hits]
            for k in ks:
                found = len(set(ranked[:k]) & set(q.evidence))
                sums[k] += found / len(q.evidence)
        n = len(conv.questions)
        per[conv.sample_id] = {f"recall@{k}": sums[k] / n if n else 0.0 for k in ks}
        per[conv.sample_id]["questions"] = n
        for k in ks:
            total[k] += sums[k]
        count += n
    from tsr_lsp.bench.stats import percentile

    out: dict[str, Any] = {f"recall@{k}": total[k] / count if count else 0.0 for k in ks}
    out["questions"] = count
    out["search_p50_ms"] = percentile(latencies, 50) if latencies else 0.0
    out["search_p95_ms"] = percentile(latencies, 95) if latencies else 0.0
    out["per_conversation"] = per
    return out
