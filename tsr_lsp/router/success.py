"""Routing learned from outcomes: which profile succeeds on requests like this one?

Evidence is graded answers: every calibration task of the answer suite (docs/ANSWERS.md) run
with each profile forced (`tsr-lsp router calibrate`), plus feedback rows turned into
outcomes. The predictor is the router's model head in the form that can learn a new model
from a few dozen tasks without retraining the network: for a request, the calibrated tasks
most similar to it (cosine of the router's meaning features; the predicted category
counts double) vote,
weighted by similarity, with each profile's success shrunk towards that profile's success
over the whole category. Adding a model = adding its outcomes; the estimate is ready at once.

The policy then picks the **cheapest** profile whose predicted success is at least
``router.quality`` x the best profile's (1.0: always the best; 0.9: accept 10% less for a
cheaper model) and names the evidence: "coder predicted 0.71 vs general 0.42 on 24 similar
calibrated tasks". Outcomes are tied to a profile's model fingerprint (file hash or name,
or endpoint + model), so results of a model a profile no longer points at are ignored.

Pure apart from ``load_outcomes`` (reads JSONL); numpy only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

NEIGHBOURS = 24  # calibrated tasks that vote
PRIOR_WEIGHT = 3.0  # pseudo-tasks at the profile's category-wide success
OTHER_CATEGORY = 0.5  # weight factor of a task from another category
MIN_EVIDENCE = 4  # a profile needs this many graded similar tasks to be predicted


@dataclass(frozen=True)
class Outcome:
    """One graded answer: ``profile`` (with its model ``fingerprint``) scored ``score`` on a
    task of ``category``; ``text`` is the task's prompt (what the features are taken from)."""

    task: str
    category: str
    profile: str
    score: float
    text: str
    fingerprint: str = ""
    latency_ms: float = 0.0
    weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "category": self.category,
            "profile": self.profile,
            "fingerprint": self.fingerprint,
            "score": round(self.score, 4),
            "latency_ms": round(self.latency_ms, 1),
            "text": self.text,
            **({"weight": self.weight} if self.weight != 1.0 else {}),
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Outcome:
        score = float(row["score"])
        if not 0.0 <= score <= 1.0 or not isinstance(row["text"], str):
            raise ValueError("score must be within 0..1 and text a string")
        return cls(
            str(row["task"]),
            str(row["category"]),
            str(row["profile"]),
            score,
            row["text"],
            str(row.get("fingerprint", "")),
            float(row.get("latency_ms", 0.0)),
            float(row.get("weight", 1.0)),
        )


@dataclass(frozen=True)
class Estimate:
    profile: str
    success: float  # predicted share of requests like this one the profile gets right
    tasks: int  # graded similar tasks behind the estimate


def fingerprint(profile: Any) -> str:
    """What identifies the model behind a profile: its file's sha256 (or file name), or the
    endpoint and model name. Outcomes of another model do not count for this profile."""
    if getattr(profile, "sha256", ""):
        return "sha256:" + profile.sha256[:16]
    if getattr(profile, "path", ""):
        return "file:" + Path(profile.path).name
    url = getattr(profile, "url", "")
    name = getattr(profile, "model", "")
    if url or name:
        return "url:" + hashlib.sha256(f"{url}|{name}".encode()).hexdigest()[:16]
    return "backend:" + str(getattr(profile, "backend", ""))


class SuccessTable:
    """Graded outcomes indexed by task, ready to predict (built once, read-only after)."""

    def __init__(self, outcomes: Iterable[Outcome], vectorise: Callable[[str], Sequence[float]]):
        by_task: dict[str, dict[str, Any]] = {}
        for o in outcomes:
            slot = by_task.setdefault(
                o.task, {"category": o.category, "text": o.text, "scores": {}}
            )
            # several runs of one profile on one task (e.g. feedback): weighted mean
            s, w = slot["scores"].get((o.profile, o.fingerprint), (0.0, 0.0))
            slot["scores"][(o.profile, o.fingerprint)] = (s + o.score * o.weight, w + o.weight)
        self.tasks = sorted(by_task)
        self.categories = [by_task[t]["category"] for t in self.tasks]
        keys = sorted({k for t in by_task.values() for k in t["scores"]})
        self.keys = keys
        n = len(self.tasks)
        self.scores = np.full((len(keys), n), np.nan, dtype=np.float32)
        index = {k: i for i, k in enumerate(keys)}
        for j, t in enumerate(self.tasks):
            for k, (s, w) in by_task[t]["scores"].items():
                self.scores[index[k], j] = s / w
        dims = [np.asarray(vectorise(by_task[t]["text"]), dtype=np.float32) for t in self.tasks]
        vecs = np.stack(dims) if dims else np.zeros((0, 1), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        self.vecs = vecs / np.maximum(norms, 1e-9)
        # precomputed so a prediction is a handful of vector operations (routing budget ~1 ms)
        names = sorted(set(self.categories))
        self._cat_code = {c: i for i, c in enumerate(names)}
        self._cats = np.array([self._cat_code[c] for c in self.categories], dtype=np.int32)
        self._key_index = {k: i for i, k in enumerate(keys)}
        self._graded = ~np.isnan(self.scores)
        self._filled = np.nan_to_num(self.scores)
        self._prior: dict[tuple[int, int], float] = {}
        for ki in range(len(keys)):
            row = self.scores[ki]
            overall = float(np.nanmean(row)) if self._graded[ki].any() else 0.5
            for ci in range(len(names)):
                part = row[self._cats == ci]
                graded = part[~np.isnan(part)]
                self._prior[(ki, ci)] = float(graded.mean()) if len(graded) else overall

    def __len__(self) -> int:
        return len(self.tasks)

    def profiles(self) -> set[tuple[str, str]]:
        return set(self.keys)

    def predict(
        self,
        vec: Sequence[float],
        category: str,
        profiles: dict[str, str],
        exclude: int | None = None,
    ) -> dict[str, Estimate]:
        """Predicted success of each profile (name -> fingerprint) that has evidence;
        ``exclude`` leaves one calibrated task out (to measure the predictor on it)."""
        rows = [
            (n, self._key_index[(n, fp)])
            for n, fp in profiles.items()
            if (n, fp) in self._key_index
        ]
        if not self.tasks or not rows:
            return {}
        q = np.asarray(vec, dtype=np.float32)
        if q.shape[0] != self.vecs.shape[1]:
            return {}
        q = q / max(float(np.linalg.norm(q)), 1e-9)
        code = self._cat_code.get(category, -1)
        same = self._cats == code
        # similarity decides; the predicted category only tilts it (a misjudged category
        # must not hide the calibrated tasks the request really resembles)
        weight = np.maximum(self.vecs @ q, 0.0) ** 2 + 1e-3
        weight[~same] *= OTHER_CATEGORY
        if exclude is not None:
            weight[exclude] = 0.0
        order = np.argsort(-weight, kind="stable")[:NEIGHBOURS]
        w_top = weight[order]
        out: dict[str, Estimate] = {}
        for name, ki in rows:
            graded = self._graded[ki, order]
            count = int(graded.sum())
            if count < MIN_EVIDENCE:
                continue
            w = w_top * graded
            prior = self._prior.get((ki, code), 0.5) if code >= 0 else 0.5
            mean_w = float(w.sum()) / count
            value = (float(w @ self._filled[ki, order]) + PRIOR_WEIGHT * prior * mean_w) / (
                float(w.sum()) + PRIOR_WEIGHT * mean_w
            )
            out[name] = Estimate(name, value, count)
        return out


def choose(
    estimates: dict[str, Estimate], costs: dict[str, float], quality: float
) -> tuple[str, str] | None:
    """(profile, explanation): the cheapest profile predicted within ``quality`` x the best
    one's success; None when fewer than two profiles have evidence (nothing to compare)."""
    if len(estimates) < 2:
        return None
    ranked = sorted(estimates.values(), key=lambda e: (-e.success, costs.get(e.profile, 1.0)))
    best = ranked[0]
    bar = min(1.0, max(0.0, quality)) * best.success
    eligible = [e for e in ranked if e.success >= bar - 1e-9]
    pick = min(eligible, key=lambda e: (costs.get(e.profile, 1.0), -e.success, e.profile))
    other = best if pick.profile != best.profile else ranked[1]
    tasks = min(pick.tasks, other.tasks)
    note = (
        f"{pick.profile} predicted {pick.success:.2f} vs {other.profile} {other.success:.2f} "
        f"on {tasks} similar calibrated tasks"
    )
    if pick.profile != best.profile:
        note += f" (cheaper, within quality {quality:g})"
    return pick.profile, note


@dataclass(frozen=True)
class Tradeoff:
    quality: float  # the router.quality setting
    kept: float  # routed mean score / the best single profile's mean score
    latency: float  # routed mean latency / that profile's mean latency
    shares: dict[str, float]  # share of tasks sent to each profile


def tradeoff(
    table: SuccessTable,
    profiles: dict[str, str],
    costs: dict[str, float],
    qualities: Sequence[float],
    latency: dict[tuple[str, str], float],
) -> list[Tradeoff]:
    """What each router.quality setting would give on the calibrated tasks, each task routed
    by a prediction that leaves it out: the share of the best single profile's quality kept
    and of its latency paid (the trade-off RouteLLM reports). ``latency`` maps (task,
    profile) to the measured milliseconds."""
    keys = {
        n: table._key_index[(n, fp)] for n, fp in profiles.items() if (n, fp) in table._key_index
    }
    tasks = [
        j for j in range(len(table.tasks)) if all(table._graded[ki, j] for ki in keys.values())
    ]
    if len(keys) < 2 or not tasks:
        return []
    means = {n: float(np.mean(table.scores[ki, tasks])) for n, ki in keys.items()}
    best = max(means, key=lambda n: (means[n], -costs.get(n, 1.0)))
    base_latency = float(np.mean([latency.get((table.tasks[j], best), 0.0) for j in tasks]))
    ests = [table.predict(table.vecs[j], table.categories[j], profiles, exclude=j) for j in tasks]
    out: list[Tradeoff] = []
    for q in qualities:
        score = lat = 0.0
        sent: dict[str, int] = {}
        for j, est in zip(tasks, ests, strict=True):
            est = {n: e for n, e in est.items() if n in keys}
            pick = choose(est, costs, q)
            name = pick[0] if pick else best
            sent[name] = sent.get(name, 0) + 1
            score += float(table.scores[keys[name], j])
            lat += latency.get((table.tasks[j], name), 0.0)
        n = len(tasks)
        out.append(
            Tradeoff(
                q,
                (score / n) / max(means[best], 1e-9),
                (lat / n) / max(base_latency, 1e-9),
                {k: v / n for k, v in sorted(sent.items())},
            )
        )
    return out


def load_outcomes(paths: Iterable[Path]) -> list[Outcome]:
    """Outcomes from JSONL files (calibration results); bad lines are skipped with a
    warning, a missing file is no evidence."""
    out: list[Outcome] = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        bad = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                out.append(Outcome.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                bad += 1
        if bad:
            log.warning("%s: %d unreadable outcome lines skipped", path, bad)
    return out


def meaning_vector(text: str) -> list[float]:
    """The router's meaning features of a text (static word vectors, numpy only)."""
    from tsr_lsp.router import static
    from tsr_lsp.router.features import text_tokens

    return static.features(text_tokens(text))


SHIPPED = Path(__file__).parent / "pretrained" / "outcomes.jsonl"


def user_outcomes_path() -> Path:
    """Where `tsr-lsp router calibrate` appends its results."""
    from tsr_lsp import paths

    return paths.data_dir() / "router" / "outcomes.jsonl"


def outcome_files(setting: str) -> list[Path]:
    """router.outcomes: "" = shipped calibration + the user's calibrate results, "off" =
    none, a path = shipped + that file."""
    if setting == "off":
        return []
    extra = user_outcomes_path() if setting == "" else Path(setting).expanduser()
    return [SHIPPED, extra]


class OutcomeCache:
    """The SuccessTable for a router.outcomes setting, rebuilt when a file changes (a daemon
    picks up `router calibrate` results on the next request, no restart)."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[tuple[tuple[str, float, int], ...], SuccessTable]] = {}

    def table(
        self, setting: str, extra: Sequence[Outcome] = (), extra_key: str = ""
    ) -> SuccessTable | None:
        """``extra``: outcomes from elsewhere (user feedback), identified by ``extra_key``."""
        files = outcome_files(setting)
        stamp = []
        for p in files:
            try:
                st = p.stat()
                stamp.append((str(p), st.st_mtime, st.st_size))
            except OSError:
                continue
        if not stamp and not extra:
            return None
        key = (*stamp, ("extra", 0.0, hash(extra_key)))
        cached = self._tables.get(setting)
        if cached is None or cached[0] != key:
            table = SuccessTable([*load_outcomes(files), *extra], meaning_vector)
            self._tables[setting] = (key, table)
            return table
        return cached[1]


FEEDBACK_SCORE = {"accepted": 1.0, "edited": 0.5, "rejected": 0.0}


def feedback_outcomes(examples: Iterable[Any], fingerprints: dict[str, str]) -> list[Outcome]:
    """User feedback as graded outcomes of the profile that answered (accepted 1, edited
    0.5, rejected 0): the request itself becomes a calibrated task. Feedback on profiles
    no longer configured is left out."""
    out: list[Outcome] = []
    for ex in examples:
        score = FEEDBACK_SCORE.get(getattr(ex, "outcome", ""))
        model = getattr(ex, "model", "")
        text = getattr(ex, "text", "")
        if score is None or model not in fingerprints or not text.strip():
            continue
        task = "feedback:" + hashlib.sha256(text.encode()).hexdigest()[:16]
        out.append(Outcome(task, ex.category, model, score, text, fingerprints[model]))
    return out
