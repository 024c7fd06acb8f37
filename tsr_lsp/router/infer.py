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
from tsr_lsp.router import static
from tsr_lsp.router.decision import Prediction, RouteRequest
from tsr_lsp.router.features import (
    DENSE_NAMES,
    bag_weights,
    dense_features,
    feature_ids,
    history_vectors,
    sparse_features,
    text_tokens,
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

    @property
    def members(self) -> int:
        return int(self.arrays["emb"].shape[0])

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
    meaning: list[float] = field(default_factory=list)


def _softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    out: np.ndarray = z / z.sum(axis=-1, keepdims=True)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def _fused(weights: RouterWeights) -> tuple[np.ndarray, np.ndarray]:
    """All four heads as one matrix per member (computed once per weights object)."""
    cached = weights.__dict__.get("_heads")
    if cached is None:
        a = weights.arrays
        w = np.concatenate([a["wc"], a["wd"], a["wt"], a["wm"]], axis=2)
        b = np.concatenate([a["bc"], a["bd"], a["bt"], a["bm"]], axis=1)[:, None, :]
        cached = (np.ascontiguousarray(w), np.ascontiguousarray(b))
        weights.__dict__["_heads"] = cached
    return cached


def forward(
    weights: RouterWeights, ids: list[int], edge: list[bool], dense: list[float]
) -> tuple[np.ndarray, float, float, np.ndarray]:
    """model.RouterNet in numpy for every ensemble member at once (leading axis M), averaged:
    (category probabilities, difficulty, temperature, model probabilities)."""
    a = weights.arrays
    emb = a["emb"]  # (M, V, H)
    members, _, bag_dim = emb.shape
    if ids:
        scale = np.asarray(bag_weights(edge), dtype=np.float32)
        bag = np.matmul(scale, emb[:, ids])  # (M, H)
    else:
        bag = np.zeros((members, bag_dim), dtype=np.float32)
    d = np.asarray(dense, dtype=np.float32)
    x = np.concatenate([bag, np.broadcast_to(d, (members, d.shape[0]))], axis=1)[:, None, :]
    h = np.maximum(np.matmul(x, a["w1"]) + a["b1"][:, None, :], 0.0)  # (M, 1, K)
    w_heads, b_heads = _fused(weights)
    out = (np.matmul(h, w_heads) + b_heads)[:, 0, :]  # (M, 8 + 1 + 1 + models)
    n = len(CATEGORIES)
    probs = _softmax(out[:, :n]).mean(axis=0)
    difficulty = float(_sigmoid(out[:, n]).mean())
    temp = float(_sigmoid(out[:, n + 1]).mean())
    model_probs = _softmax(out[:, n + 2 :]).mean(axis=0)
    return probs, difficulty, temp * TEMPERATURE_SCALE, model_probs


def encode(
    weights: RouterWeights, request: RouteRequest, history: Any = None
) -> tuple[list[int], list[bool], list[float]]:
    recent, acceptance = history_vectors(
        getattr(history, "recent_categories", None),
        getattr(history, "acceptance_by_category", None),
    )
    toks = text_tokens(request.text)  # once: sparse and static features share them
    ids, edge = feature_ids(sparse_features(request.text, toks), weights.index)
    dense = dense_features(
        request.text, request.kind, request.language, request.context, recent, acceptance, toks
    )
    return ids, edge, dense


def run(weights: RouterWeights, request: RouteRequest, history: Any = None) -> RawOutput:
    ids, edge, dense = encode(weights, request, history)
    probs, difficulty, temp, model_probs = forward(weights, ids, edge, dense)
    meaning = dense[-len(static.FEATURE_NAMES) :]
    trained = weights.meta.get("heads_trained", {})
    temperature = temp if trained.get("temperature", 0) > 0 else None
    model, model_prob = None, 0.0
    if trained.get("model", 0) > 0 and weights.models:
        best = int(model_probs.argmax())
        model, model_prob = weights.models[best], float(model_probs[best])
    return RawOutput(probs, difficulty, temperature, model, model_prob, meaning)


def prior_vector(prior: dict[str, float] | None) -> np.ndarray | None:
    """The weights' ``category_prior`` as factors in CATEGORIES order (None: uniform)."""
    if not prior:
        return None
    return np.asarray([float(prior.get(c, 1.0)) for c in CATEGORIES], dtype=np.float32)


def adjust_prior(probs: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    """Bayes' rule for another class prior: the network learns on category-balanced weights
    (a uniform prior), real users ask some categories far more often than others."""
    if prior is None:
        return probs
    out: np.ndarray = probs * prior
    return out / out.sum()


class TrainedRouter:
    """The multi-head network's predictions for the policy (numpy, loaded once, lazily)."""

    def __init__(self, weights: RouterWeights, name: str):
        if list(weights.meta.get("categories", [])) != list(CATEGORIES):
            raise WeightsError(f"{name}: categories differ from this version's; retrain")
        if list(weights.meta.get("dense_names", [])) != list(DENSE_NAMES):
            raise WeightsError(f"{name}: feature layout differs from this version's; retrain")
        self.weights = weights
        self.name = name
        self.prior = prior_vector(weights.meta.get("category_prior"))

    def predict(self, request: RouteRequest, history: Any = None) -> Prediction:
        out = run(self.weights, request, history)
        probs = adjust_prior(out.probs, self.prior)
        scores = {c: float(p) for c, p in zip(CATEGORIES, probs, strict=True)}
        best = max(scores, key=lambda c: scores[c])
        a, b = self.weights.meta.get("difficulty_calibration", {}).get(best, (1.0, 0.0))
        return Prediction(
            best,
            scores,
            min(1.0, max(0.0, a * out.difficulty + b)),
            source=self.name,
            temperature=out.temperature,
            model=out.model if out.model_prob >= 0.5 else None,
            meaning=out.meaning,
        )
