"""Does a llama.cpp build make prompt evaluation faster? (docs/BACKENDS.md, "Build flags")

Each build is a folder holding a ``llama_cpp`` package (``pip install --no-deps --target
DIR llama-cpp-python==... `` with the CMAKE_ARGS to try; "" = the venv's own). Rounds
alternate the builds, one fresh process each, so both see the same machine load. A process
loads the default coder model with the daemon's constructor arguments (``llama_kwargs``),
evaluates the same ~640-token prompt (this repository's own source, no dataset) three times
from an empty cache and generates 32 tokens greedily; the driver prints the medians and the
ratios to the first build.

  .venv/bin/python scripts/llama_build_probe.py "" /tmp/avx512 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

CHILD = r"""
import json, time
from pathlib import Path
import llama_cpp
from tsr_lsp.backends.llama_cpp import llama_kwargs
from tsr_lsp.config import default_models
profile = default_models()["coder"]
llm = llama_cpp.Llama(**llama_kwargs(profile))
source = Path("tsr_lsp/completion/context.py").read_text()
tokens = llm.tokenize(source.encode())[:640]
prefill = []
for _ in range(3):
    llm.reset()
    start = time.perf_counter()
    llm.eval(tokens)
    prefill.append(time.perf_counter() - start)
start = time.perf_counter()
out = llm.create_completion(source[:1500], max_tokens=32, temperature=0.0)
gen = time.perf_counter() - start
print(json.dumps({"prefill_tok_s": len(tokens) / min(prefill),
                  "completion_s": gen, "text": out["choices"][0]["text"],
                  "system": llama_cpp.llama_print_system_info().decode()}))
"""


def run_child(build: str) -> dict[str, object]:
    env = dict(os.environ)
    if build:
        env["PYTHONPATH"] = os.pathsep.join(x for x in (build, env.get("PYTHONPATH", "")) if x)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"build {build or '(venv)'} failed:\n{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("builds", nargs="+", help='folders with a llama_cpp package ("" = venv)')
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    rows: dict[str, list[dict[str, object]]] = {b: [] for b in args.builds}
    load = [os.getloadavg()[0]]
    started = time.time()
    for n in range(args.rounds):
        order = args.builds if n % 2 == 0 else list(reversed(args.builds))
        for build in order:
            rows[build].append(run_child(build))
    load.append(os.getloadavg()[0])
    base = args.builds[0]
    summary: dict[str, object] = {"rounds": args.rounds, "load": load}
    for build, got in rows.items():
        tok_s = median(float(str(r["prefill_tok_s"])) for r in got)
        gen_s = median(float(str(r["completion_s"])) for r in got)
        summary[build or "(venv)"] = {
            "prefill_tok_s": round(tok_s, 1),
            "completion_32_s": round(gen_s, 3),
            "same_text_as_first_build": got[0]["text"] == rows[base][0]["text"],
            "system": got[0]["system"],
        }
    for build in args.builds[1:]:
        a, b = summary[base or "(venv)"], summary[build or "(venv)"]
        assert isinstance(a, dict) and isinstance(b, dict)
        b["prefill_ratio"] = round(b["prefill_tok_s"] / a["prefill_tok_s"], 2)
        b["completion_ratio"] = round(b["completion_32_s"] / a["completion_32_s"], 2)
    summary["minutes"] = round((time.time() - started) / 60, 1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
