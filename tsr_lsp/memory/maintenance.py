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
from typing import TYPE_CHECKING, Any

from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.episodic import PINNED_KINDS, Episode

if TYPE_CHECKING:
    import threading

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
TOKENIZER = "tsr_en"
PATTERN_KIND = "pattern"
MIN_HEAP_MB = 15  # Tantivy refuses less than 15 MB per indexing thread


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
        def _get_writer(self) -> Any: ...
        def _commit(self) -> None: ...
        def iter_all(self, project: str | None = None, batch: int = 5000) -> Iterator[Episode]: ...
        def projects(self) -> dict[str, int]: ...
        def _document(self, ep: Episode, prev: str, nxt: str) -> Any: ...
        def _write_meta(self, folder: Path) -> None: ...
        def _after_rebuild(self, episodes: list[Episode]) -> None: ...

    # ------------------------------------------------------------------ bounds
    def _enforce_caps(self, projects: Iterable[str]) -> None:
        import tantivy

        cap = self.settings.max_episodes_per_project
        evictable = ["interaction", "turn"]
        for project in projects:
            excess = self.count(project, evictable) - cap
            if cap > 0 and excess > 0:
                oldest = (
                    self.searcher()
                    .search(
                        self._query(project, evictable),
                        excess,
                        order_by_field="ts",
                        order=tantivy.Order.Asc,
                    )
                    .hits
                )
                searcher = self.searcher()
                for _s, addr in oldest:
                    self._writer.delete_documents_by_term("id", searcher.doc(addr)["id"][0])
                self._commit()
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
            n = int(self.searcher().search(q, 1, count=True).count)
            if n:
                self._get_writer().delete_documents_by_query(q)
                self._commit()
            return n

    def disk_mb(self) -> float:
        vectors = sum(f.stat().st_size for f in self.root.glob("vectors*") if f.is_file())
        return dir_size_mb(self.index_dir) + vectors / 1e6

    def enforce_disk_cap(self) -> int:
        """Drop the oldest unpinned episodes until the index fits max_disk_mb; compacts."""
        import tantivy

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
                searcher = self.searcher()
                hits = searcher.search(q, n, order_by_field="ts", order=tantivy.Order.Asc).hits
                if not hits:
                    break
                writer = self._get_writer()
                for _s, addr in hits:
                    writer.delete_documents_by_term("id", searcher.doc(addr)["id"][0])
                self._commit()
                dropped += len(hits)
            self.compact()
        return dropped

    # ------------------------------------------------------------------ rebuild
    def compact(self) -> None:
        """Rewrite the index with only live documents: reclaims the disk of deletions."""
        with self._lock:
            self._rebuild(list(self.iter_all()))

    def _rebuild(self, episodes: list[Episode]) -> None:
        """Write ``episodes`` into index.new, then swap it in. Crash-safe: a finished
        rebuild carries a READY marker and is promoted on the next open; an unfinished one
        is discarded and the old index stays."""
        import tantivy

        new, old = self.root / "index.new", self.root / "index.old"
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir(parents=True)
        idx = tantivy.Index(self.schema, path=str(new), reuse=False)
        idx.register_tokenizer(TOKENIZER, self.analyzer)
        heap = max(MIN_HEAP_MB, self.settings.writer_heap_mb) * 1_000_000
        writer = idx.writer(heap_size=heap, num_threads=1)
        ordered = sorted(episodes, key=lambda e: (e.project, e.thread, e.seq, e.ts))
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
        (new / "READY").write_text("1")
        if self._writer is not None:
            self._writer.rollback()
        self._writer = None
        self._searcher = None
        self._generation += 1
        self.index = None
        os.replace(self.index_dir, old)
        os.replace(new, self.index_dir)
        (self.index_dir / "READY").unlink(missing_ok=True)
        os.replace(self.index_dir / "STORE.json", self.root / "STORE.json")
        shutil.rmtree(old, ignore_errors=True)
        self.index = tantivy.Index.open(str(self.index_dir))
        self.index.register_tokenizer(TOKENIZER, self.analyzer)
        self._after_rebuild(episodes)

    def _migrate(self, version: int) -> None:
        """Re-index every stored payload into the current schema (payloads carry all data,
        so each schema change is a rebuild; per-version field fixes go in `_upgrade`)."""
        log.warning("memory: migrating %s from schema %d to %d", self.root, version, SCHEMA_VERSION)
        episodes = [self._upgrade(ep, version) for ep in self.iter_all()]
        self._rebuild(episodes)
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
            "caps": {
                "maxEpisodesPerProject": self.settings.max_episodes_per_project,
                "maxDiskMb": self.settings.max_disk_mb,
                "retentionDays": self.settings.retention_days,
            },
            "notices": list(self.notices),
        }
