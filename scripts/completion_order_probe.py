"""PSM or SPM for inline completion? (docs/COMPLETION.md, "Next-line on long files")

Development set only (``stdlib`` of tsr_lsp/bench/fim_data.py). One process, one model
instance, the server's prompt window (640 / 256 tokens). ``latency``: per task, the prompt at
the masked line is evaluated, then the masked line is written in and Enter pressed (a new
line, same indentation, the lines below unchanged) and that prompt's evaluation is timed,
PSM and SPM alternating. ``quality``: the first line of a greedy answer in each order,
post-processed as the server does, compared with the masked line.

  .venv/bin/python scripts/completion_order_probe.py latency --limit 10
  .venv/bin/python scripts/completion_order_probe.py quality --limit 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from tsr_lsp.backends.base import GenerationRequest
from tsr_lsp.bench import fim_data
from tsr_lsp.completion.context import build_prompt, locate, wants_multiline
from tsr_lsp.completion.postprocess import postprocess

ORDERS = ("psm", "spm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("latency", "quality"))
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--gguf", default="", help=fim_data.GGUF_HELP)
    args = ap.parse_args()
    conf, backend = fim_data.inline_coder(args.gguf)
    tasks = fim_data.sample(fim_data.load("stdlib"), 60)[: args.limit]
    ms: dict[str, list[float]] = {o: [] for o in ORDERS}
    evaluated: dict[str, list[int]] = {o: [] for o in ORDERS}
    right = dict.fromkeys(ORDERS, 0)
    load = os.getloadavg()[0]
    for i, task in enumerate(tasks):
        cur = locate(task.text, task.line, task.column)
        assert cur is not None
        pre, suf = conf.prefix_tokens, conf.suffix_tokens
        prompt = build_prompt(cur, prefix_tokens=pre, suffix_tokens=suf, heal=False)
        lines = task.text.split("\n")
        indent = lines[task.line]
        typed = [*lines[: task.line], indent + task.expected, indent, *lines[task.line + 1 :]]
        below = locate("\n".join(typed), task.line + 1, len(indent))
        assert below is not None
        second = build_prompt(below, prefix_tokens=pre, suffix_tokens=suf, heal=False)
        for order in ORDERS if i % 2 else ORDERS[::-1]:
            req = GenerationRequest(prompt=prompt.prefix, suffix=prompt.suffix, fim_order=order)
            if args.what == "quality":
                req = dataclasses.replace(req, max_tokens=40, temperature=0.0, stop=["\n"])
                req = dataclasses.replace(req, repeat_penalty=1.0)
                raw = backend.generate(req).text
                multi = wants_multiline(cur, conf.multiline)
                got = postprocess(raw, cur, multiline=multi).text.split("\n", 1)[0].strip()
                right[order] += got == task.expected
                continue
            backend.prefill(req)
            start = time.perf_counter()
            done = backend.prefill(
                GenerationRequest(prompt=second.prefix, suffix=second.suffix, fim_order=order)
            )
            ms[order].append((time.perf_counter() - start) * 1000)
            evaluated[order].append(done.evaluated_tokens)
        print(i, right if args.what == "quality" else {o: round(x[-1]) for o, x in ms.items()})
    out: dict[str, object] = {"tasks": len(tasks), "load_before": round(load, 2)}
    if args.what == "quality":
        out["exact_match"] = {o: round(n / max(1, len(tasks)), 3) for o, n in right.items()}
    else:
        out["typed_next_line_prefill_p50_ms"] = {
            o: round(sorted(x)[len(x) // 2]) for o, x in ms.items()
        }
        out["evaluated_mean"] = {o: round(sum(x) / len(x)) for o, x in evaluated.items()}
    out["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
