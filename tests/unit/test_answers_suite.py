"""The suite's tasks: two disjoint splits, answers known by construction, and the team's
own items free of 8-word overlap with the public sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tsr_lsp import paths
from tsr_lsp.bench.answers import CATEGORIES, grade, load_tasks
from tsr_lsp.bench.answers import generated as gen
from tsr_lsp.bench.answers.codeexec import run_tests
from tsr_lsp.bench.answers.graders import GRADERS
from tsr_lsp.bench.answers.tasks import DATA_DIR
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


def test_mbpp_references_pass_their_tests_and_a_wrong_one_does_not() -> None:
    rows = [json.loads(line) for line in (DATA_DIR / "mbpp_sanitized_subset.jsonl").open()]
    assert len(rows) == 47
    for row in rows[::4]:
        setup = "\n".join(row["test_imports"])
        run = run_tests(row["code"], row["test_list"], setup=setup)
        assert run.passed == run.total, (row["task_id"], run)
    row = rows[0]
    assert run_tests("def similar_elements(a, b):\n    return ()", row["test_list"]).passed == 0


def _team_texts() -> list[str]:
    texts: list[str] = []
    for split in ("report", "calibration"):
        texts += [it["prompt"] for it in gen.extraction_items(split, 30)]
        texts += [it["prompt"] for it in gen.writing_items(split, 30)]
        texts += [it["prompt"] for it in gen.chat_items(split, 30)]
        for f in gen.memory_followups(split):
            texts += [f.earlier, f.followup]
    return texts


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _public_texts(root: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(root.rglob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            out += [s for line in fh if line.strip() for s in _strings(json.loads(line))]
    return out


@needs_shared
def test_team_tasks_do_not_overlap_public_sets() -> None:
    ours = shingle_index(_team_texts())
    public = _public_texts(SHARED / "router") + _public_texts(DATA_DIR)
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
