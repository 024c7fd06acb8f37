"""Featurisation is pure and deterministic (also across processes: no salted hash())."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tsr_lsp.router.features import (
    DENSE_NAMES,
    DENSE_SIZE,
    HEAD_CHARS,
    TAIL_CHARS,
    clip_text,
    dense_features,
    sparse_features,
    tokens,
)

TEXT = "Summarise this email from Anna, sent 3 March 2024:\n\nHi team, the launch moves to Friday."


def test_same_input_gives_the_same_features() -> None:
    assert sparse_features(TEXT) == sparse_features(TEXT)
    assert dense_features(TEXT, "chat", "python") == dense_features(TEXT, "chat", "python")
    assert len(dense_features(TEXT)) == DENSE_SIZE == len(DENSE_NAMES)


def test_features_do_not_depend_on_the_process_hash_seed() -> None:
    code = (
        "import json,sys; from tsr_lsp.router.features import sparse_features, dense_features;"
        f"print(json.dumps([sparse_features({TEXT!r}), dense_features({TEXT!r})]))"
    )
    outs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.add(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    assert len(outs) == 1
    sparse, _dense = json.loads(outs.pop())
    assert sparse == sparse_features(TEXT)


def test_numbers_collapse_and_edges_are_marked() -> None:
    assert tokens("Add 12 and 3.5") == ["add", "0", "and", "0"]
    feats = sparse_features("Summarise this: the cat sat. Thanks")
    assert "s0:summarise" in feats and "e:thanks" in feats
    assert "c:<sum" in feats  # sub-word n-grams link summarise/summarize/summary


def test_long_inputs_are_cut_to_head_and_tail() -> None:
    text = "a" * 10_000 + " summarize please"
    clipped = clip_text(text)
    assert len(clipped) == HEAD_CHARS + TAIL_CHARS + 1
    assert clipped.endswith("summarize please")
    assert "e:please" in sparse_features(text)


def test_kind_language_and_history_reach_the_dense_vector() -> None:
    idx = {n: i for i, n in enumerate(DENSE_NAMES)}
    plain = dense_features("fix it")
    fix = dense_features("fix it", "fix", "rust", recent={"code": 3}, acceptance={"code": 0.9})
    assert plain[idx["kind_chat"]] == 1.0 and fix[idx["kind_fix"]] == 1.0
    assert fix[idx["lang_code"]] == 1.0 and plain[idx["lang_code"]] == 0.0
    assert fix[idx["hist_recent_code"]] == 1.0 and abs(fix[idx["hist_accept_code"]] - 0.4) < 1e-9
