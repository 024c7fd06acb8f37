"""The router's training corpus holds no item of a public test split (ARC's files in
../shared/data are its test set): the check fails on the corpus that trained on them."""

from __future__ import annotations

import json

import pytest

from tsr_lsp.overlap import overlaps, shingle_index
from tsr_lsp.router.corpus import build_corpus, default_shared_dir, strip_scaffold


def test_the_training_corpus_holds_no_arc_test_question() -> None:
    shared = default_shared_dir()
    folder = shared / "foundry" / "world_knowledge"
    if not (folder / "arc_easy.jsonl").exists():
        pytest.skip(f"no public data at {shared}")
    arc = [
        strip_scaffold(json.loads(line)["query"])
        for name in ("arc_easy", "arc_challenge")
        for line in (folder / f"{name}.jsonl").read_text().splitlines()
        if line.strip()
    ]
    index = shingle_index(arc)
    corpus = build_corpus(shared)
    assert not {ex.source for ex in corpus} & {"arc_easy", "arc_challenge"}
    hits = [ex.text[:80] for ex in corpus if overlaps(ex.text, index)]
    assert len(hits) <= 2, hits  # a common 8-word phrase may recur; 1,200 rows did before


def test_the_training_corpus_holds_no_test_split_or_evaluation_only_file() -> None:
    """LSAT-AR/RC (AGIEval), AQuA's and SVAMP's test parts, EnterprisePII and the BIG-bench
    tasks are evaluation data (docs/ROUTER.md "Which split each file is")."""
    from tsr_lsp.router.corpus import EVALUATION_ONLY

    shared = default_shared_dir()
    files = {p.stem: p for p in (shared / "foundry").glob("*/*.jsonl")}
    if not files:
        pytest.skip(f"no public data at {shared}")
    assert set(EVALUATION_ONLY) <= set(files)
    texts = []
    for name in EVALUATION_ONLY:
        for line in files[name].read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                texts.append(strip_scaffold(row.get("query") or row.get("context") or ""))
    index = shingle_index(texts)
    corpus = build_corpus(shared)
    sources = {ex.source for ex in corpus}
    assert not sources & {"lsat_ar", "lsat_rc", "aqua", "svamp", "pii", "fables"}
    assert not sources & {"strategyqa", "logical_deduction", "arc_easy", "arc_challenge"}
    hits = [ex.text[:80] for ex in corpus if overlaps(ex.text, index)]
    assert len(hits) <= 5, hits  # common 8-word phrases recur; 2,200+ rows did before
