"""The shipped training corpus: public data (../shared/data/router) + the team's own prompts.

Every rule that turns a benchmark row into a labelled user prompt lives here and is written
down in docs/ROUTER.md. Benchmark scaffolding ("Question:", "Q:", "A:", "Answer:",
"Choices:") is stripped; rows with answer choices appear both with and without them (when
the question stands alone) in several formats; large sources are capped so that no single
benchmark's wording dominates a category. Everything is deterministic for a seed.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tsr_lsp.router.data import Example, load_jsonl
from tsr_lsp.router.features import hard_code_terms

TEAM_DIR = Path(__file__).parent / "data"
CAPS = {
    "gsm8k": 1745,  # was 1,200 + SVAMP 300 + AQuA 245 (test splits, below)
    "triviaqa": 1300,  # was 700 + ARC 1,200: the ARC files are ARC's test split (eval only)
    "commonsense_qa": 600,  # was 150; + 830 for StrategyQA, logical deduction, LSAT-AR
    "siqa": 680,  # was 300
    "boolq": 500,
}
# Files in ../shared/data/router/foundry that are a benchmark's TEST split or an
# evaluation-only set: never trained on (docs/ROUTER.md "Which split each file is").
EVALUATION_ONLY = {
    "arc_easy": "ARC test split (2,376 rows = its test size)",
    "arc_challenge": "ARC test split (1,172 rows = its test size)",
    "agi_eval_lsat_ar": "AGIEval LSAT-AR: AGIEval is test-only (230 = its size)",
    "agi_eval_lsat_rc": "AGIEval LSAT-RC: AGIEval is test-only (268 of its 269)",
    "aqua": "AQuA-RAT test split via AGIEval (245 of 254; test and dev are 254 each)",
    "svamp": "SVAMP's 300-problem test part of the 700/300 split",
    "enterprise_pii_classification": "Patronus EnterprisePII: an evaluation set, no train split",
    "bigbench_strategy_qa": "BIG-bench task (canary: never in training corpora)",
    "bigbench_logical_deduction": "BIG-bench task (canary; BBH's test items are among them)",
    "bigbench_understanding_fables": "BIG-bench task (canary: never in training corpora)",
}

# Self-Instruct rows labelled by hand, in file order, ten per group (letters -> _LETTERS).
_LETTERS = {
    "C": "code",
    "M": "math",
    "R": "reasoning",
    "W": "writing",
    "E": "extraction",
    "A": "analysis",
    "K": "knowledge",
    "H": "chat",
}
SEED_LABELS = (
    "KRKWWWWKWK KKKAWRKWWK WWMKWMEHCW KCKWHMKCKE WCWWWMWWKW CWKEKWKWMW "
    "KCAWAKWEWC KKCKWWWWEW WKKMWEWWKW WKKWAKWWWK WWKKAHWKWM MKWWAKWWKW "
    "KKAWWKWKKW RKMKKAMACC CCKKMWKKAA AAAAARAACA KKEKMAAAAA EAAAK"
).replace(" ", "")
USER_LABELS = (
    "WAWWWWWWWW WCCCCMCKWM WWWWWWKKEW KAWKKKKKCC CKKKKAKKKW KKWWWWWWWW "
    "WWWWWWWWWK KKWWWWWCCW AKKKKKWKKC CACCKKCAAW WAEWKKKWKK WWKKMKKHKW "
    "KWWWKKKEKK KKKRRWKKKK MMMMMKKKKM RWKHHHWEAA AWEAAAAWKW KKKRKAEKCE "
    "KAWAARWWWW CEKWACRAKW KWAKWCWWWK CWEAKKWWWW WKKWEACCWK WCAKAAWKAK "
    "WKCCAKWEWW KK"
).replace(" ", "")

# arena-hard v0.1 clusters: topic names, labelled by these rules, first match wins.
_CLUSTER_RULES: list[tuple[str, str]] = [
    (
        r"python|javascript|typescript|java\b|c\+\+|rust|sql|django|flask|react|node|php|"
        r"kotlin|swift|css|html|regex|linux|docker|kubernetes|aws|scripting|programming|"
        r"development|coding|code|bot\b|algorithm|gui|tkinter|pandas|matplotlib|pytorch|"
        r"jax|cuda|vba|assembly|shader|hdl|awk|nix|odoo|laravel|symfony|streamlit|gradio|"
        r"shiny|databricks|spark|scraping|linked list|array|fibonacci|tidyverse|concurrency|"
        r"sockets|autoencoder|rnn|testing|mocking|cron|ffmpeg|pdf processing|audio processing|"
        r"data structures|looping|caldav|cors|browser extension|roblox|wpf|vb6|monads|"
        r"subtitle|video download|kernel|terminal|package management|string reversal|"
        r"word position|character indexing|excel|gis|web page|e-commerce|json|random number",
        "code",
    ),
    (
        r"math|algebra|number theory|probability|statistic|calculation|geometry|dice|"
        r"irrationality|real analysis|standard deviation|sample size|investment growth|"
        r"time and speed|circular motion|consecutive draws|bulk ticket|optimal walking|"
        r"prime and perfect|money and transaction|triangle",
        "math",
    ),
    (r"puzzle|riddle|comparative truths|conflicting instructions|lambda calculus", "reasoning"),
    (r"sentiment|review analysis|entity relationship extraction", "analysis"),
    (r"rpg|story|poem|satire|panel discussion|rehearsed inner dialog|text-based", "writing"),
]

_WRAPPERS = (
    "",
    "",
    "",
    "",
    "",
    "Quick question: ",
    "Can you help me with this? ",
    "Please answer: ",
    "I need some help. ",
    "Hey, ",
)


_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |#include|public |function |const |let |var |"
    r"return\b|if \(|for \(|while \(|}|SELECT )|[;{]\s*$",
    re.M,
)


def code_difficulty(text: str) -> float:
    """Difficulty label of a code request (0..1; CoT = round(3 x difficulty)), by rule:
    a common single-function or snippet task is easy (0.1 -> CoT 0); length, pasted code to
    work on and design / concurrency / whole-system words (0.3 each, at most two) make it
    harder (up to 1 -> CoT 3)."""
    words = len(text.split())
    d = 0.1
    if words > 60:
        d += 0.2
    if words > 200:
        d += 0.15
    if "```" in text or len(_CODE_LINE.findall(text)) >= 3:
        d += 0.15
    d += 0.3 * min(2, hard_code_terms(text))
    return round(min(1.0, d), 2)


def _cluster_category(cluster: str) -> str | None:
    low = cluster.lower()
    for pattern, category in _CLUSTER_RULES:
        if re.search(pattern, low):
            return category
    return None


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


_SCAFFOLD_HEAD = re.compile(r"^\s*(?:Question|Q|Context|Passage)\s*:\s*", re.I)
_SCAFFOLD_TAIL = re.compile(r"\s*(?:\n|^)\s*(?:Answer|A)\s*:\s*$", re.I)


def strip_scaffold(text: str) -> str:
    """Remove benchmark labels so the text reads like something a user typed."""
    text = _SCAFFOLD_TAIL.sub("", text.strip())
    text = re.sub(r"(?im)^\s*(?:Question|Q|Context|Passage)\s*:\s*", "", text)
    return text.strip()


_CHOICE = re.compile(r"^\s*(?:\([A-Ea-e]\)|[A-Ea-e](?:\.\)|[.)]))\s+(.*)$")


def split_choices(text: str) -> tuple[str, list[str]]:
    """`stem\\nA. x\\nB. y` -> (stem, [x, y]); no choice block -> (text, [])."""
    lines = text.rstrip().split("\n")
    choices: list[str] = []
    while lines:
        m = _CHOICE.match(lines[-1])
        if not m:
            break
        choices.insert(0, m.group(1).strip())
        lines.pop()
    if lines and lines[-1].strip().lower() == "choices:":
        lines.pop()
    if len(choices) < 2:
        return text, []
    return "\n".join(lines).strip(), choices


def format_choices(stem: str, choices: list[str], rng: random.Random) -> str:
    style = rng.randrange(5)
    letters = "ABCDE"
    if style == 0:
        body = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(choices))
    elif style == 1:
        body = "\n".join(f"({letters[i].lower()}) {c}" for i, c in enumerate(choices))
    elif style == 2:
        body = "\n".join(f"{letters[i]}) {c}" for i, c in enumerate(choices))
    elif style == 3:
        body = "Options: " + ", ".join(choices[:-1]) + " or " + choices[-1]
    else:
        body = "\n".join(f"- {c}" for c in choices)
    return f"{stem}\n{body}"


def _question_variants(
    stem: str, choices: list[str], rng: random.Random, needs_choices: bool
) -> str:
    wrap = rng.choice(_WRAPPERS)
    if choices and (needs_choices or rng.random() < 0.5):
        return wrap + format_choices(stem, choices, rng)
    return wrap + stem


def _cap(rows: list[Example], name: str, rng: random.Random) -> list[Example]:
    cap = CAPS.get(name)
    if cap is not None and len(rows) > cap:
        rows = rng.sample(rows, cap)
    return rows


# --------------------------------------------------------------------------- sources


def gsm8k(root: Path, rng: random.Random) -> list[Example]:
    out = []
    for r in _rows(root / "gsm8k_train.jsonl"):
        steps = len([ln for ln in r["answer"].split("\n") if ln and not ln.startswith("####")])
        text = rng.choice(_WRAPPERS) + r["question"]
        out.append(
            Example(text, "math", difficulty=min(1.0, max(0.0, (steps - 1) / 6)), source="gsm8k")
        )
    return _cap(out, "gsm8k", rng)


_CODE_MARK = re.compile(
    r"```|\bdef |\bimport |#include|\bclass |\bfunction\b|\bprogram|"
    r"\bcode\b|python|c\+\+|java\b|lập trình|编程|代码",
    re.I,
)


def arena_v2(root: Path, rng: random.Random) -> list[Example]:
    out = []
    for r in _rows(root / "arena_hard_v2_questions.jsonl"):
        sub = r.get("subcategory")
        text = r["prompt"].strip()
        if sub == "coding":
            out.append(
                Example(text, "code", difficulty=code_difficulty(text), source="arena_v2_code")
            )
        elif sub == "math":
            cat = "code" if _CODE_MARK.search(text) else "math"
            diff = code_difficulty(text) if cat == "code" else 0.9
            out.append(Example(text, cat, difficulty=diff, source="arena_v2_math"))
        elif sub == "creative_writing":
            out.append(Example(text, "writing", source="arena_v2_writing"))
    return out


def arena_v01(root: Path, rng: random.Random) -> list[Example]:
    out = []
    for r in _rows(root / "arena_hard_v01_questions.jsonl"):
        cat = _cluster_category(r.get("cluster", ""))
        if cat is not None:
            diff = 0.8 if cat in ("math", "reasoning") else None
            if cat == "code":
                diff = code_difficulty(r["prompt"])
            out.append(Example(r["prompt"].strip(), cat, difficulty=diff, source="arena_v01"))
    return out


def self_instruct(root: Path, rng: random.Random) -> list[Example]:
    out = []
    for fname, labels, source in (
        ("self_instruct_seed_tasks.jsonl", SEED_LABELS, "si_seed"),
        ("self_instruct_user_oriented.jsonl", USER_LABELS, "si_user"),
    ):
        rows = list(_rows(root / fname))
        if len(rows) != len(labels):
            raise ValueError(f"{fname}: {len(rows)} rows but {len(labels)} labels")
        for r, letter in zip(rows, labels, strict=True):
            cat = _LETTERS[letter]
            instances = r.get("instances") or [{"input": ""}]
            for inst in instances[:2]:
                inp = (inst.get("input") or "").strip()
                sep = rng.choice(("\n\n", "\n", " "))
                text = r["instruction"].strip() + (sep + inp if inp else "")
                out.append(Example(text, cat, source=source))
    return out


def _foundry(root: Path, group: str, name: str) -> list[dict[str, Any]]:
    return list(_rows(root / "foundry" / group / f"{name}.jsonl"))


def knowledge_sources(root: Path, rng: random.Random) -> list[Example]:
    """TriviaQA questions; not ARC: ../shared/data's ARC files are its test split, which is
    for evaluation only (docs/ANSWERS.md reports on it)."""
    rows = []
    for r in _foundry(root, "world_knowledge", "triviaqa_sm_sub"):
        stem = strip_scaffold(r["context"])
        rows.append(
            Example(rng.choice(_WRAPPERS) + stem, "knowledge", difficulty=0.2, source="triviaqa")
        )
    return _cap(rows, "triviaqa", rng)


def reasoning_sources(root: Path, rng: random.Random) -> list[Example]:
    """CommonsenseQA and SIQA: their validation splits (test labels are unpublished).
    StrategyQA and logical deduction (BIG-bench) and LSAT-AR (AGIEval) are evaluation data."""
    out = []
    for name, source in (("commonsense_qa", "commonsense_qa"), ("siqa", "siqa")):
        rows = []
        for r in _foundry(root, "commonsense_reasoning", name):
            stem, choices = split_choices(strip_scaffold(r["query"]))
            stem = stem.replace("\n", " ")
            text = _question_variants(stem, choices, rng, True)
            rows.append(Example(text, "reasoning", difficulty=0.3, source=source))
        out += _cap(rows, source, rng)
    return out


_BOOLQ_FORMS = (
    "{p}\n\n{q}?",
    "{p}\n\nBased on the text above, {q}?",
    "Read this passage and answer yes or no: {q}?\n\n{p}",
    "{q}? Answer using only this text:\n{p}",
    "Text: {p}\nQuestion: {q}?",
    'According to the following paragraph, {q}?\n"{p}"',
)


def reading_sources(root: Path, rng: random.Random) -> list[Example]:
    """BoolQ's validation split as extraction. LSAT-RC (AGIEval), fables (BIG-bench) and
    EnterprisePII are evaluation data."""
    rows = []
    for r in _foundry(root, "reading_comprehension", "boolq"):
        body = strip_scaffold(r["query"])
        passage, _, question = body.rpartition("\n")
        question = question.strip().rstrip("?")
        if not passage:
            continue
        text = rng.choice(_BOOLQ_FORMS).format(p=passage.strip(), q=question)
        rows.append(Example(text, "extraction", source="boolq"))
    return _cap(rows, "boolq", rng)


def team_sources() -> list[Example]:
    """The team's own prompts (tsr_lsp/router/data/*.jsonl); `source` = file stem."""
    out = []
    for path in sorted(TEAM_DIR.glob("*.jsonl")):
        for ex in load_jsonl(path):
            ex.source = ex.source or path.stem
            out.append(ex)
    return out


def default_shared_dir() -> Path:
    from tsr_lsp import paths

    return paths.shared_data_dir() / "router"


def build_corpus(shared: Path | None = None, seed: int = 0, team: bool = True) -> list[Example]:
    """All labelled examples, deterministic for ``seed``."""
    root = Path(shared) if shared else default_shared_dir()
    if not (root / "gsm8k_train.jsonl").is_file():
        raise FileNotFoundError(
            f"{root}: shared router data not found; pass --shared DIR (../shared/data/router)"
        )
    rng = random.Random(seed)
    out: list[Example] = []
    for builder in (
        gsm8k,
        arena_v2,
        arena_v01,
        self_instruct,
        knowledge_sources,
        reasoning_sources,
        reading_sources,
    ):
        out += builder(root, rng)
    if team:
        out += team_sources()
    for ex in out:  # every code row gets a difficulty label (rule: code_difficulty)
        if ex.category == "code" and ex.difficulty is None and ex.cot_steps is None:
            ex.difficulty = code_difficulty(ex.text)
    return [ex for ex in out if ex.text.strip()]
