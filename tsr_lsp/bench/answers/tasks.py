"""The answer-quality suite: gradable tasks per router category, in two disjoint splits.

- ``calibration``: the router may learn from outcomes on these (`tsr-lsp router
  calibrate`); never quoted as a result.
- ``report``: the numbers in docs/ANSWERS.md come from these; nothing trains on them.

Each public source is shuffled with a fixed seed and dealt alternately (even positions to
report, odd to calibration), so the two never share an item whatever size a run asks for.
Items whose text shares an 8-word run with the router's training corpus are skipped (the
router must not have seen a report prompt). The team's own tasks (generated.py) draw the
two splits from disjoint word pools. Public data is read from ../shared/data at run time;
only two small MBPP subsets are vendored (data/, CC BY 4.0; no PyPI package ships MBPP):
its TEST split (ids 11-510) for report only, its train/validation split (511-974) for
calibration only; ARC (its test set) reports only, TriviaQA and the team's multiple-choice
questions calibrate. No public test-split item ever reaches calibration
(`public_test_item`). docs/ANSWERS.md lists every source and licence.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tsr_lsp import paths
from tsr_lsp.bench.answers import generated
from tsr_lsp.bench.answers.graders import GRADERS
from tsr_lsp.config import CATEGORIES

log = logging.getLogger(__name__)

SPLITS = ("calibration", "report")
__all__ = ["CATEGORIES", "SPLITS", "Task", "grade", "load_tasks"]
# generation budget per category: the same for every profile and for routing, so
# latencies compare like for like (room for the policy's chain of thought where it has one)
MAX_TOKENS = {
    "code": 384,
    "math": 384,
    "reasoning": 256,
    "writing": 256,
    "extraction": 160,
    "analysis": 128,
    "knowledge": 192,
    "chat": 96,
}
DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass
class Task:
    """One gradable request. ``expected`` is the grader's data (tests, answer, options and
    gold, fields, label, instruction checks); ``source`` names the dataset and licence."""

    id: str
    category: str
    prompt: str
    grader: str
    expected: dict[str, Any]
    split: str
    source: str
    max_tokens: int = 256
    kind: str = "ask"
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Task:
        return cls(**raw)


def grade(task: Task, text: str) -> float:
    """The answer's score in 0..1 (1 = right)."""
    return float(GRADERS[task.grader](text, task.expected))


# ------------------------------------------------------------------ public sources
def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


CHOICE_INSTRUCTION = "\nAnswer with the letter of the correct option."  # after the options
TEAM_SOURCE = "written for tsr-lsp (generated.py), Apache-2.0"


def _options(question: str, choices: list[str]) -> str:
    lines = [f"{'ABCDEFGH'[i]}. {c}" for i, c in enumerate(choices)]
    return f"{question}\n" + "\n".join(lines) + CHOICE_INSTRUCTION


def _strip_scaffold(query: str) -> str:
    q = re.sub(r"^\s*(?:Question|Q)\s*:\s*", "", query.strip())
    return re.sub(r"\s*(?:Answer|A)\s*:\s*$", "", q).strip()


# MBPP's official split by task_id (Austin et al. 2021; google-research mbpp/README.md):
# 1-10 few-shot prompts, 11-510 TEST, 511-600 validation, 601-974 train.
MBPP_TEST_IDS = range(11, 511)
MBPP_FILES = {
    "report": "mbpp_sanitized_test_subset.jsonl",  # evaluation only: never trained on
    "calibration": "mbpp_sanitized_trainval_subset.jsonl",  # ids 511-974
}


def public_test_item(task_id: str) -> bool:
    """Whether a task comes from a public benchmark's TEST split (MBPP 11-510; ARC as
    packaged by llm-foundry, which is ARC's test set; HumanEval; GSM8K test). Such items may
    be reported on but never reach the calibration split or the router's outcomes. So are
    sets meant for evaluation only: BIG-bench's StrategyQA (its files ask not to be trained
    on) and Enterprise PII (an evaluation set); docs/ROUTER.md has the split audit."""
    source, _, rest = task_id.partition("/")
    if source == "mbpp":
        return not rest.isdigit() or int(rest) in MBPP_TEST_IDS
    return source in EVALUATION_ONLY


EVALUATION_ONLY = frozenset(
    {"arc_easy", "arc_challenge", "humaneval", "gsm8k_test", "gsm8k", "strategyqa", "pii"}
)


def mbpp(_shared: Path) -> list[Task]:
    """MBPP code tasks, their split fixed by MBPP's own: test-split items only ever report,
    train/validation items only ever calibrate."""
    out = []
    for split, name in MBPP_FILES.items():
        for r in _rows(DATA_DIR / name):
            tests = list(r["test_list"])
            prompt = f"{r['prompt']} Your code should pass this test:\n{tests[0]}"
            out.append(
                Task(
                    id=f"mbpp/{r['task_id']}",
                    category="code",
                    prompt=prompt,
                    grader="code_tests",
                    expected={"tests": tests, "setup": "\n".join(r["test_imports"])},
                    split=split,
                    source="MBPP sanitized (google-research/google-research mbpp/, CC BY 4.0)",
                    meta={"reference": r["code"]},
                )
            )
    return out


def gsm8k(shared: Path) -> list[Task]:
    out = []
    for i, r in enumerate(_rows(shared / "router" / "gsm8k_train.jsonl")):
        answer = r["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
        out.append(
            Task(
                id=f"gsm8k_train/{i}",
                category="math",
                prompt=f"{r['question'].strip()}\nGive the final answer as a number.",
                grader="numeric",
                expected={"answer": float(answer)},
                split="",
                source="GSM8K train split (openai/grade-school-math, MIT)",
            )
        )
    return out


def _foundry(shared: Path, group: str, name: str) -> Iterator[dict[str, Any]]:
    return _rows(shared / "router" / "foundry" / group / f"{name}.jsonl")


FOUNDRY = "via mosaicml/llm-foundry local_data"


def _choice_task(
    task_id: str, category: str, question: str, choices: list[str], gold: int, source: str
) -> Task:
    expected = {"choices": choices, "gold": int(gold)}
    return Task(task_id, category, _options(question, choices), "choice", expected, "", source)


def _yes_no_task(task_id: str, category: str, prompt: str, label: str, source: str) -> Task:
    expected = {"labels": ["yes", "no"], "label": label.lower()}
    return Task(task_id, category, prompt, "label", expected, "", source)


def arc(shared: Path) -> list[Task]:
    """ARC as llm-foundry packages it is ARC's TEST set (2376 easy + 1172 challenge items):
    report split only."""
    source = f"ARC test set (AI2, CC BY-SA 4.0) {FOUNDRY}"
    return [
        _choice_task(
            f"{name}/{i}", "knowledge", _strip_scaffold(r["query"]), r["choices"], r["gold"], source
        )
        for name in ("arc_easy", "arc_challenge")
        for i, r in enumerate(_foundry(shared, "world_knowledge", name))
    ]


def triviaqa(shared: Path) -> list[Task]:
    """Knowledge questions for calibration: llm-foundry's TriviaQA subset, graded against
    the answer's aliases. TriviaQA's test answers are not public, so these labelled rows are
    not test-split items."""
    source = f"TriviaQA (Apache-2.0) {FOUNDRY}"
    out = []
    for i, r in enumerate(_foundry(shared, "world_knowledge", "triviaqa_sm_sub")):
        aliases = sorted({r["answer"], *r.get("aliases", [])})
        prompt = f"{_strip_scaffold(r['context'])} Answer in a few words."
        out.append(
            Task(f"triviaqa/{i}", "knowledge", prompt, "alias", {"aliases": aliases}, "", source)
        )
    return out


def strategyqa(shared: Path) -> list[Task]:
    source = f"StrategyQA (BIG-bench, Apache-2.0) {FOUNDRY}"
    rows = _foundry(shared, "commonsense_reasoning", "bigbench_strategy_qa")
    return [
        _yes_no_task(
            f"strategyqa/{i}",
            "reasoning",
            f"{_strip_scaffold(r['query'])} Answer yes or no, then explain briefly.",
            str(r["choices"][int(r["gold"])]),
            source,
        )
        for i, r in enumerate(rows)
    ]


def commonsense_qa(shared: Path) -> list[Task]:
    out = []
    for i, r in enumerate(_foundry(shared, "commonsense_reasoning", "commonsense_qa")):
        m = re.match(r"\s*Question:\s*(.*?)\nChoices:\n(.*?)\nAnswer:", r["query"], re.S)
        if m:
            choices = [re.sub(r"^[A-E]\.\s*", "", c) for c in m.group(2).splitlines() if c]
            source = f"CommonsenseQA (MIT) {FOUNDRY}"
            question = m.group(1).strip()
            out.append(
                _choice_task(
                    f"commonsense_qa/{i}", "reasoning", question, choices, r["gold"], source
                )
            )
    return out


def pii(shared: Path) -> list[Task]:
    source = f"Enterprise PII classification {FOUNDRY} (repo Apache-2.0)"
    out = []
    for i, r in enumerate(_foundry(shared, "safety", "enterprise_pii_classification")):
        m = re.search(r"Passage:\s*'''\s*(.*?)\s*'''", r["query"], re.S)
        if m:
            prompt = (
                "Does the passage below contain sensitive information? Answer yes or no.\n\n"
                f"Passage: {m.group(1)}"
            )
            label = str(r["choices"][int(r["gold"])])
            out.append(_yes_no_task(f"pii/{i}", "analysis", prompt, label, source))
    return out


def team_analysis(_shared: Path) -> list[Task]:
    """Review sentiment written for tsr-lsp: the calibration split's analysis tasks, since
    Enterprise PII (the only public analysis set here) is for evaluation only."""
    source = TEAM_SOURCE
    return [
        Task(
            it["id"],
            "analysis",
            it["prompt"],
            "label",
            {"labels": ["positive", "negative"], "label": it["label"]},
            "calibration",
            source,
        )
        for it in generated.analysis_items("calibration", 40)
    ]


def team_knowledge(_shared: Path) -> list[Task]:
    """Multiple-choice knowledge written for tsr-lsp: the calibration split's counterpart of
    ARC's format (ARC, a public test set, reports only; TriviaQA asks for free text)."""
    source = TEAM_SOURCE
    out = []
    for it in generated.knowledge_items():
        task = _choice_task(
            it["id"], "knowledge", it["question"], it["choices"], it["gold"], source
        )
        task.split = "calibration"
        out.append(task)
    return out


# sources that serve one split only (public test sets: report; their replacement: calibration)
ONLY_SPLIT = {
    "arc": "report",
    "strategyqa": "report",
    "pii": "report",
    "triviaqa": "calibration",
    "team_analysis": "calibration",
    "team_knowledge": "calibration",
}
PUBLIC_SOURCES = {
    "code": (mbpp,),
    "math": (gsm8k,),
    "knowledge": (arc, triviaqa, team_knowledge),
    "reasoning": (strategyqa, commonsense_qa),
    "analysis": (pii, team_analysis),
}


# ------------------------------------------------------------------ the team's own tasks
def _team_tasks(category: str, split: str, n: int) -> list[Task]:
    source = TEAM_SOURCE
    if category == "extraction":
        return [
            Task(
                it["id"], category, it["prompt"], "fields", {"fields": it["fields"]}, split, source
            )
            for it in generated.extraction_items(split, n)
        ]
    items = (generated.writing_items if category == "writing" else generated.chat_items)(split, n)
    return [
        Task(
            it["id"],
            category,
            it["prompt"],
            "instructions",
            {"checks": it["checks"]},
            split,
            source,
        )
        for it in items
    ]


# ------------------------------------------------------------------ selection
@functools.lru_cache(maxsize=2)
def router_corpus_index(shared: Path) -> frozenset[tuple[str, ...]]:
    """8-word shingles of the router's training corpus (empty when it cannot be built)."""
    from tsr_lsp.overlap import shingle_index

    try:
        from tsr_lsp.router.corpus import build_corpus

        return frozenset(shingle_index(ex.text for ex in build_corpus(shared / "router")))
    except Exception as exc:  # the suite still runs; say why the check is off
        log.warning("answers: router corpus unavailable, overlap check skipped: %s", exc)
        return frozenset()


LeaveOut = Callable[["Task"], bool]  # task -> leave it out of the split being dealt


def _select(pool: list[Task], split: str, n: int, seed: str, leave_out: LeaveOut) -> list[Task]:
    """A seeded shuffle of the items, dealt alternately: even positions report, odd
    positions calibration; items ``leave_out`` refuses (router corpus overlap, copies and
    unjudged mirrors of public test items) are then left out. The deal depends on neither
    ``n`` nor what is left out, so the splits stay disjoint whatever size a run asks for and
    an item never changes split when the router's training data changes (it used to: the
    deal counted only clean items, and calibrated tasks became report tasks). An item whose
    split its source fixes (MBPP by its official split) goes to that split."""
    order = list(pool)
    random.Random(f"tsr-answers:{seed}").shuffle(order)
    want = 0 if split == "report" else 1
    chosen: list[Task] = []
    for position, task in enumerate(order):
        if len(chosen) >= n:
            break
        mine = task.split == split if task.split else position % 2 == want
        if mine and not leave_out(task):
            task.split = split
            chosen.append(task)
    return chosen


def leave_out_rule(banned: frozenset[tuple[str, ...]], split: str) -> LeaveOut:
    """What the suite leaves out of ``split``: an item sharing an 8-word run with the router
    corpus, and from the calibration split an item `tsr-lsp router overlap` flags: a copy of
    an indexed public test item, or a mirror candidate a person has not judged unrelated
    (reviewed.tsv). MBPP and GSM8K repeat problems across their splits (mbpp/558, 573, 576,
    577, 584, 587 and gsm8k_train/7012 reached the shipped outcomes that way); calibrate
    would put them back."""
    from tsr_lsp.overlap import overlaps

    def corpus(task: Task) -> bool:
        return bool(banned) and overlaps(task.prompt, banned)

    if split != "calibration":
        return corpus
    from tsr_lsp.router.overlap import load_index, scan_rows

    sets, reviewed = load_index()
    return lambda task: corpus(task) or bool(scan_rows([("", task.prompt)], sets, reviewed))


def load_tasks(
    split: str = "report",
    categories: Iterable[str] | None = None,
    per_category: int = 20,
    shared: Path | None = None,
    exclude_router_corpus: bool = True,
) -> list[Task]:
    """The suite's tasks for one split, ``per_category`` per category (fewer where a source
    is small), in a fixed order: category by category."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
    wanted = list(categories or CATEGORIES)
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"unknown categories {unknown} (one of {', '.join(CATEGORIES)})")
    shared = shared or paths.shared_data_dir()
    banned = router_corpus_index(shared) if exclude_router_corpus else frozenset()
    leave_out = leave_out_rule(banned, split)
    tasks: list[Task] = []
    for category in wanted:
        if category not in PUBLIC_SOURCES:
            chosen = _team_tasks(category, split, per_category)
        else:
            loaders = [
                f for f in PUBLIC_SOURCES[category] if ONLY_SPLIT.get(f.__name__, split) == split
            ]
            chosen = []
            for j, loader in enumerate(loaders):
                share = per_category // len(loaders) + (j < per_category % len(loaders))
                chosen += _select(loader(shared), split, share, loader.__name__, leave_out)
        if split == "calibration" and any(public_test_item(t.id) for t in chosen):
            raise AssertionError(f"{category}: a public test-split item in calibration")
        for task in chosen:
            task.max_tokens = MAX_TOKENS[category]
        tasks += chosen
    return tasks
