"""The Tantivy store behind episodic and semantic memory (schema: docs/MEMORY.md).

One `EpisodeStore` per directory per process. Tantivy allows one IndexWriter per directory
across processes (a second gets LockBusy), so the daemon owns the writer and everyone else
opens read-only (`readonly=True`) or talks to the daemon. Every write is committed before it
returns: an episode acknowledged to a client survives kill -9. Searchers are taken after
`index.reload()` so fresh commits are visible. Raw user text never reaches Tantivy's query
parser: queries are built from analysed terms (see retrieval.py).

Layout of the memory directory::

    STORE.json     {"schema_version": 1, "analyzer": {...}, "crc": ...}  (atomic, checksummed)
    journal.log    every acknowledged change, fsync'd before the index is written (journal.py)
    journal.pos    how far the index holds the journal
    index/         the live Tantivy index, derived from the journal
    index.new/     a rebuild in progress (migration, compaction, recovery); promoted on open
    corrupt-*/     an index that failed to open while there was no journal to rebuild from

Folders are 0700 and files 0600 whatever the umask (paths.private_dir, secure_tree).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.embed import DenseIndex
from tsr_lsp.memory.encoding import StoreEncoding
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.journal import Journal, encode_put
from tsr_lsp.memory.maintenance import (
    MIN_HEAP_MB,
    PATTERN_KIND,
    SCHEMA_VERSION,
    TOKENIZER,
    StoreMaintenance,
)
from tsr_lsp.memory.recovery import (
    NOT_DAMAGE,
    MemoryBusyError,
    MemoryError,
    StoreRecovery,
    describe,
    segment_damage,
)
from tsr_lsp.memory.retrieval import session_words
from tsr_lsp.memory.schema import (
    KIND_CODES,
    KIND_NAMES,
    TEXT_FIELDS,
    build_schema,
    h52,
    make_analyzer,
)
from tsr_lsp.memory.search import Hit, StoreSearch
from tsr_lsp.memory.validate import read_payload, sanitized, seal
from tsr_lsp.paths import current_umask, private_dir, secure_tree
from tsr_lsp.release import page_out, register

log = logging.getLogger(__name__)


class EpisodeStore(StoreSearch, StoreEncoding, StoreRecovery, StoreMaintenance):
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
        self.index: Any = None
        self.journal = Journal(self.root)
        self._failures = 0  # consecutive failed reads (recovery.py)
        self._recovered_at = -1e9
        self.recoveries = 0
        self._meta_damaged = False
        # libraries (Tantivy) create files under the process umask: sweep when it is loose
        self._sweep_modes = bool(current_umask() & 0o077)
        self._pending_encoder: Path | None = None  # a static encoder table being built
        self._pending_check = 0.0
        self._open()
        register(self)
        if embedder == "auto":
            embedder = self._find_embedder()
        if embedder is not None:
            self._attach(embedder)

    # ------------------------------------------------------------------ open / recover
    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    def _open(self) -> None:
        private_dir(self.root)
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
        if self._sweep_modes and not self.readonly:
            secure_tree(self.root)  # also heals installations from before private modes
        damage: BaseException | None = None
        if self.index_dir.exists():
            try:
                self._open_index()
            except NOT_DAMAGE:
                raise
            except BaseException as exc:  # corruption: ValueError, OSError or a panic
                if self.readonly:
                    raise MemoryError(
                        f"memory index {self.index_dir} cannot be read: {describe(exc)}"
                    ) from None
                damage = exc
        if self.index is None:
            self._open_damaged(damage)
            return
        if self.readonly:
            return
        if self._meta_damaged:
            self._write_meta(self.root)
        if version < SCHEMA_VERSION:
            try:
                self._migrate(version)
            except Exception as exc:  # keep the data; never move a readable index aside
                self.readonly = True
                self.notices.append(
                    f"memory at {self.root} could not be migrated to schema "
                    f"{SCHEMA_VERSION} ({exc}); opened read-only"
                )
                return
        try:
            self._sync_journal(self.count(), self.iter_all)
        except MemoryBusyError as exc:  # another process writes: it keeps the journal
            log.info("memory: journal left to the writer: %s", exc)
        except MemoryError as exc:  # the index opened but cannot be read through
            self.recover(f"checking it against the journal failed: {exc}")

    def _open_index(self) -> None:
        import tantivy

        damage = segment_damage(self.index_dir)
        if damage:
            raise ValueError(f"a segment file is damaged ({damage})")
        index = tantivy.Index.open(str(self.index_dir))
        index.register_tokenizer(TOKENIZER, self.analyzer)
        self.index = index
        try:
            self._health_check()
        except BaseException:
            self.index = None
            raise

    def _open_damaged(self, damage: BaseException | None) -> None:
        """No usable index (missing, or damaged): rebuild it from the journal, or start an
        empty one when there is nothing to rebuild from."""
        data = self.journal.fold() if self.journal.exists() else None
        if data is not None and (data.episodes or data.patterns) and not self.readonly:
            n = self._reconcile(None, data)
            what = f"could not be opened ({describe(damage)})" if damage else "was missing"
            msg = f"memory index {self.index_dir} {what}; rebuilt it from the journal: {n} episodes"
            log.error("%s", msg)
            self.notices.append(msg)
            self.recoveries += 1
            return
        if damage is not None:
            self._move_aside(damage)
        self._create()
        if not self.readonly:
            self._mark_synced()

    def _create(self) -> None:
        import tantivy

        private_dir(self.index_dir)
        self.index = tantivy.Index(self.schema, path=str(self.index_dir), reuse=False)
        self.index.register_tokenizer(TOKENIZER, self.analyzer)
        self._write_meta(self.root)

    def _health_check(self) -> None:
        """Touch the meta, the postings, a fast field and stored documents: most corruption
        shows up here (the rest when it is read: see recovery.py)."""
        import tantivy

        self.index.reload()
        searcher = self.index.searcher()
        everything = tantivy.Query.all_query()
        hits = searcher.search(everything, 1).hits
        hits += searcher.search(everything, 1, order_by_field="ts").hits
        for _score, addr in hits:
            read_payload(searcher.doc(addr)["payload"][0])

    def _move_aside(self, exc: BaseException) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.root / f"corrupt-{stamp}-{os.getpid()}"
        shutil.move(str(self.index_dir), str(target))
        msg = (
            f"memory index {self.index_dir} could not be opened ({describe(exc)}) and there "
            f"was no journal to rebuild it from; moved it to {target} and started a fresh "
            "one (delete that folder once you no longer need it)"
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
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.exists() or leftover.is_symlink():
                leftover.unlink()

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

    def _change(
        self,
        records: Iterable[dict[str, Any] | bytes],
        apply: Callable[[Any], None],
        prepare: Callable[[], None] | None = None,
    ) -> None:
        """One acknowledged change: ``prepare`` (reads, building documents: a failure here
        changes nothing), then the journal append (fsync'd: from here the change is safe),
        then ``apply(writer)`` and the commit. A failure after the journal append rolls back,
        releases the writer and rebuilds the index from the journal, which holds the change;
        the caller only sees an error when that rebuild fails too."""
        with self._lock:
            writer = self._get_writer()
            if prepare is not None:
                prepare()
            self.journal.append(records)
            try:
                apply(writer)
                self._commit()
            except NOT_DAMAGE:
                self._drop_writer()
                raise
            except BaseException as exc:
                self._drop_writer()
                self.recover(f"writing the index failed: {describe(exc)}")
                return
            self._mark_synced()
            if self._sweep_modes:
                secure_tree(self.index_dir)

    def _commit(self) -> None:
        self._writer.commit()
        self._searcher = None
        self._generation += 1

    def _drop_writer(self) -> None:
        """Roll back and release the writer now: the directory lock goes with the Rust
        object, which a traceback could otherwise keep alive (later writes would then see
        "being written by another process")."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        for step in (writer.rollback, writer.wait_merging_threads):
            try:
                step()
            except BaseException as exc:  # already broken; it is being dropped anyway
                log.info("memory: dropping a failed writer: %s", exc)

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

    @staticmethod
    def payload(ep: Episode) -> bytes:
        return json.dumps(ep.to_json(), separators=(",", ":")).encode()

    def _document(self, ep: Episode, prev: str, nxt: str, payload: bytes | None = None) -> Any:
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
        doc.add_bytes("payload", seal(payload if payload is not None else self.payload(ep)))
        return doc

    def add(self, episodes: Sequence[Episode], *, bounded: bool = True) -> list[str]:
        """Store episodes (checked field by field, redacted) and commit before returning.
        Turns of one thread are indexed with their neighbours' text, so a question about a
        reply finds the turn that prompted it (and vice versa); the stored turn before a new
        one is re-indexed."""
        clean = [sanitized(ep) for ep in episodes]  # ValueError: nothing stored
        if not clean:
            return []
        payloads = [self.payload(ep) for ep in clean]
        docs: list[tuple[str | None, Any]] = []

        def prepare() -> None:
            docs.extend(self._add_documents(clean, payloads))

        def apply(writer: Any) -> None:
            for old_id, doc in docs:
                if old_id is not None:
                    writer.delete_documents_by_term("id", old_id)
                writer.add_document(doc)

        self._change((encode_put(p) for p in payloads), apply, prepare)
        del docs[:], payloads[:]
        if bounded:
            self._enforce_caps({ep.project for ep in clean})
        if self.dense is not None:
            self.dense.enqueue(
                [(h52(ep.id), h52(ep.project), self._embed_text(ep)) for ep in clean]
            )
        return [ep.id for ep in clean]

    def _add_documents(
        self, clean: list[Episode], payloads: list[bytes]
    ) -> list[tuple[str | None, Any]]:
        """(id to delete first or None, document) for a batch: the episodes (replacing any
        stored version) and re-indexed thread neighbours."""
        prev: dict[str, str] = {}
        nxt: dict[str, str] = {}
        last: dict[tuple[str, str], Episode] = {}
        out: list[tuple[str | None, Any]] = []
        for ep in clean:
            if not ep.thread:
                continue
            key = (ep.project, ep.thread)
            before = last.get(key)
            if before is None:
                stored = self._read("reading a thread", partial(self._last_in_thread, ep))
                if stored is not None:
                    old, old_prev = stored
                    out.append((old.id, self._document(old, old_prev, ep.text)))
                    prev[ep.id] = old.text
            else:
                prev[ep.id] = before.text
                nxt[before.id] = ep.text
            last[key] = ep
        for ep, payload in zip(clean, payloads, strict=True):
            doc = self._document(ep, prev.get(ep.id, ""), nxt.get(ep.id, ""), payload)
            out.append((ep.id, doc))
        return out

    def _replay(self, tail: bytes) -> None:
        """Apply journal records the index does not hold yet (a crash came between the
        journal append and the commit). Every record is idempotent."""
        from tsr_lsp.memory.journal import scan
        from tsr_lsp.memory.validate import heal_record

        n = 0
        with self._lock:
            writer = self._get_writer()
            for _number, _end, record in scan(tail):
                if record is None:
                    continue
                try:
                    self._apply_record(writer, record, heal_record)
                except (KeyError, TypeError, ValueError, AttributeError):
                    continue
                n += 1
            self._commit()
            self._mark_synced()
        if n:
            self.notices.append(f"memory: replayed {n} journal records the index had missed")

    def _apply_record(self, writer: Any, record: dict[str, Any], heal: Any) -> None:
        op = record["op"]
        if op == "put":
            ep = heal(record["ep"])[0]
            writer.delete_documents_by_term("id", ep.id)
            writer.add_document(self._document(ep, "", ""))
        elif op == "del":
            if "project" in record:
                writer.delete_documents_by_term("project", str(record["project"]))
            for key in record.get("ids") or ():
                writer.delete_documents_by_term("id", str(key))
        elif op == "clear":
            writer.delete_all_documents()
        elif op == "pat":
            writer.delete_documents_by_term("kind", PATTERN_KIND)
            for raw in record["eps"]:
                writer.add_document(self._document(heal(raw)[0], "", ""))

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
        stored = read_payload(doc["payload"][0])
        if stored.id == ep.id or stored.seq > ep.seq:
            return None
        return stored, doc.get_first("ctx_prev") or ""

    # ------------------------------------------------------------------ changing
    def update(self, ep: Episode) -> None:
        """Replace a stored episode (same id), keeping its neighbour context."""
        import tantivy

        clean = sanitized(ep)
        docs: list[Any] = []

        def prepare() -> None:
            def read() -> tuple[str, str]:
                searcher = self.searcher()
                q = tantivy.Query.term_query(self.schema, "id", clean.id)
                hits = searcher.search(q, 1).hits
                if not hits:
                    return "", ""
                doc = searcher.doc(hits[0][1])
                return doc.get_first("ctx_prev") or "", doc.get_first("ctx_next") or ""

            prev, nxt = self._read("reading an episode", read)
            docs.append(self._document(clean, prev, nxt))

        def apply(writer: Any) -> None:
            writer.delete_documents_by_term("id", clean.id)
            writer.add_document(docs[0])

        self._change([{"op": "put", "ep": clean.to_json()}], apply, prepare)

    def delete(
        self, *, project: str | None = None, ids: Iterable[str] = (), everything: bool = False
    ) -> int:
        """Forget episodes; returns how many went. Deleted text leaves the disk at the next
        compaction (`compact`), which `forget` runs right away."""
        ids = [str(i) for i in ids]
        records: list[dict[str, Any]] = []
        if everything:
            records.append({"op": "clear"})
        if project is not None:
            records.append({"op": "del", "project": project})
        if ids:
            records.append({"op": "del", "ids": ids})

        def apply(writer: Any) -> None:
            for record in records:
                self._apply_record(writer, record, None)

        with self._lock:
            before = self.count()
            self._change(records, apply)
            return before - self.count()

    def delete_ids(self, ids: Sequence[str]) -> None:
        """Evictions (caps, retention, disk cap): journaled like a forget."""
        if ids:
            self.delete(ids=ids)

    def replace_patterns(self, patterns: Sequence[Episode]) -> None:
        clean = [sanitized(ep) for ep in patterns]
        docs = [self._document(ep, "", "") for ep in clean]

        def apply(writer: Any) -> None:
            writer.delete_documents_by_term("kind", PATTERN_KIND)
            for doc in docs:
                writer.add_document(doc)

        self._change([{"op": "pat", "eps": [ep.to_json() for ep in clean]}], apply)

    def _after_rebuild(self, episodes: list[Episode]) -> None:
        if self.dense is not None:
            self.dense.vectors.rewrite({h52(ep.id) for ep in episodes})
        if self._sweep_modes:
            secure_tree(self.root)

    def drop_pages(self) -> None:
        """The index's mapped segment pages leave RSS on a memory release (they grew with
        every search and import: 7 MB after the reliability bench's 40,000 imported
        episodes); they fault back in on use."""
        if self.index_dir.is_dir():
            page_out(self.index_dir)

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
        self.journal.close()


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
