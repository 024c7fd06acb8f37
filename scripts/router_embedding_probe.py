"""Probe: does a contextual sentence embedding from a local GGUF model help the router's
category head? (docs/ROUTER.md, "Contextual sentence embedding (tried, not shipped)").

Not part of the daemon. The embedding is SmolLM2-135M (the default general model) through
llama-cpp-python, mean-pooled over the first 300 characters and L2-normalised, cached by a
hash of the text in a pickle outside the repo. The router cannot be retrained on it here in
reasonable time (about 0.4 s a row on this shared machine, so 9,215 corpus rows take an
hour), so the probe is a late fusion: a multinomial logistic regression on the embedding,
trained on a category-stratified 2,000-row sample of the training corpus (1,500 drawn per
seed), combined with the shipped router as log p_router + w log p_embedding. Judged on the
development sets (the 76-row development set and the external suite); never on held-out.

    tsr-lsp router build-data /tmp/corpus.jsonl
    python scripts/router_embedding_probe.py sample /tmp/corpus.jsonl /tmp/sub.jsonl
    python scripts/router_embedding_probe.py embed /tmp/sub.jsonl /tmp/suite/all.jsonl \
        tsr_lsp/router/data/dev/dev.jsonl            # /tmp/suite: router_external_suite.py
    python scripts/router_embedding_probe.py eval /tmp/sub.jsonl \
        tsr_lsp/router/data/dev/dev.jsonl /tmp/suite/all.jsonl
    python scripts/router_embedding_probe.py cost

Set OMP_WAIT_POLICY=passive: with llama.cpp's OpenMP threads spinning on a loaded machine
one short embedding took 1.3 s instead of 0.12 s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import random
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODEL = Path.home() / ".local/share/tsr-lsp/models/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(os.environ.get("EMB_CACHE", "/tmp/router-emb/cache.pkl"))
MAX_CHARS = 300
_llm: Any = None


def key(text: str) -> str:
    return hashlib.sha1(text[:MAX_CHARS].encode()).hexdigest()


def embed(text: str) -> np.ndarray:
    global _llm
    if _llm is None:
        from llama_cpp import LLAMA_POOLING_TYPE_MEAN, Llama

        _llm = Llama(
            str(MODEL),
            embedding=True,
            pooling_type=LLAMA_POOLING_TYPE_MEAN,
            n_ctx=512,
            n_threads=1,
            verbose=False,
        )
    v = np.asarray(_llm.embed(text[:MAX_CHARS], truncate=True), dtype=np.float32)
    return v / (np.linalg.norm(v) + 1e-8)


def rows(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def cache() -> dict[str, np.ndarray]:
    return pickle.loads(CACHE.read_bytes()) if CACHE.is_file() else {}


def cmd_sample(src: str, dst: str) -> None:
    data = rows(src)
    random.Random(0).shuffle(data)
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in data:
        by[r["category"]].append(r)
    with open(dst, "w", encoding="utf-8") as f:
        for cat in sorted(by):
            for r in by[cat][:250]:
                f.write(json.dumps(r) + "\n")


def cmd_embed(files: list[str]) -> None:
    c = cache()
    texts = dict.fromkeys(r["text"] for p in files for r in rows(p))
    todo = [t for t in texts if key(t) not in c]
    for i, t in enumerate(todo, 1):
        c[key(t)] = embed(t)
        if i % 500 == 0 or i == len(todo):
            CACHE.parent.mkdir(parents=True, exist_ok=True)
            CACHE.write_bytes(pickle.dumps(c))
            print(f"{i}/{len(todo)}", flush=True)


def cmd_eval(train_path: str, eval_paths: list[str]) -> None:
    import torch

    from tsr_lsp.config import CATEGORIES
    from tsr_lsp.router.decision import RouteRequest
    from tsr_lsp.router.infer import TrainedRouter, load_weights
    from tsr_lsp.router.loader import PRETRAINED

    c = cache()
    router = TrainedRouter(load_weights(PRETRAINED), "shipped")
    train = rows(train_path)
    xtr = np.stack([c[key(r["text"])] for r in train])
    ytr = np.array([CATEGORIES.index(r["category"]) for r in train])
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6

    def fit(idx: np.ndarray, seed: int) -> Any:
        torch.manual_seed(seed)
        w = torch.zeros(xtr.shape[1], len(CATEGORIES), requires_grad=True)
        b = torch.zeros(len(CATEGORIES), requires_grad=True)
        xt = torch.tensor((xtr[idx] - mu) / sd, dtype=torch.float32)
        yt = torch.tensor(ytr[idx])
        opt = torch.optim.LBFGS([w, b], max_iter=200)

        def closure() -> Any:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + 1e-2 * (w**2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return lambda x: (
            torch.softmax(torch.tensor((x - mu) / sd, dtype=torch.float32) @ w + b, 1)
            .detach()
            .numpy()
        )

    out: dict[str, Any] = {}
    for path in eval_paths:
        rs = rows(path)
        xe = np.stack([c[key(r["text"])] for r in rs])
        ye = np.array([CATEGORIES.index(r["category"]) for r in rs])
        rp = np.array(
            [
                [
                    router.predict(RouteRequest(r["text"], "chat", "", "")).scores[k]
                    for k in CATEGORIES
                ]
                for r in rs
            ]
        )
        res: dict[str, Any] = {
            "rows": len(rs),
            "router": round(float((rp.argmax(1) == ye).mean()), 3),
        }
        for seed in (0, 1, 2):
            idx = np.random.default_rng(seed).choice(len(train), 1500, replace=False)
            pe = fit(idx, seed)(xe)
            res.setdefault("embedding_only", []).append(
                round(float((pe.argmax(1) == ye).mean()), 3)
            )
            for wt in (0.25, 0.5, 1.0):
                fused = np.log(rp + 1e-9) + wt * np.log(pe + 1e-9)
                acc = round(float((fused.argmax(1) == ye).mean()), 3)
                res.setdefault(f"fused_w{wt}", []).append(acc)
        out[Path(path).name] = res
    print(json.dumps(out, indent=1))


def cmd_cost() -> None:
    r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    embed("warm up")
    load = time.perf_counter() - t
    qs = [
        "write a python hello world",
        "What is the capital of Australia and why was it chosen over Sydney?",
        "Summarise this email for me: the meeting moved to Thursday at 3pm, bring the budget",
    ]
    ts = sorted(1000 * _timed(q) for _ in range(3) for q in qs)
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) / 1024
    print(
        f"load {load * 1000:.0f} ms; p50 {ts[len(ts) // 2]:.0f} ms max {ts[-1]:.0f} ms;"
        f" RSS +{rss:.0f} MB"
    )


def _timed(q: str) -> float:
    t = time.perf_counter()
    embed(q)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("src")
    s.add_argument("dst")
    e = sub.add_parser("embed")
    e.add_argument("files", nargs="+")
    v = sub.add_parser("eval")
    v.add_argument("train")
    v.add_argument("eval", nargs="+")
    sub.add_parser("cost")
    a = ap.parse_args()
    if a.cmd == "sample":
        cmd_sample(a.src, a.dst)
    elif a.cmd == "embed":
        cmd_embed(a.files)
    elif a.cmd == "eval":
        cmd_eval(a.train, a.eval)
    else:
        cmd_cost()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
