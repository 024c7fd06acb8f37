"""MemoryService: what the Engine owns. Episodic + semantic memory behind one object.

Opening Tantivy is deferred to the first use so `initialize` stays fast. Every public method
that the request path calls (`prompt_memory`, `record_generation`) swallows and logs store
errors: memory must never break a generation. It is also the router's `FeedbackSource`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tsr_lsp.config import MemorySettings, Settings
from tsr_lsp.debounce import Debounce
from tsr_lsp.memory.api import (
    OUTCOMES,
    FeedbackExample,
    HistoryFeatures,
    SettingStats,
    acceptance,
)
from tsr_lsp.memory.episodic import COMPLETION_KIND, KINDS, Episode, summarize_response
from tsr_lsp.memory.recovery import NOT_DAMAGE, MemoryBusyError, describe
from tsr_lsp.memory.semantic import Pattern, consolidate, match_topic
from tsr_lsp.memory.store import PATTERN_KIND, EpisodeStore, MemoryError, h52
from tsr_lsp.memory.validate import check_import
from tsr_lsp.memory.writer_lock import WRITER_BUSY, writer_busy
from tsr_lsp.release import release_later

log = logging.getLogger(__name__)

EPISODE_KINDS = list(KINDS)
MAINTAIN_EVERY = 200  # writes between retention / disk-cap checks
ROUTING_WAIT_S = 0.25  # routing waits this long for a write under way, then goes on without
# episodes an import stores (redacted, indexed, committed) at a time: the index buffers a
# batch until its commit, and 2,000 at once left the heap stretched (docs/RELIABILITY.md)
IMPORT_BATCH = 250


def completion_table(episodes: Iterable[Episode]) -> dict[str, Any]:
    """Counts per outcome, in all and per language, with the acceptance rate (a partial
    acceptance counts half, as an edit does in tsr/feedback)."""

    def row(eps: list[Episode]) -> dict[str, Any]:
        n = Counter(ep.outcome for ep in eps)
        shown = len(eps)
        return {
            "shown": shown,
            "accepted": n["accepted"],
            "partial": n["edited"],
            "rejected": n["rejected"],
            "acceptanceRate": round(acceptance(n["accepted"], n["edited"], shown), 3)
            if shown
            else 0.0,
        }

    eps = [ep for ep in episodes if ep.outcome]
    languages: dict[str, list[Episode]] = {}
    for ep in eps:
        languages.setdefault(ep.language or "unknown", []).append(ep)
    return {**row(eps), "byLanguage": {lang: row(x) for lang, x in sorted(languages.items())}}


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class MemoryService:
    def __init__(self, settings: Settings, *, readonly: bool = False, embedder: Any = "auto"):
        self.settings = settings
        self.readonly = readonly
        self._embedder = embedder
        self._store: EpisodeStore | None = None
        self._open_lock = threading.Lock()
        self._consolidation = Debounce(self._consolidate_quietly)
        self._patterns: list[Pattern] | None = None
        self._history: dict[tuple[str, int], tuple[int, HistoryFeatures]] = {}
        self._writes = 0
        self.writer_elsewhere: str | None = None  # a write failed: the writer is elsewhere

    @property
    def conf(self) -> MemorySettings:
        return self.settings.memory

    @property
    def store(self) -> EpisodeStore:
        with self._open_lock:
            if self._store is None:
                try:
                    store = EpisodeStore(
                        self.settings.memory_path(),
                        self.conf,
                        readonly=self.readonly,
                        embedder=self._embedder,
                    )
                except (MemoryError, OSError):
                    raise
                except NOT_DAMAGE:
                    raise
                except BaseException as exc:  # a panic opening the index, say
                    raise MemoryError(f"memory could not be opened: {describe(exc)}") from None
                for notice in store.notices:
                    log.warning("memory: %s", notice.removeprefix("memory: "))
                self._store = store
                self._maintain()
            return self._store

    def _maintain(self) -> None:
        """Retention by age and the disk cap: on open and every MAINTAIN_EVERY writes."""
        store = self._store
        if store is None or store.readonly:
            return
        try:
            store.apply_retention()
            store.enforce_disk_cap()
        except MemoryError as exc:  # another process owns the writer: it maintains
            log.info("memory: maintenance skipped: %s", exc)

    @property
    def opened(self) -> bool:
        return self._store is not None

    def read_only_reason(self) -> str | None:
        """Why this process cannot record memory now, or None. A ``--no-daemon`` server
        next to the daemon (which holds the writer lock) used to drop every episode with
        only a log line; the server tells the user with this. Never waits: during an open
        or a write the last known answer is given."""
        if self.readonly:
            return "memory is open read-only in this process"
        if not self._open_lock.acquire(blocking=False):
            return self.writer_elsewhere
        try:
            store = self._store
            if store is None:
                held = writer_busy(self.settings.memory_path() / "index")
            elif store.readonly:
                return "memory's index is open read-only (the log says why)"
            elif not store._lock.acquire(blocking=False):  # a write is under way here
                return self.writer_elsewhere
            else:
                try:  # under the store's lock: our own writer cannot start mid-probe
                    held = store._writer is None and writer_busy(store.index_dir)
                finally:
                    store._lock.release()
        finally:
            self._open_lock.release()
        self.writer_elsewhere = WRITER_BUSY if held else None
        return self.writer_elsewhere

    # ------------------------------------------------------------------ episodic
    def record_generation(
        self,
        project: str,
        request: Any,
        decision: Any,
        answer: str,
        *,
        started: float,
        file: str = "",
        session: str = "",
    ) -> str | None:
        """One episode per tsr/generate; committed before returning (then acknowledged)."""
        if not (self.conf.enabled and self.conf.record_interactions):
            return None
        ep = Episode(
            project=project,
            text=request.text,
            kind="interaction",
            ts=started,
            response=summarize_response(answer),
            language=request.language,
            file=file,
            category=decision.category,
            model=decision.model,
            temperature=float(decision.temperature),
            cot_steps=int(decision.cot_steps),
            template=decision.template,
            finished_ts=time.time(),
            meta={"kind": request.kind},
        )
        if session:
            ep.thread = session
            ep.seq = int(time.time() * 1000)
        try:
            episode_id = self.store.add([ep])[0]
            self.writer_elsewhere = None
            self._writes += 1
            if self._writes % MAINTAIN_EVERY == 0:
                self._maintain()
            return episode_id
        except Exception as exc:  # memory must never break a generation
            if isinstance(exc, MemoryBusyError):  # the server tells the user (read_only_reason)
                self.writer_elsewhere = WRITER_BUSY
            log.warning("memory: could not record the episode: %s", exc)
            return None

    def remember(self, project: str, text: str, kind: str = "fact") -> str:
        if kind not in ("fact", "decision"):
            raise ValueError("kind must be 'fact' or 'decision'")
        if not text.strip():
            raise ValueError("nothing to remember: the text is empty")
        return self.store.add([Episode(project=project, text=text.strip(), kind=kind)])[0]

    def feedback(self, episode_id: str, outcome: str, edited_text: str = "") -> Episode:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        ep = self.store.get(episode_id)
        if ep is None or ep.kind == PATTERN_KIND:
            raise KeyError(f"no episode with id {episode_id!r} (it may have been forgotten)")
        ep.outcome = outcome
        ep.outcome_ts = time.time()
        if edited_text:
            ep.meta["edited"] = summarize_response(edited_text)
        self.store.update(ep)
        self.schedule_consolidation()
        return ep

    def search(
        self, query: str, project: str | None, k: int = 10, kinds: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        store = self.store
        store.refresh()
        hits = store.search(query, project=project, k=k, kinds=list(kinds or EPISODE_KINDS))
        return [{**h.episode.to_json(), "score": round(h.score, 4)} for h in hits]

    def prompt_memory(
        self, project: str, query: str, category: str = "", session: str = ""
    ) -> dict[str, Any]:
        """``memory`` for templates: the episodes the request points at (relevance gate,
        memory/relevance.py) and patterns, within the token budget. Turns of the request's
        own Ask ``session`` are the conversation itself: the latest two always pass."""
        from tsr_lsp.memory.relevance import GateSettings, select_relevant

        empty: dict[str, Any] = {"episodes": [], "patterns": []}
        if not self.conf.enabled or self.busy():
            return empty
        try:
            found = self.store.search(query, project=project, k=20, kinds=EPISODE_KINDS)
            hits = [h.episode for h in found]
            own = [ep for ep in self.store.recent(project, 20) if session and ep.thread == session]
            patterns = self.patterns()
        except Exception as exc:
            log.warning("memory: retrieval failed, answering without memory: %s", exc)
            return empty
        budget = self.conf.prompt_token_budget
        episodes: list[dict[str, Any]] = []
        for ep in own[:2]:
            cost = approx_tokens(ep.summary)
            if cost <= budget and len(episodes) < self.conf.prompt_episodes:
                budget -= cost
                episodes.append(ep.to_prompt())
        taken = {e["id"] for e in episodes}
        gate = GateSettings(
            threshold=self.conf.prompt_min_relevance,
            back_reference_threshold=self.conf.prompt_min_relevance_followup,
        )
        chosen = select_relevant(
            query,
            [ep for ep in hits if ep.id not in taken],
            text_of=lambda ep: (ep.text, ep.response),
            cost_of=lambda ep: approx_tokens(ep.summary),
            max_items=self.conf.prompt_episodes - len(episodes),
            token_budget=budget,
            gate=gate,
            pinned=lambda ep: ep.pinned,
        )
        for _score, ep in chosen:
            budget -= approx_tokens(ep.summary)
            episodes.append(ep.to_prompt())
        patterns_out: list[dict[str, Any]] = []
        best = match_topic(patterns, category, query) if category else None
        ordered = ([best] if best else []) + [p for p in patterns if p is not best]
        for p in ordered:
            if len(patterns_out) >= self.conf.prompt_patterns or (
                category and p.category != category
            ):
                continue
            cost = approx_tokens(p.statement)
            if cost > budget:
                break
            budget -= cost
            patterns_out.append({"id": p.key, "statement": p.statement, "category": p.category})
        return {"episodes": episodes, "patterns": patterns_out}

    # ------------------------------------------------------------------ completions
    def record_completion(self, ep: Episode) -> str | None:
        """An inline completion with its outcome (kind "completion"; docs/COMPLETION.md)."""
        if not self.conf.enabled:
            return None
        ep.kind = COMPLETION_KIND
        try:
            return self.store.add([ep])[0]
        except Exception as exc:  # memory must never break completion
            log.warning("memory: could not record the completion: %s", exc)
            return None

    def update_completion(self, episode_id: str, outcome: str, meta: dict[str, Any]) -> None:
        """A later, stronger outcome of a recorded completion (partial, then accepted)."""
        ep = self.store.get(episode_id)
        if ep is None or ep.kind != COMPLETION_KIND:
            return
        ep.outcome = outcome
        ep.outcome_ts = time.time()
        ep.meta.update(meta)
        self.store.update(ep)

    def completions(self, project: str | None, limit: int = 5000) -> list[Episode]:
        """Recent completion episodes (newest first) of a project, or of all projects."""
        self.store.refresh()
        return self.store.recent(project, limit, [COMPLETION_KIND])

    def completion_stats(self, project: str | None) -> dict[str, Any]:
        """Outcomes of inline completions, in all and per language (tsr/inline/stats)."""
        return completion_table(self.completions(project))

    # ------------------------------------------------------------------ semantic
    def consolidate(self) -> list[Pattern]:
        """Rebuild every pattern from the episodes with outcomes (on demand, or after
        feedback in the background). Pure consolidation; the store keeps the result."""
        rated = self.store.recent(None, 100_000, EPISODE_KINDS, with_outcome=True)
        patterns = consolidate(rated)
        docs = [
            Episode(
                project="",
                text=f"{p.statement} ({p.category} {' '.join(p.terms)})",
                kind=PATTERN_KIND,
                id=f"pat-{h52(p.key):013x}",
                category=p.category,
                meta={"pattern": p.to_json()},
            )
            for p in patterns
        ]
        self.store.replace_patterns(docs)
        self._patterns = patterns
        return patterns

    def patterns(self) -> list[Pattern]:
        if self._patterns is None:
            stored = self.store.recent(None, 10_000, [PATTERN_KIND])
            self._patterns = [Pattern.from_json(ep.meta["pattern"]) for ep in stored]
        return self._patterns

    def schedule_consolidation(self) -> None:
        self._consolidation(self.conf.consolidate_delay_s)

    def _consolidate_quietly(self) -> None:
        try:
            self.consolidate()
        except Exception as exc:
            log.warning("memory: consolidation failed: %s", exc)

    # ------------------------------------------------------------------ FeedbackSource
    def setting_stats(self, category: str, topic: str = "") -> list[SettingStats]:
        """Stats per setting for a category. Without ``topic``: the category-wide stats
        (topic "") and every topic's (topic "csv parsing" ...), so the router can match the
        request itself. With ``topic`` (a topic name or a request text): the best-matching
        topic's stats, else the category-wide ones."""
        patterns = self._patterns
        if patterns is None:
            with self._store_briefly() as free:
                if not free:  # routing goes on with the plain policy
                    raise MemoryError("memory is being written; routing without its statistics")
                patterns = self.patterns()
        if not topic:
            return [s for p in patterns if p.category == category for s in p.stats()]
        found = match_topic(patterns, category, topic)
        return found.stats() if found else []

    @contextlib.contextmanager
    def _store_briefly(self) -> Iterator[bool]:
        """Hold the store's lock if a write under way lets go of it within ROUTING_WAIT_S;
        yields whether it did. Routing reads through this: an import or a compaction holds
        the store for seconds, and waiting held every client's tsr/route up to 26 s under
        the reliability bench's load."""
        lock = self.store._lock
        free = lock.acquire(timeout=ROUTING_WAIT_S)
        try:
            yield free
        finally:
            if free:
                lock.release()

    def feedback_examples(
        self, limit: int = 10_000, *, routing: bool = False
    ) -> list[FeedbackExample]:
        if routing:  # a write under way (an import: seconds) must not hold every tsr/route
            with self._store_briefly() as free:
                if not free:
                    raise MemoryError("memory is being written; routing with older feedback")
                return self.feedback_examples(limit)
        rated = self.store.recent(None, limit, ["interaction"], with_outcome=True)
        return [
            FeedbackExample(
                text=ep.text,
                kind=str(ep.meta.get("kind", "chat")),
                language=ep.language,
                category=ep.category,
                model=ep.model,
                temperature=ep.temperature,
                cot_steps=ep.cot_steps,
                outcome=ep.outcome,
            )
            for ep in rated
        ]

    def busy(self) -> bool:
        """Memory is being opened or rebuilt by another request (a damaged index can take
        seconds): routing and prompts go on without it rather than wait."""
        if self._store is None:
            return self._open_lock.locked()
        return self._store.recovering

    def history(self, project: str, limit: int = 50) -> HistoryFeatures:
        """Cached until the next write: the router asks on every decision (p50 < 1 ms)."""
        if self.busy():
            raise MemoryError("memory is being opened or rebuilt; routing without history")
        store = self.store
        key = (project, limit)
        cached = self._history.get(key)
        if cached is not None and cached[0] == store._generation:
            return cached[1]
        with self._store_briefly() as free:
            if not free:  # route with the history from before the write, or none
                if cached is not None:
                    return cached[1]
                raise MemoryError("memory is being written; routing without history this time")
            value = self._compute_history(project, limit)
        self._history[key] = (store._generation, value)
        return value

    def _compute_history(self, project: str, limit: int) -> HistoryFeatures:
        recent = self.store.recent(project, limit, ["interaction"])
        cats = Counter(ep.category for ep in recent if ep.category)
        tries: Counter[str] = Counter()
        good: dict[str, float] = {}
        for ep in recent:
            if ep.outcome and ep.category:
                tries[ep.category] += 1
                gain = {"accepted": 1.0, "edited": 0.5}.get(ep.outcome, 0.0)
                good[ep.category] = good.get(ep.category, 0.0) + gain
        return HistoryFeatures(
            recent_categories=dict(cats),
            acceptance_by_category={c: good.get(c, 0.0) / n for c, n in tries.items()},
        )

    # ------------------------------------------------------------------ admin
    def forget(
        self, *, project: str | None = None, ids: Iterable[str] = (), everything: bool = False
    ) -> int:
        n = self.store.delete(project=project, ids=list(ids), everything=everything)
        if n:  # nothing forgotten, nothing to rewrite (a rebuild takes seconds per 10,000)
            self.store.compact()  # the forgotten text leaves the disk now, not at some merge
            self.consolidate()
        return n

    def export(self, project: str | None = None) -> list[dict[str, Any]]:
        return [ep.to_json() for ep in self.store.iter_all(project) if ep.kind != PATTERN_KIND]

    def import_(
        self,
        records: Sequence[Any],
        lines: Sequence[int] | None = None,
        atomic: bool = False,
    ) -> dict[str, Any]:
        """Every record is checked field by field before anything is stored. A bad record
        is rejected with its line number and the rest are imported (``atomic``: nothing is
        imported when any record is bad). Ids already stored are skipped, so an import can
        be repeated after fixing the rejected lines."""
        checked = check_import(records, lines)
        if atomic and checked.rejected:
            raise ValueError(
                f"nothing imported: {len(checked.rejected)} of {len(records)} records are "
                f"invalid ({checked.summary()})"
            )
        existing = self.store.existing_ids([ep.id for ep in checked.valid])
        fresh = [ep for ep in checked.valid if ep.id not in existing]
        for i in range(0, len(fresh), IMPORT_BATCH):
            self.store.add(fresh[i : i + IMPORT_BATCH])
        if len(fresh) >= 1000:
            release_later()  # a big import freed a lot; its batches are too small to say
        if any(ep.outcome for ep in fresh):
            self.consolidate()
        return {
            "imported": len(fresh),
            "existing": len(checked.valid) - len(fresh),
            "rejected": [{"line": n, "error": msg} for n, msg in checked.rejected],
        }

    def check(self, repair: bool = False) -> dict[str, Any]:
        """`tsr-lsp memory check [--repair]`: index, journal, payloads, vectors, modes."""
        report = self.store.check(repair)
        if report["repaired"]:
            self._patterns = None
        return report

    def stats(self) -> dict[str, Any]:
        out = self.store.stats()
        try:
            by_project: dict[str, list[Episode]] = {}
            for ep in self.completions(None):
                by_project.setdefault(ep.project, []).append(ep)
            out["completions"] = {p: completion_table(eps) for p, eps in by_project.items()}
        except Exception as exc:  # an old index without the kind: no table
            log.info("memory: completion stats unavailable: %s", exc)
        store = self.store
        if store.dense is not None:
            space = getattr(store.dense.embedder, "space", "custom")
            out["embeddings"] = store.dense.failed or f"{space}: {len(store.dense.vectors)} vectors"
        elif store._pending_encoder is not None:
            out["embeddings"] = "lexical until the static encoder is built (in the background)"
        else:
            out["embeddings"] = "off"
        return out

    def close(self) -> None:
        self._consolidation.cancel()
        if self._store is not None:
            self._store.close()
