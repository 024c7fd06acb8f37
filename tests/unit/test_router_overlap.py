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


def test_a_restated_short_test_item_is_found_by_its_lead_sentence() -> None:
    """Short items (MBPP's one-line tasks) share no 8-word shingle with a rewording; their
    lead sentence's keys find the same words (copy) and the same content words (mirror)."""
    mbpp_like = build_set(
        "toy", "written for this test", ["Write a function to reverse the words of a sentence."]
    )
    same = "Please help. Write a function to reverse the words of a sentence!"
    assert [h.kind for h in check_text(same, [mbpp_like])] == ["copy"]
    reworded = "write a python function that reverses sentence words"
    hits = check_text(reworded, [mbpp_like])
    assert [h.kind for h in hits] == ["mirror"] and "lead" in hits[0].detail
    assert check_text("Write a function to reverse a linked list.", [mbpp_like]) == []


def test_humaneval_style_leads_come_from_the_docstring() -> None:
    stub = (
        'def f(xs):\n    """Return the running maximum of a list of integers.\n'
        '    >>> f([1])\n    """\n'
    )
    ps = build_set(
        "toy",
        "written for this test",
        [stub],
        ["Return the running maximum of a list of integers."],
    )
    assert ps.lead_exact and ps.lead_near
    assert [
        h.kind for h in check_text("Return the running maximum of a list of integers", [ps])
    ] == ["copy"]


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
    the WizardLM test set, HumanEval, MBPP's test split and the openings of GSM8K's 1,319 test
    questions (docs/ROUTER.md, "Contamination check"): no shared 8-word shingle, no test
    item's lead sentence (SHA-256 keys of its normalised words and content stems), no
    unreviewed mirror."""
    sets, reviewed = load_index()
    names = {s.name: s for s in sets}
    assert set(names) >= {"mtbench", "vicuna80", "wizardlm", "humaneval", "mbpp_test", "gsm8k_test"}
    assert all(s.items >= 80 for s in sets)
    assert names["mbpp_test"].items == 500 and len(names["mbpp_test"].lead_exact) >= 490
    assert len(names["humaneval"].lead_near) >= 140
    assert names["gsm8k_test"].items == 1319 and len(names["gsm8k_test"].lead_exact) >= 1250
    rows = jsonl_rows([*shipped_files(), FIXTURE])
    assert len(rows) > 2500
    found = scan_rows(rows, sets, reviewed)
    assert [(f.where, f.hit.kind, f.hit.public) for f in found] == []
