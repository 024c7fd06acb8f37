"""The held-out real-user suite (scripts/router_heldout_suite.py): its labels file and the
pure parts of building and scoring it. The suite itself needs two PyPI wheels; these tests
use none of their text."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from tsr_lsp.config import CATEGORIES
from tsr_lsp.overlap import shingle_index

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "router_heldout_suite.py"


@pytest.fixture(scope="module")
def suite_mod():
    spec = importlib.util.spec_from_file_location("router_heldout_suite", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_labels_file_is_hashes_and_known_labels_only(suite_mod):
    labels = suite_mod.read_labels()
    assert 300 <= len(labels) <= 650
    allowed = {*CATEGORIES, suite_mod.SKIP}
    sources = Counter(lab.source for lab in labels.values())
    assert set(sources) == {"koala", "oasst", "helpful_base", "sharegpt"}
    assert sources["koala"] + sources["oasst"] + sources["sharegpt"] > 0.8 * len(labels)
    for lab in labels.values():
        assert lab.label in allowed and lab.first in allowed
        assert lab.second in allowed | {""}
    # the second pass covers about 15%, and no line carries more than hashes and labels
    second = sum(1 for lab in labels.values() if lab.second)
    assert 0.13 <= second / len(labels) <= 0.17
    lines = [ln for ln in suite_mod.LABELS.read_text().splitlines() if not ln.startswith("#")]
    assert max(len(ln) for ln in lines) < 80


def test_read_labels_names_a_bad_line(suite_mod, tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_text("# comment\n0123456789abcdef\tkoala\tcode\nnot a hash\tkoala\tcode\n")
    with pytest.raises(ValueError, match=r"labels.tsv:3: expected HASH"):
        suite_mod.read_labels(path)


def test_prompt_key_ignores_surrounding_space_only(suite_mod):
    key = suite_mod.prompt_key("What is a cusip?")
    assert key == suite_mod.prompt_key("  What is a cusip?\n")
    assert key != suite_mod.prompt_key("What is a CUSIP?")
    assert len(key) == 16


def test_json_records_stop_at_a_cut_off_record(suite_mod):
    blob = '[{"id": "a_0"}, {"id": "b_0", "x": [1, 2]},\n {"id": "c_0", "conv'
    assert [r["id"] for r in suite_mod._json_records(blob)] == ["a_0", "b_0"]


def test_agreement_and_kappa(suite_mod):
    Label = suite_mod.Label
    same = {str(i): Label("oasst", c, c, c) for i, c in enumerate(["code", "chat"] * 5)}
    assert suite_mod.agreement(same) == {"n": 10, "agreement": 1.0, "kappa": 1.0}
    mixed = dict(same)
    mixed["0"] = Label("oasst", "knowledge", "knowledge", "code")  # settled after pass two
    mixed["x"] = Label("oasst", "code", "", "code")  # not in the sample
    got = suite_mod.agreement(mixed)
    assert got["n"] == 10 and got["agreement"] == 0.9
    assert 0.7 < got["kappa"] < 0.9  # chance agreement discounted


def test_in_row_checks_cot_and_temperature_of_the_true_row(suite_mod):
    assert suite_mod.in_row("writing", 0, 0.8)
    assert not suite_mod.in_row("writing", 1, 0.8)  # writing allows no CoT
    assert not suite_mod.in_row("code", 1, 0.5)  # code's row ends at 0.3
    assert suite_mod.in_row("math", 9, 0.2)  # math has no CoT ceiling
    assert not suite_mod.in_row("reasoning", 0, 0.4)  # reasoning needs CoT >= 1


def test_build_suite_skips_overlap_and_non_requests_and_counts_them(
    suite_mod, tmp_path, monkeypatch
):
    Item, key = suite_mod.Item, suite_mod.prompt_key
    texts = {
        "ok": "Write a limerick about a cat who hates Mondays",
        "skip": "Continue.",
        "copied": "please tell me the best way to keep basil alive on a windowsill in winter",
        "new": "Something nobody labelled yet",
    }
    items = [Item(key(t), "oasst", t) for t in texts.values()]
    items.append(items[0])  # the same prompt twice counts once
    monkeypatch.setattr(suite_mod, "candidates", lambda cache: items)
    training = ["I asked: the best way to keep basil alive on a windowsill in winter?"]
    monkeypatch.setattr(suite_mod, "_training_index", lambda shared: shingle_index(training))
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        f"{key(texts['ok'])}\toasst\twriting\n"
        f"{key(texts['skip'])}\toasst\tskip\n"
        f"{key(texts['copied'])}\toasst\tknowledge\n"
        f"{'f' * 16}\toasst\tchat\n"
    )
    suite = suite_mod.build_suite(tmp_path, None, labels)
    assert [i.text for i in suite.rows] == [texts["ok"]]
    assert suite.labels == {key(texts["ok"]): "writing"}
    assert suite.counts == {
        "candidates": 4,
        "duplicates": 1,
        "skipped_not_a_request": 1,
        "skipped_overlap": 1,
        "unlabelled": 1,
        "labels_without_prompt": 1,
        "scored": 1,
    }


def test_score_routes_like_the_cli_and_aggregates_consistently(suite_mod):
    Item, key = suite_mod.Item, suite_mod.prompt_key
    rows = [
        ("Write a Python function that reverses a linked list", "code", "sharegpt"),
        ("hi! how are you doing today?", "chat", "oasst"),
        ("Write a haiku about autumn rain", "writing", "helpful_base"),
    ]
    items = [Item(key(t), src, t) for t, _, src in rows]
    suite = suite_mod.Suite(items, {key(t): lab for t, lab, _ in rows}, {"scored": 3})
    for weights in ("", "rules"):
        res, predicted = suite_mod.score(suite, weights)
        assert res["n"] == 3 and len(predicted) == 3
        hits = [p == lab for p, (_, lab, _) in zip(predicted, rows, strict=True)]
        assert res["accuracy"] == round(sum(hits) / 3, 3)
        assert sum(sum(r.values()) for r in res["confusion"].values()) == 3
        assert res["real_users"]["n"] == 2  # helpful_base is not counted as real users
        assert set(res["per_source"]) == {"sharegpt", "oasst", "helpful_base"}
    # the shipped router gets these easy ones right, inside their rows
    res, predicted = suite_mod.score(suite, "")
    assert predicted == ["code", "chat", "writing"]
    assert res["within_row"] == 1.0
