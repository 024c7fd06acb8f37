"""Damage control for the memory store (a mixin of EpisodeStore): corruption costs at most the
damaged part.

- The journal (journal.py) holds every acknowledged change; the index is rebuilt from it,
  merged with whatever of the damaged index can still be read, when the index cannot be
  opened, when a read or write keeps failing after open, or when Tantivy panics.
- A panic inside Tantivy arrives as pyo3's PanicException, a BaseException: every read goes
  through `_read`, which turns it (and any other failure) into `MemoryError`, so nothing
  escapes the request handlers, and which recovers and retries once.
- STORE.json carries a checksum; a damaged one is rewritten with the defaults.
- `check` (``tsr-lsp memory check [--repair]``) compares index, journal, vectors and file
  modes and repairs what differs.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.journal import Fold, Journal
from tsr_lsp.memory.maintenance import PATTERN_KIND, SCHEMA_VERSION
from tsr_lsp.memory.validate import DamagedPayload, heal_record, parse_payload
from tsr_lsp.paths import secure_tree, write_private

if TYPE_CHECKING:
    import threading

    from tsr_lsp.config import MemorySettings
    from tsr_lsp.memory.embed import DenseIndex

log = logging.getLogger(__name__)
T = TypeVar("T")

RECOVERY_PAUSE_S = 10.0  # a second recovery this soon means the damage is not in the index
FAILURES_BEFORE_RECOVERY = 2  # consecutive failed reads (a panic recovers at once)
NOT_DAMAGE = (KeyboardInterrupt, SystemExit, GeneratorExit)


class MemoryError(Exception):
    """Memory cannot do what was asked; the message says why and how to fix it."""


class MemoryBusyError(MemoryError):
    pass


def is_panic(exc: BaseException) -> bool:
    """pyo3's PanicException (a Rust panic inside Tantivy), which is not an Exception."""
    return type(exc).__name__ == "PanicException"


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


FOOTER_MAGIC = 1337  # tantivy's footer: JSON {"version", "crc"}, its u32 length, this u32
CRC_CHUNK = 1 << 20  # bytes read at a time while checking a segment


def segment_damage(index_dir: Path) -> str | None:
    """The first file of a live segment whose CRC32 footer does not match its bytes, or
    None. Tantivy checks none of these on open, and some damage (a flipped length) aborts
    the whole process inside the library, where no handler can catch it; so the files are
    checked here, before the index is opened, and a mismatch is treated as damage."""
    try:
        segments = json.loads((index_dir / "meta.json").read_text("utf-8"))["segments"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged meta.json is Tantivy's to report: it fails cleanly
    for segment in segments:
        stem = str(segment.get("segment_id", "")).replace("-", "")
        deletes = segment.get("deletes") or {}
        live_del = f"{stem}.{deletes.get('opstamp')}.del"
        for path in sorted(index_dir.glob(f"{stem}.*")):
            if path.name.endswith(".del") and path.name != live_del:
                continue  # an older delete file, not read
            problem = _footer_problem(path)
            if problem:
                return f"{path.name}: {problem}"
    return None


def _footer_problem(path: Path) -> str | None:
    """Read in chunks: a big segment is checked without holding it in memory."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < 8:
                return "too short for a footer"
            fh.seek(size - 8)
            tail = fh.read(8)
            length = int.from_bytes(tail[:4], "little")
            if int.from_bytes(tail[4:], "little") != FOOTER_MAGIC or length + 8 > size:
                return "footer damaged"
            fh.seek(size - 8 - length)
            try:
                crc = json.loads(fh.read(length))["crc"]
            except (ValueError, KeyError, TypeError):
                return "footer damaged"
            fh.seek(0)
            body, actual = size - 8 - length, 0
            while body > 0:
                chunk = fh.read(min(body, CRC_CHUNK))
                if not chunk:
                    return "checksum mismatch"  # the file shrank meanwhile
                actual = zlib.crc32(chunk, actual)
                body -= len(chunk)
    except OSError as exc:
        return describe(exc)
    if crc != actual:
        return "checksum mismatch"
    return None


def meta_checksum(meta: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in meta.items() if k != "crc"}, sort_keys=True)
    return f"{zlib.crc32(body.encode()):08x}"


def valid_meta(data: Any) -> bool:
    """STORE.json as written by tsr-lsp: a schema version, analyser flags and (since the
    journal) a checksum that matches."""
    if not isinstance(data, dict):
        return False
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 1000:
        return False
    analyzer = data.get("analyzer", {})
    if not isinstance(analyzer, dict) or not all(
        k in ("stem", "stopwords") and isinstance(v, bool) for k, v in analyzer.items()
    ):
        return False
    return "crc" not in data or data["crc"] == meta_checksum(data)


class StoreRecovery:
    root: Path
    settings: MemorySettings
    readonly: bool
    notices: list[str]
    journal: Journal
    analyzer_options: dict[str, bool]
    dense: DenseIndex | None
    _lock: threading.RLock
    _failures: int
    _recovered_at: float
    recoveries: int
    recovering: bool = False
    index: Any

    if TYPE_CHECKING:  # provided by EpisodeStore / StoreMaintenance

        @property
        def index_dir(self) -> Path: ...

        def searcher(self) -> Any: ...
        def _drop_writer(self) -> None: ...
        def _rebuild(self, episodes: list[Episode]) -> None: ...
        def _backfill_later(self) -> None: ...
        def _replay(self, tail: bytes) -> None: ...
        def count(self, project: str | None = None, kinds: Any = None) -> int: ...

    # ------------------------------------------------------------------ STORE.json
    def _meta(self) -> dict[str, Any]:
        path = self.root / "STORE.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            data = exc
        if not valid_meta(data):
            self._meta_damaged = True
            self.notices.append(f"memory: {path} was damaged; rewritten with the defaults")
            return {}
        return data if isinstance(data, dict) else {}

    def _write_meta(self, folder: Path) -> None:
        meta: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "analyzer": self.analyzer_options,
        }
        meta["crc"] = meta_checksum(meta)
        write_private(folder / "STORE.json", json.dumps(meta))

    # ------------------------------------------------------------------ guarded reads
    def _read(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``; any failure (a panic too) becomes MemoryError. Failures that persist
        (or a panic) rebuild the index from the journal, then ``fn`` is tried once more."""
        for attempt in (1, 2):
            try:
                out = fn()
            except (MemoryError, *NOT_DAMAGE):
                raise
            except BaseException as exc:
                if attempt == 2:
                    msg = f"memory: {what} failed after a rebuild: {describe(exc)}"
                    raise MemoryError(msg) from None
                self._damaged(what, exc)  # raises unless it recovered
                continue
            self._failures = 0
            return out
        raise AssertionError("unreachable")

    def _damaged(self, what: str, exc: BaseException) -> None:
        """Count a failure; recover (and return) when it is a panic or keeps happening,
        else raise MemoryError for this request."""
        self._failures += 1
        log.warning("memory: %s failed: %s", what, describe(exc))
        certain = (
            is_panic(exc)
            or isinstance(exc, DamagedPayload)
            or any(w in str(exc).lower() for w in ("corrupt", "io error", "decompress"))
        )
        if self.readonly or not (certain or self._failures >= FAILURES_BEFORE_RECOVERY):
            raise MemoryError(f"memory: {what} failed: {describe(exc)}") from None
        self.recover(f"{what} failed: {describe(exc)}")

    # ------------------------------------------------------------------ recovery
    def recover(self, reason: str) -> int:
        """Rebuild the index from the journal plus whatever the old index still yields;
        returns the episodes it holds now. Raises MemoryError when it cannot."""
        if self.readonly:
            raise MemoryError(f"memory index is damaged ({reason}); it is open read-only here")
        with self._lock:
            if time.monotonic() - self._recovered_at < RECOVERY_PAUSE_S:
                raise MemoryError(f"memory: {reason} (the index was rebuilt moments ago)")
            self._recovered_at = time.monotonic()
            self._drop_writer()
            self.recovering = True  # latency-critical readers skip memory meanwhile
            try:
                n = self._reconcile(self._salvage())
            except NOT_DAMAGE:
                raise
            except BaseException as exc:
                raise MemoryError(f"memory: rebuilding the index failed: {describe(exc)}") from None
            finally:
                self.recovering = False
            self._failures = 0
            self.recoveries += 1
        msg = f"memory index was damaged ({reason}); rebuilt it from the journal: {n} episodes"
        log.error("%s", msg)
        self.notices.append(msg)
        return n

    def _salvage(self, healed: set[str] | None = None) -> dict[str, Episode] | None:
        """Every episode the index still yields (None when it cannot be read at all);
        ids of payloads that needed healing go to ``healed``."""
        import tantivy

        try:
            searcher = self.index.searcher() if self.index is not None else None
            if searcher is None:
                return None
            total = searcher.search(tantivy.Query.all_query(), 1, count=True).count
        except NOT_DAMAGE:
            raise
        except BaseException:
            return None
        found: dict[str, Episode] = {}
        batch = 1000
        for offset in range(0, total, batch):
            try:
                hits = searcher.search(tantivy.Query.all_query(), batch, offset=offset).hits
            except NOT_DAMAGE:
                raise
            except BaseException:
                continue
            for _s, addr in hits:
                try:
                    ep, repaired = heal_record(parse_payload(searcher.doc(addr)["payload"][0]))
                except NOT_DAMAGE:
                    raise
                except BaseException:
                    continue
                found[ep.id] = ep
                if repaired and healed is not None:
                    healed.add(ep.id)
        return found

    def _reconcile(self, indexed: dict[str, Episode] | None, data: Fold | None = None) -> int:
        """Make index and journal hold the same: the journal's episodes (its checksummed copy
        wins) plus episodes only the index still has (a damaged journal line); patterns from
        the index, else the journal. Rewrites both; returns the episodes kept."""
        data = data if data is not None else self.journal.fold()
        merged: dict[str, Episode] = dict(indexed or {})
        patterns = [ep for ep in merged.values() if ep.kind == PATTERN_KIND]
        for key in [k for k, ep in merged.items() if ep.kind == PATTERN_KIND]:
            del merged[key]
        for key, raw in data.episodes.items():
            merged[key] = heal_record(raw)[0]
        if not patterns:
            patterns = [heal_record(raw)[0] for raw in data.patterns]
        everything = [*merged.values(), *patterns]
        self._rebuild(everything)  # checks and redacts them again, in place
        episodes = [ep for ep in everything if ep.kind != PATTERN_KIND]
        patterns = [ep for ep in everything if ep.kind == PATTERN_KIND]
        self.journal.rewrite((ep.to_json() for ep in episodes), [ep.to_json() for ep in patterns])
        self._mark_synced()
        self._backfill_later()
        return len(episodes)

    def _mark_synced(self) -> None:
        """journal.pos after a commit: the index holds all of the journal, in N documents."""
        try:
            searcher = self.searcher()
            docs = int(searcher.num_docs)
        except NOT_DAMAGE:
            raise
        except BaseException:  # damage shows up on the next read; the count is a nicety
            docs = -1
        self.journal.write_pos(docs)

    def _sync_journal(self, count: int, iter_all: Callable[[], Iterator[Episode]]) -> None:
        """On open: create the journal of a store that predates it, or replay what the
        index is missing (a crash between the journal append and the index commit)."""
        journal = self.journal
        if not journal.exists():
            if count:
                stored = list(iter_all())
                episodes = [ep.to_json() for ep in stored if ep.kind != PATTERN_KIND]
                patterns = [ep.to_json() for ep in stored if ep.kind == PATTERN_KIND]
                journal.rewrite(episodes, patterns)
                self.notices.append(f"memory: journal created from {len(episodes)} episodes")
            self._mark_synced()
            return
        pos = journal.read_pos()
        size = journal.size()
        if pos is not None and pos[0] == journal.gen() and pos[1] <= size:
            if pos[1] < size:
                self._replay(journal.read()[pos[1] :])
                return
            if pos[2] < 0 or pos[2] == count:
                return
            # the index opens but holds another number of documents than it did after its
            # last commit: a damaged deletion bitset, say. The journal knows which.
            log.error("memory: the index holds %d documents, %d were committed", count, pos[2])
        # unknown position (journal.pos damaged, or a crash mid-rewrite): compare it all,
        # reading what can be read of the index
        n = self._reconcile(self._salvage())
        self.notices.append(f"memory: index and journal reconciled ({n} episodes)")

    # ------------------------------------------------------------------ check
    def check(self, repair: bool = False) -> dict[str, Any]:
        """What `tsr-lsp memory check` reports: index, journal, payloads, vectors and file
        modes; with ``repair``, index and journal are reconciled and the rest fixed."""
        with self._lock:
            healed_ids: set[str] = set()
            indexed = self._salvage(healed_ids)
            data = self.journal.fold()
            problems: list[str] = []
            if indexed is None:
                problems.append("the index cannot be read")
            index_ids = {k for k, e in (indexed or {}).items() if e.kind != PATTERN_KIND}
            journal_ids = set(data.episodes)
            missing_index = len(journal_ids - index_ids)
            missing_journal = len(index_ids - journal_ids)
            if missing_index:
                problems.append(f"{missing_index} episodes of the journal are not in the index")
            if missing_journal:
                problems.append(f"{missing_journal} episodes of the index are not in the journal")
            if data.damaged:
                problems.append(f"{len(data.damaged)} damaged journal lines")
            healed = len(healed_ids)
            if healed:
                problems.append(f"{healed} stored episodes with malformed fields")
            vectors = self._vector_problems(index_ids)
            problems += vectors
            loose = self._loose_modes()
            if loose:
                problems.append(f"{loose} files or folders readable by other users")
            report: dict[str, Any] = {
                "path": str(self.root),
                "ok": not problems,
                "indexEpisodes": len(index_ids) if indexed is not None else None,
                "journalEpisodes": len(journal_ids),
                "journalRecords": data.records,
                "journalDamagedLines": data.damaged[:20],
                "journalTorn": data.torn,
                "problems": problems,
                "repaired": [],
            }
            if repair and problems:
                if self.readonly:
                    raise MemoryBusyError(
                        "memory is open read-only here; run the repair through the daemon "
                        "(tsr-lsp memory check --repair while it runs) or stop it first"
                    )
                self._drop_writer()
                n = self._reconcile(indexed, data)
                report["repaired"].append(f"index and journal rebuilt: {n} episodes")
                if vectors and self.dense is not None:
                    self.dense.vectors.rewrite(set())
                    self._backfill_later()
                    report["repaired"].append("vectors recomputed")
                if loose:
                    secure_tree(self.root)
                    report["repaired"].append("file modes made private (0700 / 0600)")
        return report

    def _vector_problems(self, index_ids: set[str]) -> list[str]:
        if self.dense is None:
            return []
        from tsr_lsp.memory.schema import h52

        vf = self.dense.vectors
        out = []
        if vf.damaged:
            out.append(f"{vf.damaged} damaged vector records")
        keys = {h52(i) for i in index_ids}
        stray = len(set(vf.keys().tolist()) - keys)
        if stray:
            out.append(f"{stray} vectors of episodes that are not stored")
        return out

    def _loose_modes(self) -> int:
        import os
        import stat

        n = 0
        for dirpath, dirs, files in os.walk(self.root):
            for name in [*dirs, *files]:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                    n += 1
        return n
