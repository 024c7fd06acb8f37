"""Fast inference with numpy only: the daemon routes without importing torch.

Weights file format (``.tsrw``), chosen so that loading is one read plus zero-copy views and
saving the same weights twice gives identical bytes:

    b"TSRW1\\n" | uint64 little-endian header length | header JSON (sorted keys) | arrays

The header holds ``meta`` (categories, dense feature names, model names, training facts),
``vocab`` (feature strings, index = embedding row) and ``arrays`` (name -> dtype, shape,
offset into the array section, 16-byte aligned), plus the sha256 of the array section so a
truncated or corrupted file is reported instead of routing on garbage.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsr_lsp.config import CATEGORIES
from tsr_lsp.router.decision import Prediction, RouteRequest
from tsr_lsp.router.features import (
    DENSE_NAMES,
    dense_features,
    feature_ids,
    history_vectors,
    sparse_features,
)

MAGIC = b"TSRW1\n"
FORMAT_VERSION = 1
TEMPERATURE_SCALE = 1.5  # the temperature head outputs sigmoid(x) * this
ARRAY_NAMES = ("emb", "w1", "b1", "wc", "bc", "wd", "bd", "wt", "bt", "wm", "bm")


class WeightsError(ValueError):
    """Weights that cannot be used; the message names the file and the fix."""


@dataclass
class RouterWeights:
    vocab: list[str]
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    @property
    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {f: i for i, f in enumerate(self.vocab)}
        return self._index

    @property
    def models(self) -> list[str]:
        return list(self.meta.get("models", []))

    def size_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values()) + sum(len(v) + 1 for v in self.vocab)


# --------------------------------------------------------------------------- file format


def to_bytes(weights: RouterWeights) -> bytes:
    table: dict[str, Any] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in ARRAY_NAMES:
        arr = np.ascontiguousarray(weights.arrays[name], dtype="<f4")
        pad = (-offset) % 16
        if pad:
            chunks.append(b"\0" * pad)
            offset += pad
        data = arr.tobytes()
        table[name] = {"dtype": "<f4", "shape": list(arr.shape), "offset": offset}
        chunks.append(data)
        offset += len(data)
    payload = b"".join(chunks)
    header = {
        "format": FORMAT_VERSION,
        "meta": weights.meta,
        "vocab": weights.vocab,
        "arrays": table,
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    head = json.dumps(header, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return MAGIC + struct.pack("<Q", len(head)) + head + payload


def save_weights(weights: RouterWeights, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(to_bytes(weights))
    tmp.replace(path)  # atomic: a crash never leaves half a weights file


def from_bytes(blob: bytes, where: str = "weights") -> RouterWeights:
    fix = 'retrain with `tsr-lsp router train` or set router.weights = ""'
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 8:
        raise WeightsError(f"{where}: not a tsr-lsp router weights file; {fix}")
    (hlen,) = struct.unpack_from("<Q", blob, len(MAGIC))
    start = len(MAGIC) + 8
    try:
        header = json.loads(blob[start : start + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{where}: damaged header ({exc}); {fix}") from None
    if header.get("format") != FORMAT_VERSION:
        raise WeightsError(f"{where}: unsupported format {header.get('format')!r}; {fix}")
    payload = memoryview(blob)[start + hlen :]
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise WeightsError(f"{where}: checksum mismatch (truncated or corrupted); {fix}")
    arrays = {}
    for name, spec in header["arrays"].items():
        count = math.prod(spec["shape"])
        arrays[name] = np.frombuffer(
            payload, dtype=spec["dtype"], count=count, offset=spec["offset"]
        ).reshape(spec["shape"])
    missing = [n for n in ARRAY_NAMES if n not in arrays]
    if missing:
        raise WeightsError(f"{where}: missing arrays {missing}; {fix}")
    return RouterWeights(list(header["vocab"]), arrays, dict(header["meta"]))


def load_weights(path: Path) -> RouterWeights:
    try:
        blob = Path(path).read_bytes()
    except OSError as exc:
        raise WeightsError(
            f"cannot read router weights {path}: {exc.strerror or exc}; "
            "check router.weights in your config"
        ) from None
    return from_bytes(blob, str(path))


# --------------------------------------------------------------------------- inference


@dataclass
class RawOutput:
    probs: np.ndarray
    difficulty: float
    temperature: float | None
    model: str | None
    model_prob: float


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    out: np.ndarray = z / z.sum()
    return out


def forward(
    weights: RouterWeights, ids: list[int], dense: list[float]
) -> tuple[np.ndarray, float, float, np.ndarray]:
    """model.RouterNet in numpy: (category logits, difficulty, temperature, model logits)."""
    a = weights.arrays
    if ids:
        bag = a["emb"][ids].sum(axis=0) / np.float32(math.sqrt(len(ids)))
    else:
        bag = np.zeros(a["emb"].shape[1], dtype=np.float32)
    x = np.concatenate([bag, np.asarray(dense, dtype=np.float32)])
    h = np.maximum(x @ a["w1"] + a["b1"], 0.0)
    logits = h @ a["wc"] + a["bc"]
    difficulty = 1.0 / (1.0 + math.exp(-float((h @ a["wd"] + a["bd"])[0])))
    temp = TEMPERATURE_SCALE / (1.0 + math.exp(-float((h @ a["wt"] + a["bt"])[0])))
    model_logits = h @ a["wm"] + a["bm"]
    return logits, difficulty, temp, model_logits


def encode(
    weights: RouterWeights, request: RouteRequest, history: Any = None
) -> tuple[list[int], list[float]]:
    recent, acceptance = history_vectors(
        getattr(history, "recent_categories", None),
        getattr(history, "acceptance_by_category", None),
    )
    ids = feature_ids(sparse_features(request.text), weights.index)
    dense = dense_features(
        request.text, request.kind, request.language, request.context, recent, acceptance
    )
    return ids, dense


def run(weights: RouterWeights, request: RouteRequest, history: Any = None) -> RawOutput:
    ids, dense = encode(weights, request, history)
    logits, difficulty, temp, model_logits = forward(weights, ids, dense)
    probs = _softmax(logits)
    trained = weights.meta.get("heads_trained", {})
    temperature = temp if trained.get("temperature", 0) > 0 else None
    model, model_prob = None, 0.0
    if trained.get("model", 0) > 0 and weights.models:
        mp = _softmax(model_logits)
        best = int(mp.argmax())
        model, model_prob = weights.models[best], float(mp[best])
    return RawOutput(probs, difficulty, temperature, model, model_prob)


class TrainedRouter:
    """The multi-head network's predictions for the policy (numpy, loaded once, lazily)."""

    def __init__(self, weights: RouterWeights, name: str):
        if list(weights.meta.get("categories", [])) != list(CATEGORIES):
            raise WeightsError(f"{name}: categories differ from this version's; retrain")
        if list(weights.meta.get("dense_names", [])) != list(DENSE_NAMES):
            raise WeightsError(f"{name}: feature layout differs from this version's; retrain")
        self.weights = weights
        self.name = name

    def predict(self, request: RouteRequest, history: Any = None) -> Prediction:
        out = run(self.weights, request, history)
        scores = {c: float(p) for c, p in zip(CATEGORIES, out.probs, strict=True)}
        best = max(scores, key=lambda c: scores[c])
        return Prediction(
            best,
            scores,
            out.difficulty,
            source=self.name,
            temperature=out.temperature,
            model=out.model if out.model_prob >= 0.5 else None,
        )
