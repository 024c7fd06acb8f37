"""Evaluation: accuracy, per-category precision/recall, confusion, calibration (ECE),
within-policy share against the product's policy table, latency; and held-out-by-source runs.

The policy table below is the product requirement (issue 3), deliberately independent of the
configurable defaults in config.py, so a config change cannot make the check pass by itself.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tsr_lsp.config import CATEGORIES, Settings
from tsr_lsp.router.data import Example
from tsr_lsp.router.decision import Decision, Prediction, RouteRequest
from tsr_lsp.router.policy import decide

# category -> (required model tag, cot range, temperature range); None = unbounded
REQUIRED_POLICY: dict[str, tuple[str, tuple[int, int | None], tuple[float, float]]] = {
    "code": ("code", (0, 3), (0.0, 0.3)),
    "math": ("code", (2, None), (0.0, 0.3)),  # code model, else general
    "reasoning": ("general", (1, None), (0.0, 0.5)),
    "writing": ("general", (0, 0), (0.7, 2.0)),
    "extraction": ("general", (0, 0), (0.0, 0.3)),
    "analysis": ("general", (0, 1), (0.0, 0.4)),
    "knowledge": ("general", (0, 1), (0.3, 0.7)),
    "chat": ("general", (0, 0), (0.5, 0.9)),
}

Predictor = Callable[[RouteRequest], Prediction]


def within_policy(decision: Decision, category: str, settings: Settings) -> bool:
    """Does this decision satisfy the policy row of the TRUE category?"""
    tag, (cot_lo, cot_hi), (t_lo, t_hi) = REQUIRED_POLICY[category]
    if category == "math" and not any("code" in p.tags for p in settings.models.values()):
        tag = "general"
    profile = settings.models.get(decision.model)
    if profile is None or tag not in profile.tags:
        return False
    if decision.cot_steps < cot_lo or (cot_hi is not None and decision.cot_steps > cot_hi):
        return False
    eps = 1e-9
    return t_lo - eps <= decision.temperature <= t_hi + eps


@dataclass
class EvalResult:
    n: int = 0
    accuracy: float = 0.0
    within_policy: float = 0.0
    ece: float = 0.0
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    reliability: list[tuple[float, float, int]] = field(default_factory=list)
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "within_policy": round(self.within_policy, 4),
            "ece": round(self.ece, 4),
            "latency_p50_ms": round(self.latency_p50_ms, 4),
            "latency_p99_ms": round(self.latency_p99_ms, 4),
            "per_category": self.per_category,
            "confusion": self.confusion,
            "per_source": self.per_source,
        }


def evaluate(
    predict: Predictor, examples: Sequence[Example], settings: Settings, bins: int = 10
) -> EvalResult:
    from tsr_lsp.bench.stats import percentile

    available = set(settings.models)
    res = EvalResult(n=len(examples))
    confusion: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    by_source: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    times: list[float] = []
    conf_bins: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    correct = ok_policy = 0
    for ex in examples:
        request = RouteRequest(ex.text, ex.kind, ex.language, ex.context)
        start = time.perf_counter()
        pred = predict(request)
        decision = decide(pred, request, settings, available)
        times.append((time.perf_counter() - start) * 1000)
        hit = pred.category == ex.category
        pol = within_policy(decision, ex.category, settings)
        correct += hit
        ok_policy += pol
        confusion[ex.category][pred.category] += 1
        by_source[ex.source or "-"].append((hit, pol))
        conf = pred.confidence
        conf_bins[min(bins - 1, int(conf * bins))].append((conf, hit))
        if not hit and len(res.mistakes) < 200:
            res.mistakes.append((ex.category, pred.category, ex.text[:120]))
    n = max(1, len(examples))
    res.accuracy = correct / n
    res.within_policy = ok_policy / n
    res.confusion = {c: {p: confusion[c][p] for p in CATEGORIES} for c in CATEGORIES}
    for cat in CATEGORIES:
        tp = confusion[cat][cat]
        predicted = sum(confusion[c][cat] for c in CATEGORIES)
        actual = sum(confusion[cat].values())
        prec = tp / predicted if predicted else 0.0
        rec = tp / actual if actual else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        res.per_category[cat] = {
            "precision": round(prec, 4),
            "recall": round(rec, 4),
            "f1": round(f1, 4),
            "support": actual,
        }
    ece = 0.0
    for items in conf_bins:
        if items:
            mean_conf = sum(c for c, _ in items) / len(items)
            acc = sum(h for _, h in items) / len(items)
            ece += len(items) / n * abs(mean_conf - acc)
            res.reliability.append((mean_conf, acc, len(items)))
    res.ece = ece
    for src, pairs in sorted(by_source.items()):
        res.per_source[src] = {
            "n": len(pairs),
            "accuracy": round(sum(h for h, _ in pairs) / len(pairs), 4),
            "within_policy": round(sum(p for _, p in pairs) / len(pairs), 4),
        }
    if times:
        res.latency_p50_ms = percentile(times, 50)
        res.latency_p99_ms = percentile(times, 99)
    return res


def format_report(res: EvalResult, title: str = "") -> str:
    lines = []
    if title:
        lines.append(title)
    lines.append(
        f"examples {res.n}  accuracy {res.accuracy:.3f}  within policy {res.within_policy:.3f}  "
        f"ECE {res.ece:.3f}  latency p50 {res.latency_p50_ms:.3f} ms  "
        f"p99 {res.latency_p99_ms:.3f} ms"
    )
    lines.append(f"{'category':<11} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for cat, m in res.per_category.items():
        lines.append(
            f"{cat:<11} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
            f"{int(m['support']):>8}"
        )
    short = [c[:5] for c in CATEGORIES]
    lines.append("confusion (rows = true, columns = predicted)")
    lines.append(" " * 11 + " ".join(f"{s:>5}" for s in short))
    for cat in CATEGORIES:
        row = res.confusion[cat]
        lines.append(f"{cat:<11}" + " ".join(f"{row[p]:>5}" for p in CATEGORIES))
    lines.append("calibration (confidence bin: mean confidence -> accuracy, count)")
    for conf, acc, count in res.reliability:
        lines.append(f"  {conf:.2f} -> {acc:.2f} ({count})")
    if len(res.per_source) > 1:
        lines.append("per source: accuracy / within policy (n)")
        for src, m in res.per_source.items():
            lines.append(
                f"  {src:<24} {m['accuracy']:.3f} / {m['within_policy']:.3f} ({int(m['n'])})"
            )
    return "\n".join(lines)


def plot(res: EvalResult, path: str) -> None:
    """Confusion matrix and reliability diagram side by side (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError(
            "--plot needs matplotlib: pip install 'tsr-lsp[plot]' (or matplotlib)"
        ) from None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    matrix = [[res.confusion[t][p] for p in CATEGORIES] for t in CATEGORIES]
    ax1.imshow(matrix, cmap="Blues")
    ax1.set_xticks(range(len(CATEGORIES)), CATEGORIES, rotation=45, ha="right")
    ax1.set_yticks(range(len(CATEGORIES)), CATEGORIES)
    ax1.set_xlabel("predicted")
    ax1.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v:
                ax1.text(j, i, str(v), ha="center", va="center", fontsize=8)
    ax1.set_title(f"accuracy {res.accuracy:.3f}, within policy {res.within_policy:.3f}")
    xs = [c for c, _, _ in res.reliability]
    ys = [a for _, a, _ in res.reliability]
    ax2.plot([0, 1], [0, 1], "--", color="grey")
    ax2.plot(xs, ys, "o-")
    ax2.set_xlabel("confidence")
    ax2.set_ylabel("accuracy")
    ax2.set_title(f"calibration, ECE {res.ece:.3f}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def leave_one_source_out(
    examples: Sequence[Example],
    settings: Settings,
    config: Any = None,
    sources: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """For each source: train from scratch on every OTHER source, evaluate on this one, and
    run the keyword rules on the same rows. Split by source, never by random rows."""
    from tsr_lsp.router.infer import TrainedRouter
    from tsr_lsp.router.rules import keyword_predict
    from tsr_lsp.router.train import train

    say = progress or (lambda _m: None)
    names = sorted({ex.source or "-" for ex in examples})
    out: dict[str, dict[str, float]] = {}
    for src in sources or names:
        held = [ex for ex in examples if (ex.source or "-") == src]
        rest = [ex for ex in examples if (ex.source or "-") != src]
        if not held or not rest:
            continue
        weights, _ = train(rest, config)
        router = TrainedRouter(weights, f"loso:{src}")
        res = evaluate(router.predict, held, settings)
        base = evaluate(keyword_predict, held, settings)
        out[src] = {
            "n": len(held),
            "accuracy": round(res.accuracy, 4),
            "within_policy": round(res.within_policy, 4),
            "rules_accuracy": round(base.accuracy, 4),
            "rules_within_policy": round(base.within_policy, 4),
        }
        say(
            f"{src:<24} n={len(held):>5}  trained {res.accuracy:.3f}/{res.within_policy:.3f}"
            f"  rules {base.accuracy:.3f}/{base.within_policy:.3f}\n"
        )
    return out
