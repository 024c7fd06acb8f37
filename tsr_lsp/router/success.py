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
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

NEIGHBOURS = 24  # calibrated tasks that vote
PRIOR_WEIGHT = 3.0  # pseudo-tasks at the profile's category-wide success
OTHER_CATEGORY = 0.5  # weight factor of a task from another category
MIN_EVIDENCE = 4  # a configuration needs this many graded similar tasks to be predicted
# what a prompt token costs next to a generated one: on CPU prompt evaluation is batched
# (measured on the default models: 10-15 ms a prompt token vs 30-60 ms a generated one)
PROMPT_WEIGHT = 0.25
AUTO = -1  # the CoT depth the policy table picks (by difficulty), as a table key


@dataclass(frozen=True)
class Outcome:
    """One graded answer: ``profile`` (with its model ``fingerprint``) scored ``score`` on a
    task of ``category``; ``text`` is the task's prompt (what the features are taken from).
    ``cot`` is the reasoning depth the answer was forced to (None: the policy table chose
    it), so a profile's configurations are told apart; tokens say what the answer cost."""

    task: str
    category: str
    profile: str
    score: float
    text: str
    fingerprint: str = ""
    latency_ms: float = 0.0
    weight: float = 1.0
    cot: int | None = None
    completion_tokens: int = 0
    prompt_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "category": self.category,
            "profile": self.profile,
            "fingerprint": self.fingerprint,
            "score": round(self.score, 4),
            "latency_ms": round(self.latency_ms, 1),
            **({"cot": self.cot} if self.cot is not None else {}),
            **({"completion_tokens": self.completion_tokens} if self.completion_tokens else {}),
            **({"prompt_tokens": self.prompt_tokens} if self.prompt_tokens else {}),
            "text": self.text,
            **({"weight": self.weight} if self.weight != 1.0 else {}),
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Outcome:
        score = float(row["score"])
        if not 0.0 <= score <= 1.0 or not isinstance(row["text"], str):
            raise ValueError("score must be within 0..1 and text a string")
        cot = row.get("cot")
        if cot is not None and (not isinstance(cot, int) or cot < 0):
            raise ValueError("cot must be a non-negative integer")
        return cls(
            str(row["task"]),
            str(row["category"]),
            str(row["profile"]),
            score,
            row["text"],
            str(row.get("fingerprint", "")),
            float(row.get("latency_ms", 0.0)),
            float(row.get("weight", 1.0)),
            cot,
            int(row.get("completion_tokens", 0)),
            int(row.get("prompt_tokens", 0)),
        )

    @property
    def work(self) -> float:
        """Tokens the answer cost, a prompt token weighted PROMPT_WEIGHT; 0 when unknown."""
        if self.completion_tokens <= 0 and self.prompt_tokens <= 0:
            return 0.0
        return self.completion_tokens + PROMPT_WEIGHT * self.prompt_tokens


def label(profile: str, cot: int | None) -> str:
    """A configuration's name: the profile at the policy table's CoT, or at a fixed one."""
    return profile if cot is None else f"{profile} CoT {cot}"


@dataclass(frozen=True)
class Estimate:
    profile: str
    success: float  # predicted share of requests like this one the configuration gets right
    tasks: int  # graded similar tasks behind the estimate
    cot: int | None = None  # the configuration's CoT depth (None: the policy table's)
    tokens: float | None = None  # predicted completion tokens (None: not recorded)
    work: float | None = None  # predicted token cost, prompt included (see PROMPT_WEIGHT)

    @property
    def label(self) -> str:
        return label(self.profile, self.cot)


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


Key = tuple[str, str, int]  # (profile, fingerprint, cot or AUTO)


class SuccessTable:
    """Graded outcomes indexed by task and configuration (profile, model, CoT depth), ready
    to predict (built once, read-only after)."""

    def __init__(self, outcomes: Iterable[Outcome], vectorise: Callable[[str], Sequence[float]]):
        by_task: dict[str, dict[str, Any]] = {}
        for o in outcomes:
            slot = by_task.setdefault(o.task, {"category": o.category, "text": o.text, "runs": {}})
            # several runs of one configuration on one task (e.g. feedback): weighted means
            key = (o.profile, o.fingerprint, AUTO if o.cot is None else o.cot)
            run = slot["runs"].setdefault(key, [0.0] * 7)
            run[0] += o.score * o.weight
            run[1] += o.weight
            if o.latency_ms > 0:
                run[2] += o.latency_ms
                run[3] += 1
            if o.work > 0:
                run[4] += o.work
                run[5] += o.completion_tokens
                run[6] += 1
        self.tasks = sorted(by_task)
        self.categories = [by_task[t]["category"] for t in self.tasks]
        keys: list[Key] = sorted({k for t in by_task.values() for k in t["runs"]})
        self.keys = keys
        n = len(self.tasks)
        shape = (len(keys), n)
        self.scores = np.full(shape, np.nan, dtype=np.float32)
        self.latency = np.full(shape, np.nan, dtype=np.float32)
        self.work = np.full(shape, np.nan, dtype=np.float32)
        self.tokens = np.full(shape, np.nan, dtype=np.float32)
        index = {k: i for i, k in enumerate(keys)}
        for j, t in enumerate(self.tasks):
            for k, (s, w, lat, nl, work, tok, nw) in by_task[t]["runs"].items():
                i = index[k]
                self.scores[i, j] = s / w
                if nl:
                    self.latency[i, j] = lat / nl
                if nw:
                    self.work[i, j] = work / nw
                    self.tokens[i, j] = tok / nw
        dims = [np.asarray(vectorise(by_task[t]["text"]), dtype=np.float32) for t in self.tasks]
        vecs = np.stack(dims) if dims else np.zeros((0, 1), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        self.vecs = vecs / np.maximum(norms, 1e-9)
        # precomputed so a prediction is a handful of vector operations (routing budget ~1 ms)
        names = sorted(set(self.categories))
        self._cat_code = {c: i for i, c in enumerate(names)}
        self._cats = np.array([self._cat_code[c] for c in self.categories], dtype=np.int32)
        self._key_index = index
        self._graded = ~np.isnan(self.scores)
        self._filled = np.nan_to_num(self.scores)
        self._has_work = ~np.isnan(self.work)
        self._slice_cache: dict[tuple[int, ...], tuple[Any, ...]] = {}
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
        return {(p, fp) for p, fp, _ in self.keys}

    def configs(self, profiles: dict[str, str]) -> list[tuple[str, int, int]]:
        """(profile, cot or AUTO, row index) of every calibrated configuration of these
        profiles (name -> fingerprint)."""
        return [(p, cot, i) for i, (p, fp, cot) in enumerate(self.keys) if profiles.get(p) == fp]

    def _slices(self, rows: list[tuple[str, int, int]]) -> tuple[Any, ...]:
        """The matrices of these configurations' rows (cached: a daemon asks for the same
        profiles on every request)."""
        kis = tuple(ki for _, _, ki in rows)
        cached = self._slice_cache.get(kis)
        if cached is None:
            idx = np.array(kis)
            cached = (
                self._graded[idx],
                self._filled[idx],
                self._has_work[idx],
                np.nan_to_num(self.work[idx]),
                np.nan_to_num(self.tokens[idx]),
                kis,
            )
            self._slice_cache[kis] = cached
        return cached

    def predict(
        self,
        vec: Sequence[float],
        category: str,
        profiles: dict[str, str],
        exclude: int | None = None,
    ) -> dict[str, Estimate]:
        """Predicted success (and token cost) of each configuration of these profiles (name
        -> fingerprint) that has evidence, by label ("coder", "coder CoT 0"); ``exclude``
        leaves one calibrated task out (to measure the predictor on it)."""
        rows = self.configs(profiles)
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
        # every configuration at once (a handful of matrix products, not a loop per key)
        graded_all, filled, has_work, work_all, tokens_all, kis = self._slices(rows)
        graded = graded_all[:, order]
        counts = graded.sum(axis=1)
        w = graded * w_top  # (configs, neighbours)
        w_sum = w.sum(axis=1)
        mean_w = w_sum / np.maximum(counts, 1)
        priors = np.array([self._prior.get((ki, code), 0.5) if code >= 0 else 0.5 for ki in kis])
        scored = (w * filled[:, order]).sum(axis=1)
        values = (scored + PRIOR_WEIGHT * priors * mean_w) / np.maximum(
            w_sum + PRIOR_WEIGHT * mean_w, 1e-12
        )
        known = has_work[:, order] * w_top
        k_sum = known.sum(axis=1)
        work = (known * work_all[:, order]).sum(axis=1)
        tokens = (known * tokens_all[:, order]).sum(axis=1)
        out: dict[str, Estimate] = {}
        for r, (name, cot, _ki) in enumerate(rows):
            if counts[r] < MIN_EVIDENCE:
                continue
            has = k_sum[r] > 0
            est = Estimate(
                name,
                float(values[r]),
                int(counts[r]),
                None if cot == AUTO else cot,
                float(tokens[r] / k_sum[r]) if has else None,
                float(work[r] / k_sum[r]) if has else None,
            )
            out[est.label] = est
        return out


def _cost(e: Estimate, costs: dict[str, float], by_work: bool) -> float:
    """A configuration's expected compute: the profile's cost per token times the tokens it
    is predicted to take; the profile's cost alone when tokens were not recorded."""
    base = costs.get(e.profile, 1.0)
    return base * (e.work or 0.0) if by_work else base


def choose(
    estimates: dict[str, Estimate], costs: dict[str, float], quality: float
) -> tuple[str, str] | None:
    """(label, explanation): the cheapest configuration predicted within ``quality`` x the
    best one's success; None when fewer than two have evidence (nothing to compare).
    Cheapest = the profile's ``cost`` x the tokens predicted (prompt included) when every
    candidate has recorded tokens, else the profile's ``cost``."""
    if len(estimates) < 2:
        return None
    by_work = all(e.work for e in estimates.values())

    def cost(e: Estimate) -> float:
        return _cost(e, costs, by_work)

    ranked = sorted(estimates.values(), key=lambda e: (-e.success, cost(e), e.label))
    best = ranked[0]
    bar = min(1.0, max(0.0, quality)) * best.success
    eligible = [e for e in ranked if e.success >= bar - 1e-9]
    pick = min(eligible, key=lambda e: (cost(e), -e.success, e.label))
    other = best if pick.label != best.label else ranked[1]
    tasks = min(pick.tasks, other.tasks)

    def said(e: Estimate) -> str:
        tokens = f" in ~{e.tokens:.0f} tokens" if by_work and e.tokens is not None else ""
        return f"{e.label} predicted {e.success:.2f}{tokens}"

    note = f"{said(pick)} vs {said(other).replace(' predicted', '', 1)}"
    note += f" on {tasks} similar calibrated tasks"
    if pick.label != best.label:
        note += (
            f" ({'cheaper' if cost(pick) < cost(best) else 'as cheap'}, within quality {quality:g})"
        )
    return pick.label, note


@dataclass(frozen=True)
class Tradeoff:
    quality: float  # the router.quality setting
    kept: float  # routed mean score / the best single profile's mean score
    latency: float  # routed mean latency / that profile's mean latency
    shares: dict[str, float]  # share of tasks sent to each configuration


def _baseline(
    table: SuccessTable, profiles: dict[str, str]
) -> tuple[str, int, list[int], dict[str, int]] | None:
    """The best single profile at the policy table's settings, on the tasks every profile
    was graded on at those settings (the bench's comparison)."""
    auto = {p: ki for p, cot, ki in table.configs(profiles) if cot == AUTO}
    tasks = [
        j for j in range(len(table.tasks)) if all(table._graded[ki, j] for ki in auto.values())
    ]
    if len(auto) < 1 or not tasks:
        return None
    means = {n: float(np.mean(table.scores[ki, tasks])) for n, ki in auto.items()}
    best = max(means, key=lambda n: (means[n], n))
    return best, auto[best], tasks, auto


def tradeoff(
    table: SuccessTable,
    profiles: dict[str, str],
    costs: dict[str, float],
    qualities: Sequence[float],
) -> list[Tradeoff]:
    """What each router.quality setting would give on the calibrated tasks, each task routed
    by a prediction that leaves it out, among the configurations graded on that task: the
    share of the best single profile's quality kept and of its latency paid (the trade-off
    RouteLLM reports), latencies as measured by calibrate."""
    base = _baseline(table, profiles)
    if base is None or len(table.configs(profiles)) < 2:
        return []
    best, best_ki, tasks, _ = base
    base_quality = float(np.mean(table.scores[best_ki, tasks]))
    base_latency = float(np.nanmean(table.latency[best_ki, tasks]))
    index = {label(p, None if c == AUTO else c): ki for p, c, ki in table.configs(profiles)}
    ests = []
    for j in tasks:
        est = table.predict(table.vecs[j], table.categories[j], profiles, exclude=j)
        ests.append({n: e for n, e in est.items() if table._graded[index[n], j]})
    out: list[Tradeoff] = []
    for q in qualities:
        score = lat = 0.0
        sent: dict[str, int] = {}
        for j, est in zip(tasks, ests, strict=True):
            pick = choose(est, costs, q)
            name = pick[0] if pick else best
            sent[name] = sent.get(name, 0) + 1
            score += float(table.scores[index[name], j])
            lat += float(np.nan_to_num(table.latency[index[name], j]))
        n = len(tasks)
        out.append(
            Tradeoff(
                q,
                (score / n) / max(base_quality, 1e-9),
                (lat / n) / max(base_latency, 1e-9),
                {k: v / n for k, v in sorted(sent.items())},
            )
        )
    return out


def lossless_floor(table: SuccessTable, profiles: dict[str, str]) -> tuple[float, float] | None:
    """The least latency any router could pay on the calibrated tasks without losing a
    point: each task given the fastest calibrated configuration that scores at least what
    the best single profile scored on it (an oracle that knows every outcome). Returns
    (quality kept, latency share); no real router reaches it."""
    base = _baseline(table, profiles)
    if base is None:
        return None
    _, best_ki, tasks, _ = base
    rows = [ki for _, _, ki in table.configs(profiles)]
    score = lat = base_lat = 0.0
    for j in tasks:
        floor = table.scores[best_ki, j]
        ok = [
            ki
            for ki in rows
            if table._graded[ki, j]
            and table.scores[ki, j] >= floor - 1e-9
            and not np.isnan(table.latency[ki, j])
        ]
        pick = min(ok, key=lambda ki: float(table.latency[ki, j]), default=best_ki)
        score += float(table.scores[pick, j])
        lat += float(np.nan_to_num(table.latency[pick, j]))
        base_lat += float(np.nan_to_num(table.latency[best_ki, j]))
    base_score = float(np.sum(table.scores[best_ki, tasks]))
    return (score / max(base_score, 1e-9), lat / max(base_lat, 1e-9))


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
    picks up `router calibrate` results within ``recheck_s``, no restart). Every route asks:
    the files are looked at once per ``recheck_s``, not per request, and only a rebuild
    takes the lock (several routes at once waited on each other's file checks)."""

    def __init__(self, recheck_s: float = 1.0) -> None:
        self.recheck_s = recheck_s
        self._tables: dict[str, tuple[tuple[tuple[str, float, int], ...], SuccessTable]] = {}
        self._stamps: dict[str, tuple[float, list[tuple[str, float, int]]]] = {}
        self._lock = threading.Lock()

    def _stamp(self, setting: str) -> list[tuple[str, float, int]]:
        now = time.monotonic()
        seen = self._stamps.get(setting)
        if seen is not None and now - seen[0] < self.recheck_s:
            return seen[1]
        stamp = []
        for p in outcome_files(setting):
            try:
                st = p.stat()
                stamp.append((str(p), st.st_mtime, st.st_size))
            except OSError:
                continue
        self._stamps[setting] = (now, stamp)
        return stamp

    def table(
        self, setting: str, extra: Sequence[Outcome] = (), extra_key: str = ""
    ) -> SuccessTable | None:
        """``extra``: outcomes from elsewhere (user feedback), identified by ``extra_key``."""
        stamp = self._stamp(setting)
        if not stamp and not extra:
            return None
        key = (*stamp, ("extra", 0.0, hash(extra_key)))
        cached = self._tables.get(setting)
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._lock:  # one rebuild; the routes behind it take its table
            cached = self._tables.get(setting)
            if cached is None or cached[0] != key:
                rows = [*load_outcomes(outcome_files(setting)), *extra]
                cached = (key, SuccessTable(rows, meaning_vector))
                self._tables[setting] = cached
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
