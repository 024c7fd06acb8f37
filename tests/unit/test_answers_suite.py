"""The suite's tasks: two disjoint splits, answers known by construction, and the team's
own items free of 8-word overlap with the public sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tsr_lsp import paths
from tsr_lsp.bench.answers import CATEGORIES, grade, load_tasks
from tsr_lsp.bench.answers import generated as gen
from tsr_lsp.bench.answers.codeexec import run_tests
from tsr_lsp.bench.answers.graders import GRADERS
from tsr_lsp.bench.answers.tasks import CHOICE_INSTRUCTION, DATA_DIR, MBPP_FILES, public_test_item
from tsr_lsp.overlap import overlaps, shingle_index, shingles

SHARED = paths.shared_data_dir()
needs_shared = pytest.mark.skipif(
    not (SHARED / "router").is_dir(), reason="../shared/data is not beside the checkout"
)


@needs_shared
def test_splits_are_disjoint_and_cover_every_category() -> None:
    report = load_tasks("report", per_category=6, exclude_router_corpus=False)
    calib = load_tasks("calibration", per_category=6, exclude_router_corpus=False)
    for tasks, split in ((report, "report"), (calib, "calibration")):
        assert {t.category for t in tasks} == set(CATEGORIES)
        assert all(t.split == split and t.grader in GRADERS for t in tasks)
        assert len({t.id for t in tasks}) == len(tasks) == 6 * len(CATEGORIES)
    assert not {t.id for t in report} & {t.id for t in calib}
    assert not {t.prompt for t in report} & {t.prompt for t in calib}
    # the same call gives the same tasks (a resumable calibration relies on it)
    again = load_tasks("report", per_category=6, exclude_router_corpus=False)
    assert [t.to_json() for t in again] == [t.to_json() for t in report]


def test_bad_split_or_category_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown split"):
        load_tasks("test")
    with pytest.raises(ValueError, match="unknown categories"):
        load_tasks("report", categories=["poetry"])


def test_team_tasks_split_their_word_pools() -> None:
    rep = gen.writing_items("report", 13)
    cal = gen.writing_items("calibration", 13)
    topics = lambda items: {it["prompt"].split(" about ")[1].split(".")[0] for it in items}  # noqa: E731
    assert not topics(rep) & topics(cal)
    assert not {f.remembered for f in gen.memory_followups("report")} & {
        f.remembered for f in gen.memory_followups("calibration")
    }


def test_extraction_answers_are_in_the_text() -> None:
    for split in ("report", "calibration"):
        for item in gen.extraction_items(split, 20):
            text = item["prompt"].split("Text: ", 1)[1]
            for value in item["fields"].values():
                assert str(value) in text


def test_a_perfect_extraction_answer_scores_one() -> None:
    task = load_tasks(
        "report", categories=["extraction"], per_category=3, exclude_router_corpus=False
    )[0]
    answer = json.dumps(task.expected["fields"])
    assert grade(task, answer) == 1.0
    assert grade(task, "{}") == 0.0


def _mbpp(split: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA_DIR / MBPP_FILES[split]).open()]


def test_mbpp_references_pass_their_tests_and_a_wrong_one_does_not() -> None:
    rows = _mbpp("report")[::4] + _mbpp("calibration")
    for row in rows:
        setup = "\n".join(row["test_imports"])
        run = run_tests(row["code"], row["test_list"], setup=setup)
        assert run.passed == run.total, (row["task_id"], run)
    row = _mbpp("report")[0]
    assert run_tests("def remove_Occ(s, ch):\n    return s", row["test_list"]).passed == 0


def test_mbpp_files_follow_mbpps_own_split() -> None:
    """MBPP's TEST split (ids 11-510) is for evaluation only: report; calibration (what the
    router learns from) takes train/validation items (511-974) only."""
    assert {r["task_id"] for r in _mbpp("report")} <= set(range(11, 511))
    assert {r["task_id"] for r in _mbpp("calibration")} <= set(range(511, 975))
    assert public_test_item("mbpp/11") and public_test_item("mbpp/510")
    assert public_test_item("arc_easy/3") and public_test_item("arc_challenge/0")
    assert not public_test_item("mbpp/511") and not public_test_item("triviaqa/3")
    assert not public_test_item("gsm8k_train/7")


def test_mbpp_calibration_items_copy_no_public_test_item() -> None:
    """No 8-word run shared with the MBPP test items we hold; no copy of HumanEval or the
    other indexed test sets anywhere in the item, no near-paraphrase in what the router
    sees (the prompt with its first test)."""
    from tsr_lsp.router.overlap import load_index, scan_rows

    test = shingle_index(
        part for r in _mbpp("report") for part in (r["prompt"], r["code"], *r["test_list"])
    )
    sets, reviewed = load_index()
    # MBPP's own split decides for its train items (checked above): they share its template
    # ("write a python function to find the sum of the ...") and sibling tasks with its test
    # items by construction, which the router's index of MBPP's test split would call copies
    sets = [s for s in sets if s.name != "mbpp_test"]
    for r in _mbpp("calibration"):
        for part in (r["prompt"], r["code"], *r["test_list"]):
            assert not overlaps(part, test), (r["task_id"], part)
        shown = f"{r['prompt']} Your code should pass this test:\n{r['test_list'][0]}"
        code = r["code"] + "\n" + "\n".join(r["test_list"])
        found = scan_rows([("prompt", shown), ("code", code)], sets, reviewed)
        assert not [f for f in found if f.where == "prompt" or f.hit.kind == "copy"], r


@needs_shared
def test_calibration_holds_no_public_test_item_and_no_report_text() -> None:
    report = load_tasks("report", per_category=200, exclude_router_corpus=False)
    calib = load_tasks("calibration", per_category=200, exclude_router_corpus=False)
    assert not [t.id for t in calib if public_test_item(t.id)]
    assert {t.id.split("/")[0] for t in calib if t.category in ("code", "knowledge")} == {
        "mbpp",
        "triviaqa",
        *(f"know-cal-{i:02d}" for i in range(len(gen.knowledge_questions()))),
    }

    # the items themselves (not the suite's instructions around them) share no 8-word run
    def content(t: Any) -> list[str]:
        if t.category == "code":
            return [t.prompt.split(" Your code should pass")[0], *t.expected["tests"]]
        return [t.prompt.removesuffix(CHOICE_INSTRUCTION)]  # not the suite's instruction

    def public(tasks: list[Any]) -> list[Any]:  # the sources with a public test split
        return [t for t in tasks if t.category in ("code", "knowledge")]

    index = shingle_index(s for t in public(report) for s in content(t))
    assert not [t.id for t in public(calib) if any(overlaps(s, index) for s in content(t))]
    # nor a copy of an indexed public test item, nor an unjudged mirror (calibrate would put
    # it back into the router's outcomes: mbpp/577 was dealt to calibration until it was
    # listed as a copy)
    from tsr_lsp.router.overlap import load_index, scan_rows

    sets, reviewed = load_index()
    found = scan_rows([(t.id, t.prompt) for t in calib], sets, reviewed)
    assert not sorted({f.where for f in found})


def test_shipped_outcomes_hold_no_public_test_item() -> None:
    """What `router calibrate` learns from: no row of a public test split, and no row whose
    text shares an 8-word run with an MBPP test item."""
    from tsr_lsp.router.success import load_outcomes

    path = Path(__file__).parents[2] / "tsr_lsp" / "router" / "pretrained" / "outcomes.jsonl"
    rows = [json.loads(line) for line in path.open() if line.strip()]
    assert rows and len(load_outcomes([path])) == len(rows)
    assert not sorted({r["task"] for r in rows if public_test_item(r["task"])})
    test = shingle_index(r["prompt"] for r in _mbpp("report"))
    assert not [r["task"] for r in rows if overlaps(r["text"], test)]
    # nor a copy of any item of the public test sets `tsr-lsp router overlap` indexes
    # (all of MBPP's test split, GSM8K test, HumanEval, ...), nor a mirror not judged unrelated
    from tsr_lsp.router.overlap import jsonl_rows, load_index, scan_rows

    sets, reviewed = load_index()
    found = scan_rows(jsonl_rows([path]), sets, reviewed)
    assert not sorted({f.where for f in found})  # mirrors judged unrelated are in reviewed.tsv


def _team_texts() -> list[str]:
    texts: list[str] = []
    for split in ("report", "calibration"):
        texts += [it["prompt"] for it in gen.extraction_items(split, 30)]
        texts += [it["prompt"] for it in gen.writing_items(split, 30)]
        texts += [it["prompt"] for it in gen.chat_items(split, 30)]
        for f in gen.memory_followups(split):
            texts += [f.earlier, f.followup]
    for it in gen.knowledge_items():
        texts.append(" ".join([it["question"], *it["choices"]]))
    return texts


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _public_texts(root: Path, pattern: str = "*.jsonl") -> list[str]:
    out: list[str] = []
    for path in sorted(root.rglob(pattern)):
        with path.open(encoding="utf-8") as fh:
            out += [s for line in fh if line.strip() for s in _strings(json.loads(line))]
    return out


@needs_shared
def test_team_tasks_do_not_overlap_public_sets() -> None:
    ours = shingle_index(_team_texts())
    public = _public_texts(SHARED / "router") + _public_texts(DATA_DIR, "mbpp_*.jsonl")
    copied = [t for t in public if overlaps(t, ours)]
    assert not copied, copied[:3]


def test_overlap_finds_a_copied_clause() -> None:
    source = "The keeper counted forty gulls on the wet rocks before the storm came in."
    index = shingle_index([source])
    assert overlaps("Say: counted forty gulls on the wet rocks before the storm, how?", index)
    assert not overlaps("He counted 40 gulls on rocks before a storm.", index)
    assert shingles("too short") == {("too", "short")}


@needs_shared
def test_splits_stay_disjoint_across_sizes() -> None:
    """A small calibration run must not reuse items of a large report run."""
    report = {t.prompt for t in load_tasks("report", per_category=20, exclude_router_corpus=False)}
    small = load_tasks("calibration", per_category=3, exclude_router_corpus=False)
    assert not {t.prompt for t in small} & report


@needs_shared
def test_shipped_outcomes_hold_no_report_item() -> None:
    """The router's evidence must not include the tasks `bench answers` reports on. The
    deal of items to splits skips items that overlap the router corpus, so a corpus change
    can move a calibrated item into the report split: this fails then (recalibrate or drop
    its rows)."""
    path = Path(__file__).parents[2] / "tsr_lsp" / "router" / "pretrained" / "outcomes.jsonl"
    calibrated = {json.loads(line)["task"] for line in path.open() if line.strip()}
    report = {t.id for t in load_tasks("report", per_category=60)}
    assert not sorted(calibrated & report)


def test_team_knowledge_items_grade_their_gold_letter_only() -> None:
    """The multiple-choice knowledge written for calibration: the gold letter scores 1, any
    other 0, and the gold position varies (a model that always says "A" must not pass)."""
    from tsr_lsp.bench.answers.tasks import team_knowledge

    tasks = team_knowledge(SHARED)
    assert len(tasks) == len(gen.knowledge_questions()) and {t.split for t in tasks} == {
        "calibration"
    }
    golds = {t.expected["gold"] for t in tasks}
    assert golds == {0, 1, 2, 3}
    for t in tasks:
        gold = t.expected["gold"]
        assert grade(t, f"{'ABCD'[gold]}") == 1.0
        assert grade(t, f"{'ABCD'[(gold + 1) % 4]}") == 0.0
