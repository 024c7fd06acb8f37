"""Training: examples -> RouterWeights, reproducible with a seed (torch, single thread).

Recipe (docs/ROUTER.md): vocabulary of features seen in at least ``min_df`` examples (most
frequent first, capped); category-balanced sample weights in which every source's share of
its category grows only with the square root of its size (so no benchmark dominates a
category); feature dropout and random request kind / language / history on the dense side
(the router must not lean on any one of them); Adam; early stopping on a validation split.
Balanced training means a uniform category prior; the weights carry the prior real users
ask with (``category_prior``), applied by Bayes' rule at inference (infer.adjust_prior).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tsr_lsp.config import CATEGORIES, KINDS
from tsr_lsp.router.data import Example
from tsr_lsp.router.features import (
    DENSE_NAMES,
    DENSE_SIZE,
    bag_weights,
    dense_features,
    is_edge,
    sparse_features,
    text_tokens,
)
from tsr_lsp.router.infer import TEMPERATURE_SCALE, RouterWeights

Progress = Callable[[str], None]
CODE_KINDS = ("explain", "refactor", "fix", "tests")
FINE_TUNE_NEW_FEATURES = 5_000
# How often real users ask each category: the label totals of the external development
# suite (docs/ROUTER.md: 375 prompts of MT-Bench, Vicuna-80 and the WizardLM test set,
# labelled by the written rules); only these totals are used, never an item. Smoothed with
# PRIOR_SMOOTHING pseudo-counts per category so the rare ones (chat 2, analysis 3) stay
# reachable: a pasted text to summarise still routes as analysis.
REAL_USER_COUNTS = {
    "code": 61,
    "math": 36,
    "reasoning": 57,
    "writing": 67,
    "extraction": 7,
    "analysis": 3,
    "knowledge": 142,
    "chat": 2,
}
PRIOR_SMOOTHING = 20


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.01
    bag_dim: int = 12
    members: int = 3  # an ensemble of small networks: steadier on unseen wording
    hidden: int = 64
    min_df: int = 2
    max_vocab: int = 30_000
    val_fraction: float = 0.1
    patience: int = 3
    seed: int = 0
    feature_dropout: float = 0.4
    bag_dropout: float = 0.0  # share of rows trained without their n-grams (static + shape only)
    augment: bool = True
    balance: bool = True
    # share multiplier of the team's real-user-style sources (team_user*) inside a category:
    # benchmark wording dominates several categories, users type differently
    user_boost: float = 1.0
    # "real-users" (REAL_USER_COUNTS), "uniform" (none), or a JSON file {category: weight}
    prior: str = "real-users"


def category_prior(spec: str) -> dict[str, float] | None:
    """Per-category factors (mean 1) that the balanced network's probabilities are
    multiplied by at inference; None for "uniform". A file names relative weights (counts or
    shares) per category; categories it leaves out weigh 1 before normalising."""
    if spec == "uniform":
        return None
    if spec == "real-users":
        raw = {c: REAL_USER_COUNTS[c] + PRIOR_SMOOTHING for c in CATEGORIES}
    else:
        try:
            given = json.loads(Path(spec).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"category prior {spec}: cannot read it ({exc})") from None
        if not isinstance(given, dict) or set(given) - set(CATEGORIES):
            unknown = sorted(set(given) - set(CATEGORIES)) if isinstance(given, dict) else given
            raise ValueError(
                f"category prior {spec}: unknown categories {unknown}; "
                f"give {{category: weight}} for {', '.join(CATEGORIES)}"
            )
        raw = {c: given.get(c, 1.0) for c in CATEGORIES}
        if not all(isinstance(v, int | float) and v > 0 for v in raw.values()):
            raise ValueError(f"category prior {spec}: weights must be positive numbers")
    total = sum(raw.values())
    return {c: round(raw[c] * len(CATEGORIES) / total, 4) for c in CATEGORIES}


@dataclass
class Encoded:
    ids: list[np.ndarray]
    edge: list[np.ndarray]
    dense: np.ndarray
    cat: np.ndarray
    diff: np.ndarray
    diff_mask: np.ndarray
    temp: np.ndarray
    temp_mask: np.ndarray
    model: np.ndarray
    model_mask: np.ndarray
    weight: np.ndarray
    plain: np.ndarray  # rows whose kind/language were not given: safe to augment


@dataclass
class TrainReport:
    epochs_run: int = 0
    best_epoch: int = 0
    train_size: int = 0
    val_size: int = 0
    vocab_size: int = 0
    val_accuracy: list[float] = field(default_factory=list)  # index 0 = before training
    val_loss: list[float] = field(default_factory=list)
    val_accuracy_final: float = 0.0  # the whole ensemble, numpy path
    member_best_epochs: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- encoding


def build_vocab(
    examples: Sequence[Example], min_df: int, max_vocab: int, base: Sequence[str] = ()
) -> list[str]:
    """Base vocabulary first (rows keep their meaning), then new features by frequency: up
    to ``max_vocab`` from scratch, up to FINE_TUNE_NEW_FEATURES more when fine-tuning."""
    df: Counter[str] = Counter()
    for ex in examples:
        df.update(sparse_features(ex.text))
    known = set(base)
    fresh = [(n, f) for f, n in df.items() if n >= min_df and f not in known]
    fresh.sort(key=lambda item: (-item[0], item[1]))
    room = FINE_TUNE_NEW_FEATURES if base else max_vocab
    return [*base, *(f for _, f in fresh[:room])]


def encode(examples: Sequence[Example], vocab: Sequence[str], models: Sequence[str]) -> Encoded:
    index = {f: i for i, f in enumerate(vocab)}
    model_index = {m: i for i, m in enumerate(models)}
    n = len(examples)
    ids: list[np.ndarray] = []
    edges: list[np.ndarray] = []
    dense = np.zeros((n, DENSE_SIZE), dtype=np.float32)
    cat = np.zeros(n, dtype=np.int64)
    diff = np.zeros(n, dtype=np.float32)
    diff_mask = np.zeros(n, dtype=np.float32)
    temp = np.zeros(n, dtype=np.float32)
    temp_mask = np.zeros(n, dtype=np.float32)
    model = np.zeros(n, dtype=np.int64)
    model_mask = np.zeros(n, dtype=np.float32)
    weight = np.array([ex.weight for ex in examples], dtype=np.float32)
    plain = np.zeros(n, dtype=bool)
    for i, ex in enumerate(examples):
        toks = text_tokens(ex.text)
        feats = [f for f in sparse_features(ex.text, toks) if f in index]
        ids.append(np.array([index[f] for f in feats], dtype=np.int64))
        edges.append(np.array([is_edge(f) for f in feats], dtype=bool))
        dense[i] = dense_features(ex.text, ex.kind, ex.language, ex.context, toks=toks)
        cat[i] = CATEGORIES.index(ex.category)
        target = ex.difficulty_target()
        if target is not None:
            diff[i], diff_mask[i] = target, 1.0
        if ex.temperature is not None:
            temp[i] = min(0.98, max(0.02, ex.temperature / TEMPERATURE_SCALE))
            temp_mask[i] = 1.0
        if ex.model is not None and ex.model in model_index:
            model[i], model_mask[i] = model_index[ex.model], 1.0
        plain[i] = ex.kind == "chat" and not ex.language
    return Encoded(
        ids, edges, dense, cat, diff, diff_mask, temp, temp_mask, model, model_mask, weight, plain
    )


def balanced_weights(examples: Sequence[Example], user_boost: float = 1.0) -> np.ndarray:
    """Each category weighs the same in total; inside a category a source's share grows
    with the square root of its size (times ``user_boost`` for real-user-style sources)."""
    per: dict[tuple[str, str], int] = Counter((ex.category, ex.source) for ex in examples)

    def root(src: str, count: int) -> float:
        return math.sqrt(count) * (user_boost if src.startswith("team_user") else 1.0)

    share: dict[str, float] = defaultdict(float)
    for (cat, src), count in per.items():
        share[cat] += root(src, count)
    n, k = len(examples), max(1, len(share))
    out = np.zeros(n, dtype=np.float32)
    for i, ex in enumerate(examples):
        count = per[(ex.category, ex.source)]
        src_share = root(ex.source, count) / share[ex.category]
        out[i] = ex.weight * src_share / count * n / k
    return out


def split_validation(
    examples: Sequence[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Stratified by category, reproducible; every category with >= 2 rows gets one."""
    rng = random.Random(seed)
    by_cat: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        by_cat[ex.category].append(ex)
    train: list[Example] = []
    val: list[Example] = []
    for cat in CATEGORIES:
        rows = by_cat.get(cat, [])
        rng.shuffle(rows)
        k = round(len(rows) * fraction)
        if len(rows) >= 2:
            k = max(1, k)
        val.extend(rows[:k])
        train.extend(rows[k:])
    return train, val


# --------------------------------------------------------------------------- augmentation

_I = {name: i for i, name in enumerate(DENSE_NAMES)}
_KIND_SLOTS = [_I[f"kind_{k}"] for k in KINDS]
_RECENT = [_I[f"hist_recent_{c}"] for c in CATEGORIES]
_ACCEPT = [_I[f"hist_accept_{c}"] for c in CATEGORIES]


def _augment(dense: np.ndarray, cat: int, rng: np.random.Generator) -> None:
    """Random request kind, language group and history for one row (in place)."""
    is_code = CATEGORIES[cat] == "code"
    r = rng.random()
    dense[_KIND_SLOTS] = 0.0
    if is_code and r < 0.2:
        kind = CODE_KINDS[int(rng.integers(len(CODE_KINDS)))]
    elif r < 0.35:
        kind = "ask"
    else:
        kind = "chat"
    dense[_I[f"kind_{kind}"]] = 1.0
    r = rng.random()
    if r < (0.4 if is_code else 0.12):
        dense[_I["lang_code"]] = 1.0
    elif r < (0.5 if is_code else 0.22):
        dense[_I["lang_prose"]] = 1.0
    if rng.random() < 0.2:
        counts = rng.integers(0, 4, size=len(CATEGORIES)).astype(np.float32)
        if rng.random() < 0.5:
            counts[cat] += rng.integers(1, 6)
        total = counts.sum()
        if total > 0:
            dense[_I["hist_present"]] = 1.0
            dense[_RECENT] = counts / total
            dense[_ACCEPT] = np.where(
                rng.random(len(CATEGORIES)) < 0.5, rng.uniform(-0.4, 0.4, len(CATEGORIES)), 0.0
            )


# --------------------------------------------------------------------------- training


def _batch(
    enc: Encoded,
    rows: np.ndarray,
    rng: np.random.Generator | None,
    dropout: float,
    augment: bool,
    bag_dropout: float = 0.0,
) -> tuple[Any, ...]:
    import torch

    ids_list, offsets, scales = [], [], []
    pos = 0
    dense = enc.dense[rows].copy()
    for j, r in enumerate(rows):
        ids, edge = enc.ids[r], enc.edge[r]
        if rng is not None and dropout > 0 and len(ids) > 4:
            keep = rng.random(len(ids)) >= dropout
            ids, edge = ids[keep], edge[keep]
        if rng is not None and bag_dropout > 0 and rng.random() < bag_dropout:
            ids, edge = ids[:0], edge[:0]
        offsets.append(pos)
        ids_list.append(ids)
        scales.append(np.asarray(bag_weights(edge.tolist()), dtype=np.float32))
        pos += len(ids)
        if rng is not None and augment and enc.plain[r]:
            _augment(dense[j], int(enc.cat[r]), rng)
    flat = np.concatenate(ids_list) if pos else np.zeros(0, dtype=np.int64)
    scale = np.concatenate(scales).astype(np.float32) if pos else np.zeros(0, dtype=np.float32)
    return (
        torch.from_numpy(flat.astype(np.int64)),
        torch.tensor(offsets, dtype=torch.int64),
        torch.from_numpy(scale),
        torch.from_numpy(dense),
    )


def _losses(net: Any, enc: Encoded, rows: np.ndarray, weights: np.ndarray, batch: tuple) -> Any:
    import torch
    import torch.nn.functional as F

    logits, diff, temp, model = net(*batch)
    w = torch.from_numpy(weights[rows])
    cat = torch.from_numpy(enc.cat[rows])
    loss = (F.cross_entropy(logits, cat, reduction="none") * w).sum() / w.sum()
    dm = torch.from_numpy(enc.diff_mask[rows])
    if dm.sum() > 0:
        d = F.binary_cross_entropy_with_logits(
            diff, torch.from_numpy(enc.diff[rows]), reduction="none"
        )
        loss = loss + 1.0 * (d * dm).sum() / dm.sum()
    tm = torch.from_numpy(enc.temp_mask[rows])
    if tm.sum() > 0:
        t = F.binary_cross_entropy_with_logits(
            temp, torch.from_numpy(enc.temp[rows]), reduction="none"
        )
        loss = loss + 0.5 * (t * tm).sum() / tm.sum()
    mm = torch.from_numpy(enc.model_mask[rows])
    if mm.sum() > 0:
        m = F.cross_entropy(model, torch.from_numpy(enc.model[rows]), reduction="none")
        loss = loss + 0.5 * (m * mm).sum() / mm.sum()
    return loss, logits


def _evaluate(net: Any, enc: Encoded, weights: np.ndarray) -> tuple[float, float]:
    import torch

    net.eval()
    n = len(enc.ids)
    if n == 0:
        return 0.0, 0.0
    correct, total_loss, total_w = 0, 0.0, 0.0
    with torch.no_grad():
        for start in range(0, n, 512):
            rows = np.arange(start, min(n, start + 512))
            batch = _batch(enc, rows, None, 0.0, False)
            loss, logits = _losses(net, enc, rows, weights, batch)
            w = float(weights[rows].sum())
            total_loss += float(loss) * w
            total_w += w
            correct += int((logits.argmax(1).numpy() == enc.cat[rows]).sum())
    net.train()
    return correct / n, total_loss / max(total_w, 1e-9)


def _fit(
    net: Any,
    enc: Encoded,
    val: Encoded,
    w_train: np.ndarray,
    w_val: np.ndarray,
    cfg: TrainConfig,
    seed: int,
    say: Progress,
    label: str,
) -> TrainReport:
    """One member's training loop with early stopping; leaves the best epoch's weights."""
    import torch

    torch.manual_seed(seed)
    optim = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(seed)
    report = TrainReport()
    acc, loss = _evaluate(net, val, w_val)
    report.val_accuracy.append(round(acc, 4))
    report.val_loss.append(round(loss, 4))
    best_state = {k: v.clone() for k, v in net.state_dict().items()}
    has_val = len(val.ids) > 0
    best_loss, bad = loss if has_val else math.inf, 0
    n = len(enc.ids)
    batch_size = min(cfg.batch_size, max(16, n // 20))  # small sets: more updates/epoch
    steps = max(1, math.ceil(n / batch_size))
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(n)
        running = 0.0
        for step in range(steps):
            rows = order[step * batch_size : (step + 1) * batch_size]
            batch = _batch(enc, rows, rng, cfg.feature_dropout, cfg.augment, cfg.bag_dropout)
            optim.zero_grad()
            batch_loss, _ = _losses(net, enc, rows, w_train, batch)
            batch_loss.backward()
            optim.step()
            running += float(batch_loss.detach())
            if step % 20 == 0 or step == steps - 1:
                done = int(20 * (step + 1) / steps)
                say(
                    f"\r{label}epoch {epoch:>3}/{cfg.epochs} [{'#' * done}{'.' * (20 - done)}] "
                    f"loss {running / (step + 1):.4f}"
                )
        acc, loss = _evaluate(net, val, w_val)
        report.val_accuracy.append(round(acc, 4))
        report.val_loss.append(round(loss, 4))
        report.epochs_run = epoch
        say(f"  val loss {loss:.4f} acc {acc:.3f}\n")
        if not has_val or loss < best_loss - 1e-4:
            best_loss, bad, report.best_epoch = loss, 0, epoch
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
            if bad >= cfg.patience:
                say(f"{label}early stop: no validation improvement for {cfg.patience} epochs\n")
                break
    net.load_state_dict(best_state)
    net.eval()
    return report


def calibrate_difficulty(weights: RouterWeights, rows: Sequence[Example]) -> dict[str, list[float]]:
    """Per category, a linear map from the difficulty head's output to the labels' scale
    (mean and spread matched on the training rows). The head shrinks towards the mean (a
    hard request came out at 0.44 where its label said 0.7); the map stretches it back so CoT
    follows the label rules. Categories with fewer than 20 labelled rows, a flat head or a
    weak correlation (<= 0.2) keep the identity."""
    from tsr_lsp.router.decision import RouteRequest
    from tsr_lsp.router.infer import run

    pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ex in rows:
        target = ex.difficulty_target()
        if target is not None:
            out = run(weights, RouteRequest(ex.text, ex.kind, ex.language, ex.context))
            pairs[ex.category].append((out.difficulty, target))
    table: dict[str, list[float]] = {}
    for cat, items in sorted(pairs.items()):
        x = np.array([p for p, _ in items], dtype=np.float64)
        y = np.array([t for _, t in items], dtype=np.float64)
        if len(items) < 20 or float(x.std()) < 1e-3:
            continue
        if float(y.std()) < 1e-3 or not float(np.corrcoef(x, y)[0, 1]) > 0.2:
            continue
        a = float(y.std() / x.std())  # match the labels' spread (least squares would shrink)
        table[cat] = [round(a, 6), round(float(y.mean() - a * x.mean()), 6)]
    return table


def train(
    examples: Sequence[Example],
    config: TrainConfig | None = None,
    base: RouterWeights | None = None,
    val_examples: Sequence[Example] | None = None,
    progress: Progress | None = None,
    meta: dict[str, Any] | None = None,
) -> tuple[RouterWeights, TrainReport]:
    """Train (or fine-tune ``base``) an ensemble; every member keeps its best epoch by
    validation loss. The report's curve is the first member's; ``val_accuracy_final`` is the
    whole ensemble's, measured with the numpy inference path."""
    import torch

    from tsr_lsp.router.infer import TrainedRouter
    from tsr_lsp.router.model import RouterNet, from_weights, to_weights

    cfg = config or TrainConfig()
    prior = category_prior(cfg.prior)  # a bad file fails before minutes of training
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible reductions; the machine is shared anyway
    try:
        if val_examples is None:
            train_rows, val_rows = split_validation(examples, cfg.val_fraction, cfg.seed)
        else:
            train_rows, val_rows = list(examples), list(val_examples)
        if not train_rows:
            raise ValueError("no training rows left after the validation split; add examples")
        base_models = base.models if base else []
        models = sorted(set(base_models) | {ex.model for ex in train_rows if ex.model}, key=str)
        models = [*base_models, *(m for m in models if m not in base_models)]
        say(f"building features for {len(train_rows)} training rows ...\n")
        vocab = build_vocab(train_rows, cfg.min_df, cfg.max_vocab, base.vocab if base else ())
        enc = encode(train_rows, vocab, models)
        val = encode(val_rows, vocab, models)
        boost = cfg.user_boost
        w_train = (
            balanced_weights(train_rows, boost) if cfg.balance else enc.weight.astype(np.float32)
        )
        w_val = balanced_weights(val_rows, boost) if cfg.balance and val_rows else val.weight
        if base is not None:
            nets = from_weights(base, len(vocab), models)
        else:
            nets = []
            for k in range(cfg.members):
                torch.manual_seed(cfg.seed + 1000 * k)
                nets.append(RouterNet(len(vocab), cfg.bag_dim, cfg.hidden, max(1, len(models))))
        reports = []
        for k, net in enumerate(nets):
            label = f"member {k + 1}/{len(nets)} " if len(nets) > 1 else ""
            reports.append(
                _fit(net, enc, val, w_train, w_val, cfg, cfg.seed + 1000 * k, say, label)
            )
    finally:
        torch.set_num_threads(threads)
    report = reports[0]
    report.train_size, report.val_size, report.vocab_size = (
        len(train_rows),
        len(val_rows),
        len(vocab),
    )
    report.member_best_epochs = [r.best_epoch for r in reports]
    base_heads = (base.meta if base else {}).get("heads_trained", {})
    heads = {
        "temperature": int(enc.temp_mask.sum()) + int(base_heads.get("temperature", 0)),
        "model": int(enc.model_mask.sum()) + int(base_heads.get("model", 0)),
        "difficulty": int(enc.diff_mask.sum()),
    }
    full_meta = {
        **(meta or {}),
        "categories": list(CATEGORIES),
        "dense_names": list(DENSE_NAMES),
        "models": models,
        "heads_trained": heads,
        "config": asdict(cfg),
        "train_rows": len(train_rows),
        "sources": dict(sorted(Counter(ex.source or "-" for ex in train_rows).items())),
        "best_epochs": report.member_best_epochs,
        "base": (base.meta.get("name", "base") if base else "scratch"),
        "category_prior": prior,
    }
    weights = to_weights(nets, vocab, full_meta)
    weights.meta["difficulty_calibration"] = calibrate_difficulty(weights, train_rows)
    if val_rows:
        from tsr_lsp.router.decision import RouteRequest

        router = TrainedRouter(weights, "validation")
        hits = sum(
            router.predict(RouteRequest(ex.text, ex.kind, ex.language, ex.context)).category
            == ex.category
            for ex in val_rows
        )
        report.val_accuracy_final = round(hits / len(val_rows), 4)
    report.seconds = round(time.perf_counter() - started, 2)
    return weights, report
