"""The contamination check: copies and mirrors of public test items are found, unrelated
rows are not, and the shipped router data is clean against the committed public-set hashes."""

from __future__ import annotations

from pathlib import Path

from tsr_lsp.router.overlap import (
    build_set,
    check_text,
    jsonl_rows,
    load_index,
    row_key,
    scan_rows,
    shipped_files,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "router_small.jsonl"
PUBLIC = build_set(
    "toy",
    "written for this test",
    [
        "When rolling two dice, what is the probability that you roll a total number that is"
        " at least 3?",
        "Write a persuasive essay arguing for or against the use of social media in schools.",
        "What is the value of 2+2?",
    ],
)


def test_a_copied_shingle_is_a_copy_whatever_the_punctuation() -> None:
    text = "Essay time! Write a persuasive essay, arguing for or against the use"
    hits = check_text(text, [PUBLIC])
    assert [h.kind for h in hits] == ["copy"]


def test_a_whole_short_item_inside_a_row_is_a_copy() -> None:
    assert [h.kind for h in check_text("quick one: what is the value of 2 + 2", [PUBLIC])] == [
        "copy"
    ]


def test_a_paraphrase_is_a_mirror_candidate() -> None:
    hits = check_text("Roll two dice: what's the probability the sum is at least 9?", [PUBLIC])
    assert [h.kind for h in hits] == ["mirror"]
    assert "item 1" in hits[0].detail


def test_unrelated_rows_are_not_flagged() -> None:
    for text in ("Say hello to my friend Anna", "Write a haiku about autumn rain", "2+2"):
        assert check_text(text, [PUBLIC]) == []


def test_a_reviewed_mirror_is_accepted_until_its_text_changes() -> None:
    text = "Roll two dice: what's the probability the sum is at least 9?"
    reviewed = {row_key(text): "judged unrelated (test)"}
    assert scan_rows([("a:1", text)], [PUBLIC], reviewed) == []
    edited = text.replace("9", "10")
    assert [f.hit.kind for f in scan_rows([("a:1", edited)], [PUBLIC], reviewed)] == ["mirror"]


def test_index_round_trips_without_text(tmp_path: Path) -> None:
    from tsr_lsp.router.overlap import save_index

    save_index([PUBLIC], tmp_path)
    blob = (tmp_path / "index.json").read_text()
    assert "persuasive" not in blob and "dice" not in blob  # hashes only
    sets, reviewed = load_index(tmp_path)
    assert reviewed == {}
    assert check_text("Roll two dice: what's the probability the sum is at least 9?", sets)


def test_shipped_router_data_copies_and_mirrors_no_public_test_item() -> None:
    """Team prompts, the development set and the test fixture against MT-Bench, Vicuna-80,
    the WizardLM test set and HumanEval (docs/ROUTER.md, "Contamination check")."""
    sets, reviewed = load_index()
    assert {s.name for s in sets} >= {"mtbench", "vicuna80", "wizardlm", "humaneval"}
    assert all(s.items >= 80 for s in sets)
    rows = jsonl_rows([*shipped_files(), FIXTURE])
    assert len(rows) > 2500
    found = scan_rows(rows, sets, reviewed)
    assert [(f.where, f.hit.kind, f.hit.public) for f in found] == []
