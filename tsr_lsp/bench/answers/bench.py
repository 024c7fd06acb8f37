"""`tsr-lsp bench answers`: answer quality per category, per profile and routed, with mean
latency and tokens, through the real server; and what memory does to answers.

Keys (docs/ANSWERS.md): ``quality_<category>`` (routed with --routed, else the best
profile's), ``quality_<profile>``, ``latency_<profile>_ms``, ``tokens_<profile>``,
``quality_<category>_<profile>``, ``quality_routed``, ``quality_best_profile``,
``latency_routed_ms``, ``latency_best_profile_ms``, ``quality_kept_ratio`` (routed / best)
and ``latency_share_ratio`` (routed / best); ``memory_harm`` (quality with empty memory
minus quality with a memory full of unrelated episodes, target <= 0.01; ``_ungated``: the
same with the relevance gate off, as shipped before it) and ``memory_help`` (follow-ups that
use the name fixed in an earlier session, target >= 0.8; ``_without``: the same follow-ups
with empty memory). Progress goes to stderr, one line per task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tsr_lsp.bench.answers import generated
from tsr_lsp.bench.answers.runner import (
    BASELINE,
    ROUTED,
    SuiteRunner,
    TaskResult,
    run_tasks_async,
    stderr_progress,
)
from tsr_lsp.bench.answers.tasks import CATEGORIES, Task, load_tasks

MEMORY_PER_CATEGORY = 3  # memory_harm: tasks per category, run three times


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def ci95(scores: Sequence[float]) -> float:
    """Half-width of a normal-approximation 95% interval of a mean of 0..1 scores."""
    n = len(scores)
    if n < 2:
        return 1.0
    m = mean(scores)
    var = sum((s - m) ** 2 for s in scores) / (n - 1)
    return 1.96 * math.sqrt(var / n)


def summarize(results: Sequence[TaskResult]) -> dict[str, Any]:
    """Per profile: macro quality (mean of category means), per-category quality, mean
    latency and completion tokens; then the routed-vs-best-profile trade-off."""
    out: dict[str, Any] = {}
    profiles = list(dict.fromkeys(r.profile for r in results))
    totals: dict[str, tuple[float, float]] = {}
    for profile in profiles:
        mine = [r for r in results if r.profile == profile]
        cats = [c for c in CATEGORIES if any(r.category == c for r in mine)]
        by_cat = {c: mean([r.score for r in mine if r.category == c]) for c in cats}
        quality = mean(list(by_cat.values()))
        latency = mean([r.latency_ms for r in mine])
        totals[profile] = (quality, latency)
        out[f"quality_{profile}"] = round(quality, 3)
        out[f"quality_{profile}_ci95"] = round(ci95([r.score for r in mine]), 3)
        out[f"latency_{profile}_ms"] = round(latency, 1)
        out[f"tokens_{profile}"] = round(mean([r.completion_tokens for r in mine]), 1)
        out[f"errors_{profile}"] = sum(1 for r in mine if r.error)
        out[f"cot_{profile}"] = round(mean([r.decision.get("cot_steps") or 0 for r in mine]), 2)
        for c, q in by_cat.items():
            out[f"quality_{c}_{profile}"] = round(q, 3)
            cat = [r for r in mine if r.category == c]
            out[f"latency_{c}_{profile}_ms"] = round(mean([r.latency_ms for r in cat]), 1)
            out[f"tokens_{c}_{profile}"] = round(mean([r.completion_tokens for r in cat]), 1)
    forced = {p: v for p, v in totals.items() if p not in (ROUTED, BASELINE)}
    if forced:
        best = max(forced, key=lambda p: (forced[p][0], -forced[p][1]))
        out["best_profile"] = best
        out["quality_best_profile"] = round(forced[best][0], 3)
        out["latency_best_profile_ms"] = round(forced[best][1], 1)
    headline = ROUTED if ROUTED in totals else out.get("best_profile")
    for c in CATEGORIES:
        key = f"quality_{c}_{headline}"
        if key in out:
            out[f"quality_{c}"] = out[key]
    if ROUTED in totals and forced:
        q, lat = totals[ROUTED]
        out["quality_kept_ratio"] = round(q / forced[best][0], 3) if forced[best][0] else 0.0
        out["latency_share_ratio"] = round(lat / forced[best][1], 3) if forced[best][1] else 0.0
        routed = [r for r in results if r.profile == ROUTED]
        for p in forced:
            share = sum(r.model == p for r in routed) / len(routed) if routed else 0.0
            out[f"routed_to_{p}_ratio"] = round(share, 3)
        interval = tradeoff_interval(results, best)
        if interval:
            (k_lo, k_hi), (l_lo, l_hi) = interval
            out["quality_kept_ratio_lo"], out["quality_kept_ratio_hi"] = k_lo, k_hi
            out["latency_share_ratio_lo"], out["latency_share_ratio_hi"] = l_lo, l_hi
    if BASELINE in totals and forced:  # the other checkout's router against the same best
        q, lat = totals[BASELINE]
        best_q, best_lat = forced[best]
        out["baseline_quality_kept_ratio"] = round(q / best_q, 3) if best_q else 0.0
        out["baseline_latency_share_ratio"] = round(lat / best_lat, 3) if best_lat else 0.0
        if ROUTED in totals and lat:
            out["routed_vs_baseline_latency_ratio"] = round(totals[ROUTED][1] / lat, 3)
    return out


def tradeoff_interval(
    results: Sequence[TaskResult], best: str, draws: int = 2000, seed: int = 11
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """95% intervals of quality_kept_ratio and latency_share_ratio: a paired bootstrap over
    the tasks both the best profile and routing answered, resampled within each category
    (quality is a mean of category means). Paired, because both sides answered the same
    tasks: the interval is about the router, not about which tasks were drawn."""
    import random

    pairs: dict[str, dict[str, TaskResult]] = {}
    for r in results:
        if r.profile in (best, ROUTED):
            pairs.setdefault(r.task_id, {})[r.profile] = r
    by_cat: dict[str, list[tuple[TaskResult, TaskResult]]] = {}
    for both in pairs.values():
        if len(both) == 2:
            b = both[best]
            by_cat.setdefault(b.category, []).append((b, both[ROUTED]))
    if not by_cat or sum(len(v) for v in by_cat.values()) < 2:
        return None
    rng = random.Random(seed)
    kept: list[float] = []
    share: list[float] = []
    for _ in range(draws):
        q_best = q_routed = l_best = l_routed = 0.0
        for rows in by_cat.values():
            sample = [rows[rng.randrange(len(rows))] for _ in rows]
            q_best += mean([b.score for b, _ in sample])
            q_routed += mean([x.score for _, x in sample])
            l_best += sum(b.latency_ms for b, _ in sample)
            l_routed += sum(x.latency_ms for _, x in sample)
        if q_best > 0 and l_best > 0:
            kept.append(q_routed / q_best)
            share.append(l_routed / l_best)
    if not kept:
        return None

    def bounds(values: list[float]) -> tuple[float, float]:
        values.sort()
        lo = values[int(0.025 * (len(values) - 1))]
        hi = values[int(0.975 * (len(values) - 1))]
        return round(lo, 3), round(hi, 3)

    return bounds(kept), bounds(share)


# ------------------------------------------------------------------ memory
def _reference_answer(task: Task) -> str:
    """What an earlier session's answer to a task looked like (for unrelated memory)."""
    exp = task.expected
    if task.grader == "code_tests":
        return str(task.meta.get("reference", ""))
    if task.grader == "numeric":
        return f"The answer is {exp['answer']:g}."
    if task.grader == "choice":
        return f"The answer is {exp['choices'][exp['gold']]}"
    if task.grader == "label":
        return str(exp["label"]).capitalize() + "."
    if task.grader == "fields":
        return json.dumps(exp["fields"])
    return "Here is the text you asked for."


ISSUE_EPISODES = (  # the issue's three code questions, with plausible answers
    (
        "Write a Python function that parses a CSV file into a list of dicts",
        "import csv\n\ndef parse_csv(path):\n    with open(path, newline='') as f:\n"
        "        return list(csv.DictReader(f))",
    ),
    (
        "How do I sort a list of dicts by a key in Python?",
        "Use sorted(items, key=lambda d: d['name']).",
    ),
    (
        "Explain what a Python generator is",
        "A generator is a function that yields values lazily, one at a time.",
    ),
)


def unrelated_episodes(project: str, per_category: int) -> list[dict[str, Any]]:
    """A project full of past work: calibration tasks (other items than the report's) with
    their answers, plus the three code questions of the issue."""
    episodes = [
        {"project": project, "text": text, "kind": "interaction", "response": answer}
        for text, answer in ISSUE_EPISODES
    ]
    for task in load_tasks("calibration", per_category=per_category):
        episodes.append(
            {
                "project": project,
                "text": task.prompt,
                "kind": "interaction",
                "category": task.category,
                "response": _reference_answer(task)[:400],
            }
        )
    return episodes


async def _memory_harm(tasks: list[Task], filler: int, init: dict[str, Any]) -> dict[str, Any]:
    """The same routed tasks with empty memory, with unrelated memory, and with unrelated
    memory and the gate off (every retrieved episode enters, as before the gate)."""
    scores: dict[str, float] = {}
    with_memory: dict[str, int] = {}
    off = {"prompt_min_relevance": 0.0, "prompt_min_relevance_followup": 0.0}
    runs: list[tuple[str, bool, dict[str, float]]] = [
        ("empty", False, {}),
        ("full", True, {}),
        ("ungated", True, off),
    ]
    for label, fill, gate in runs:
        async with SuiteRunner(
            memory=True, record=False, memory_config=gate, initialization_options=init
        ) as r:
            if fill:
                episodes = unrelated_episodes(r.project_id, filler)
                await r.request("tsr/memory/import", {"episodes": episodes})
            results = await run_tasks_async(tasks, [None], runner=r, progress=_tagged(label))
        scores[label] = mean([x.score for x in results])
        with_memory[label] = sum(1 for x in results if x.memory_episodes)
    return {
        "memory_quality_empty": round(scores["empty"], 3),
        "memory_quality_unrelated": round(scores["full"], 3),
        "memory_harm": round(scores["empty"] - scores["full"], 3),
        "memory_harm_ungated": round(scores["empty"] - scores["ungated"], 3),
        "memory_harm_tasks": len(tasks),
        "memory_prompts_with_episodes": with_memory["full"],
        "memory_prompts_with_episodes_ungated": with_memory["ungated"],
    }


async def _memory_help(split: str, init: dict[str, Any]) -> dict[str, Any]:
    """Earlier sessions fix a name; later follow-ups must use it. Scored: the answer names
    it. Also: how often the earlier episode reached the prompt, and the same follow-ups
    with no memory (what the model guesses without it)."""
    followups = generated.memory_followups(split)
    used = retrieved = guessed = 0
    async with SuiteRunner(memory=True, record=True, initialization_options=init) as r:
        earlier_ids: dict[str, str] = {}
        for f in followups:
            reply, _ms = await r.generate(f.earlier, max_tokens=160)
            earlier_ids[f.id] = str(reply.get("episodeId"))
        for i, f in enumerate(followups, 1):
            reply, ms = await r.generate(f.followup, max_tokens=256)
            hit = f.remembered in str(reply.get("text", ""))
            got = earlier_ids[f.id] in reply.get("memory", {}).get("episodes", [])
            used += hit
            retrieved += got
            print(
                f"[memory help {i}/{len(followups)}] {f.id} retrieved={got} used={hit} {ms:.0f} ms",
                file=sys.stderr,
                flush=True,
            )
    async with SuiteRunner(memory=True, record=False, initialization_options=init) as r:
        for f in followups:
            reply, _ms = await r.generate(f.followup, max_tokens=256)
            guessed += f.remembered in str(reply.get("text", ""))
    n = len(followups)
    return {
        "memory_help": round(used / n, 3),
        "memory_help_retrieved": round(retrieved / n, 3),
        "memory_help_without": round(guessed / n, 3),
        "memory_followups": n,
    }


def _tagged(label: str) -> Any:
    def progress(done: int, total: int, result: TaskResult) -> None:
        print(f"[memory {label}] ", end="", file=sys.stderr)
        stderr_progress(done, total, result)

    return progress


# ------------------------------------------------------------------ entry point
def _split_list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def routable_profiles() -> list[str]:
    """Every profile the router can send an answer to (the user's settings): the bench
    forces each of them by default, so the best single profile is among them."""
    from tsr_lsp.config import load_settings
    from tsr_lsp.router.policy import answer_profiles

    return answer_profiles(load_settings(None)[0])


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    routable = routable_profiles()
    profiles: list[str | None] = list(_split_list(args.profiles) or routable)
    if args.routed:
        profiles.append(None)
    categories = _split_list(args.categories) or None
    tasks = load_tasks(args.split, categories=categories, per_category=args.per_category)
    metrics: dict[str, Any] = {
        "split": args.split,
        "tasks": len(tasks),
        "per_category": args.per_category,
        "load_avg_start": round(os.getloadavg()[0], 2),
    }
    started = time.perf_counter()
    results: list[TaskResult] = []
    init: dict[str, Any] = json.loads(args.init_options) if args.init_options else {}
    if args.candidates:
        from tsr_lsp.modelfiles import candidate_profiles

        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
        init["models"] = {**candidate_profiles(progress), **init.get("models", {})}
    if args.threads:  # on a busy machine one thread a model beats two that wait on each other
        models = init.setdefault("models", {})
        for name in {*routable, *(p for p in profiles if p), *models}:
            models.setdefault(name, {})["nThreads"] = args.threads
    metrics["n_threads"] = args.threads or "all cores"
    if profiles and not args.memory_only:
        baseline_root = Path(args.baseline).resolve() if args.baseline else None
        if baseline_root is not None and not (baseline_root / "tsr_lsp").is_dir():
            raise ValueError(f"--baseline {baseline_root}: no tsr_lsp package there")
        async with contextlib.AsyncExitStack() as stack:
            runner = await stack.enter_async_context(SuiteRunner(initialization_options=init))
            baseline = None
            if baseline_root is not None:
                baseline = await stack.enter_async_context(
                    SuiteRunner(
                        initialization_options=init, code_root=baseline_root, label=BASELINE
                    )
                )
                metrics["baseline"] = str(baseline_root)
            results = await run_tasks_async(
                tasks, profiles, progress=stderr_progress, runner=runner, baseline=baseline
            )
        metrics.update(summarize(results))
    if args.out:
        with Path(args.out).open("w", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    if not args.no_memory:
        per_cat = min(MEMORY_PER_CATEGORY, args.per_category)
        harm_tasks = load_tasks(args.split, categories=categories, per_category=per_cat)
        metrics.update(await _memory_harm(harm_tasks, 4, init))
        metrics.update(await _memory_help(args.split, init))
    metrics["wall_s"] = round(time.perf_counter() - started, 1)
    metrics["load_avg_end"] = round(os.getloadavg()[0], 2)
    return metrics


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_measure(args))
