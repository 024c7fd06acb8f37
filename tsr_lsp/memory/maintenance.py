"""Bounds, compaction, migration and stats of the memory store (a mixin of EpisodeStore).

Bounded by design (the seed toolkit's memory grew without limit): a per-project episode
cap (oldest unpinned go first), retention by age (pinned facts/decisions and patterns are
kept), a disk cap, and compaction that rewrites the index with only live documents.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.episodic import PINNED_KINDS, Episode
from tsr_lsp.paths import private_dir, write_private
from tsr_lsp.release import release_later

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from tsr_lsp.memory.journal import Journal

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1
TOKENIZER = "tsr_en"
PATTERN_KIND = "pattern"
MIN_HEAP_MB = 15  # Tantivy refuses less than 15 MB per indexing thread


def _clean(ep: Episode) -> Episode:
    """An episode fit to be re-indexed: healed if malformed, checked, redacted again (so a
    rebuild also applies today's redaction to what an older tsr-lsp stored)."""
    from tsr_lsp.memory.validate import heal_record, sanitized

    healed, _repaired = heal_record(ep.to_json())
    try:
        return sanitized(healed)
    except ValueError:  # an id that now looks like a secret: a fresh one
        healed.id = Episode(project="", text="").id
        return sanitized(healed)


def dir_size_mb(path: Path) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total / 1e6


class StoreMaintenance:
    root: Path
    settings: MemorySettings
    readonly: bool
    notices: list[str]
    schema: Any
    analyzer: Any
    index: Any
    _lock: threading.RLock
    _writer: Any
    _searcher: Any
    _generation: int
    journal: Journal
    recoveries: int

    if TYPE_CHECKING:  # provided by EpisodeStore

        @property
        def index_dir(self) -> Path: ...

        def searcher(self) -> Any: ...
        def count(self, project: str | None = None, kinds: Sequence[str] | None = None) -> int: ...
        def _query(
            self,
            project: str | None = None,
            kinds: Sequence[str] | None = None,
            outcome: bool = False,
        ) -> Any: ...
        def _drop_writer(self) -> None: ...
        def delete_ids(self, ids: Sequence[str]) -> None: ...
        def _read(self, what: str, fn: Callable[[], T]) -> T: ...
        def _reconcile(self, indexed: dict[str, Episode] | None, data: Any = None) -> int: ...
        def _mark_synced(self) -> None: ...
        def iter_all(self, project: str | None = None, batch: int = 5000) -> Iterator[Episode]: ...
        def projects(self) -> dict[str, int]: ...
        def _document(self, ep: Episode, prev: str, nxt: str) -> Any: ...
        def _write_meta(self, folder: Path) -> None: ...
        def _after_rebuild(self, episodes: list[Episode]) -> None: ...

    # ------------------------------------------------------------------ bounds
    def _oldest_ids(self, q: Any, n: int) -> list[str]:
        import tantivy

        def read() -> list[str]:
            searcher = self.searcher()
            hits = searcher.search(q, n, order_by_field="ts", order=tantivy.Order.Asc).hits
            return [searcher.doc(addr)["id"][0] for _s, addr in hits]

        return self._read("finding the oldest episodes", read)

    def _enforce_caps(self, projects: Iterable[str]) -> None:
        cap = self.settings.max_episodes_per_project
        evictable = ["interaction", "turn"]
        for project in projects:
            excess = self.count(project, evictable) - cap
            if cap > 0 and excess > 0:
                self.delete_ids(self._oldest_ids(self._query(project, evictable), excess))
                log.info("memory: evicted %d oldest episodes of %s (cap %d)", excess, project, cap)

    def apply_retention(self, now: float | None = None) -> int:
        """Delete unpinned episodes older than retention_days; returns how many."""
        import tantivy

        days = self.settings.retention_days
        if days <= 0 or self.readonly:
            return 0
        cutoff = int(((now or time.time()) - days * 86_400) * 1000)
        with self._lock:
            old = tantivy.Query.range_query(
                self.schema, "ts", tantivy.FieldType.Integer, None, cutoff, include_upper=False
            )
            keep = tantivy.Query.term_set_query(self.schema, "kind", [*PINNED_KINDS, PATTERN_KIND])
            q = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, old), (tantivy.Occur.MustNot, keep)]
            )
            n = self._read(
                "counting old episodes", lambda: self.searcher().search(q, 1, count=True).count
            )
            if n:
                self.delete_ids(self._oldest_ids(q, int(n)))
            return int(n)

    def disk_mb(self) -> float:
        vectors = sum(f.stat().st_size for f in self.root.glob("vectors*") if f.is_file())
        return dir_size_mb(self.index_dir) + (vectors + self.journal.size()) / 1e6

    def enforce_disk_cap(self) -> int:
        """Drop the oldest unpinned episodes until the index fits max_disk_mb; compacts."""
        cap = self.settings.max_disk_mb
        dropped = 0
        for _ in range(5):
            size = self.disk_mb()
            if cap <= 0 or size <= cap:
                break
            with self._lock:
                q = self._query(None, ["interaction", "turn"])
                # the share over the cap plus 10% headroom, so one compaction usually does
                share = min(0.9, 1.0 - cap / size + 0.1)
                n = max(1, int(self.count(None, ["interaction", "turn"]) * share))
                ids = self._oldest_ids(q, n)
                if not ids:
                    break
                self.delete_ids(ids)
                dropped += len(ids)
            self.compact()
        return dropped

    # ------------------------------------------------------------------ rebuild
    def compact(self) -> None:
        """Rewrite index and journal with only live episodes: reclaims the disk of deletions
        (forgotten text leaves both)."""
        with self._lock:
            self._reconcile({ep.id: ep for ep in self.iter_all()})

    def _rebuild(self, episodes: list[Episode]) -> None:
        """Write ``episodes`` (checked and redacted again) into index.new, then swap it in.
        Crash-safe: a finished rebuild carries a READY marker and is promoted on the next
        open; an unfinished one is discarded and the old index stays."""
        import tantivy

        new, old = self.root / "index.new", self.root / "index.old"
        shutil.rmtree(new, ignore_errors=True)
        private_dir(new)
        idx = tantivy.Index(self.schema, path=str(new), reuse=False)
        idx.register_tokenizer(TOKENIZER, self.analyzer)
        heap = max(MIN_HEAP_MB, self.settings.writer_heap_mb) * 1_000_000
        writer = idx.writer(heap_size=heap, num_threads=1)
        clean = [_clean(ep) for ep in episodes]
        ordered = sorted(clean, key=lambda e: (e.project, e.thread, e.seq, e.ts))
        keys = [(e.project, e.thread) if e.thread else None for e in ordered]
        for i, ep in enumerate(ordered):
            key = keys[i]
            prev = ordered[i - 1].text if key and i > 0 and keys[i - 1] == key else ""
            nxt = ordered[i + 1].text if key and i + 1 < len(keys) and keys[i + 1] == key else ""
            writer.add_document(self._document(ep, prev, nxt))
        writer.commit()
        writer.wait_merging_threads()
        del writer, idx
        self._write_meta(new)
        write_private(new / "READY", "1")
        self._drop_writer()
        self._searcher = None
        self._generation += 1
        self.index = None
        if self.index_dir.exists() or self.index_dir.is_symlink():
            os.replace(self.index_dir, old)
        os.replace(new, self.index_dir)
        (self.index_dir / "READY").unlink(missing_ok=True)
        os.replace(self.index_dir / "STORE.json", self.root / "STORE.json")
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
        self.index = tantivy.Index.open(str(self.index_dir))
        self.index.register_tokenizer(TOKENIZER, self.analyzer)
        episodes[:] = clean
        self._after_rebuild(clean)
        release_later()

    def _migrate(self, version: int) -> None:
        """Re-index every stored payload into the current schema (payloads carry all data,
        so each schema change is a rebuild; per-version field fixes go in `_upgrade`)."""
        log.warning("memory: migrating %s from schema %d to %d", self.root, version, SCHEMA_VERSION)
        episodes = [self._upgrade(ep, version) for ep in self.iter_all()]
        self._rebuild(episodes)
        self.journal.rewrite(
            (ep.to_json() for ep in episodes if ep.kind != PATTERN_KIND),
            [ep.to_json() for ep in episodes if ep.kind == PATTERN_KIND],
        )
        self._mark_synced()
        self.notices.append(f"memory migrated from schema {version} to {SCHEMA_VERSION}")

    @staticmethod
    def _upgrade(ep: Episode, version: int) -> Episode:
        return ep  # schema 1 is the first; future versions transform old payloads here

    # ------------------------------------------------------------------ misc
    def stats(self) -> dict[str, Any]:
        return {
            "path": str(self.root),
            "schemaVersion": SCHEMA_VERSION,
            "episodes": self.count(None, ["interaction", "fact", "decision", "turn"]),
            "patterns": self.count(None, [PATTERN_KIND]),
            "projects": self.projects(),
            "diskMb": round(self.disk_mb(), 3),
            "readonly": self.readonly,
            "journalMb": round(self.journal.size() / 1e6, 3),
            "recoveries": self.recoveries,
            "caps": {
                "maxEpisodesPerProject": self.settings.max_episodes_per_project,
                "maxDiskMb": self.settings.max_disk_mb,
                "retentionDays": self.settings.retention_days,
            },
            "notices": list(self.notices),
        }
