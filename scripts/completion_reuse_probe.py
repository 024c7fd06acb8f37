"""Suffix reuse (``completion.reuseSuffix``): same answers, less prompt evaluation?

Development set only (``stdlib``). The scenario is writing code top-down: the masked line
and the ``--typed-lines`` - 1 lines above it are not in the file yet, and the cursor is at
the end of the line before them (a first request fills the cache); the user types those
lines and presses Enter, so the masked line is an empty line with its indentation and the
lines below are unchanged: the second request is the task. The suffix's moved cells are
stale by what was typed (``typed_tokens_mean``). Per task
both arms run in one process, alternating which goes first: the suffix evaluated again
(``fresh``) and the suffix's cells moved (``moved``). Reports exact match of each arm, how
many answers differ, evaluated prompt tokens and the prefill time (p50). The first request
of an arm starts from the cache the other arm left: it shares that prompt up to the cursor
and is evaluated fully from there (a prefix that got shorter moves nothing).

``--scenario open`` measures window reuse instead: the masked file has just opened and
was prewarmed whole (``prefetchOnOpen``: the file from its top, the cursor unknown); the
task is the first request. ``fresh`` evaluates its window and suffix (sharing only what
starts the file), ``moved`` takes them out of the prewarmed cells (``window_reuse``).

  .venv/bin/python scripts/completion_reuse_probe.py [--limit N] [--scenario enter|open]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time

from tsr_lsp.backends.base import GenerationRequest
from tsr_lsp.bench import fim_data
from tsr_lsp.completion.context import file_prompt, locate, wants_multiline
from tsr_lsp.completion.postprocess import postprocess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--typed-lines", type=int, default=1, help="lines typed, Enter included")
    ap.add_argument("--scenario", choices=("enter", "open"), default="enter")
    ap.add_argument("--gguf", default="", help=fim_data.GGUF_HELP)
    args = ap.parse_args()
    conf, backend = fim_data.inline_coder(args.gguf)
    tasks = fim_data.load("stdlib")[: args.limit or None]
    load = os.getloadavg()[0]
    arms: dict[str, dict[str, list[float]]] = {
        a: {"em": [], "evaluated": [], "ms": []} for a in ("fresh", "moved")
    }
    differ = []
    typed: list[int] = []

    def request(text: str, line: int, col: int, reuse: bool) -> GenerationRequest:
        cur = locate(text, line, col)
        assert cur is not None
        return fim_data.line_request(conf, cur, reuse_suffix=reuse)

    for i, task in enumerate(tasks):
        lines = task.text.split("\n")
        top = task.line - args.typed_lines  # the cursor's line in the first request
        if top < 0:
            continue
        before = "\n".join(lines[: top + 1] + lines[task.line + 1 :])
        opened = file_prompt(lines, prefix_tokens=conf.file_prewarm_tokens)
        prewarm = GenerationRequest(prompt=opened.prefix, suffix="", max_tokens=0)
        cur = locate(task.text, task.line, task.column)
        assert cur is not None
        multi = wants_multiline(cur, conf.multiline)
        if args.scenario == "enter":  # what the moved cells never saw
            text = "\n".join(["", *lines[top + 1 : task.line], lines[task.line][: task.column]])
            typed.append(backend.count_tokens(text))
        answers = {}
        order = ("fresh", "moved") if i % 2 else ("moved", "fresh")
        for arm in order:
            reuse = arm == "moved"
            if args.scenario == "open":
                backend.prefill(dataclasses.replace(prewarm, reuse_suffix=reuse))
            else:
                backend.prefill(request(before, top, len(lines[top]), reuse))
            req = request(task.text, task.line, task.column, reuse)
            t0 = time.perf_counter()
            pre = backend.prefill(req)
            ms = (time.perf_counter() - t0) * 1000
            raw = backend.generate(req).text
            line = postprocess(raw, cur, multiline=multi).text.split("\n", 1)[0].strip()
            answers[arm] = line
            arms[arm]["em"].append(float(line == task.expected))
            arms[arm]["evaluated"].append(pre.evaluated_tokens)
            arms[arm]["ms"].append(ms)
        if answers["fresh"] != answers["moved"]:
            differ.append(
                {
                    "i": i,
                    "expected": task.expected,
                    "fresh": answers["fresh"],
                    "moved": answers["moved"],
                }
            )
        print(i, answers, flush=True)
    report: dict[str, object] = {"tasks": len(arms["fresh"]["em"])}
    for arm, data in arms.items():
        report[f"{arm}_em"] = round(statistics.mean(data["em"]), 3)
        report[f"{arm}_evaluated_mean"] = round(statistics.mean(data["evaluated"]), 1)
        report[f"{arm}_prefill_p50_ms"] = round(statistics.median(data["ms"]), 1)
    if typed:
        report["typed_tokens_mean"] = round(statistics.mean(typed), 1)
    report |= {"answers_differ": len(differ), "load_before": round(load, 2)}
    report["load_after"] = round(os.getloadavg()[0], 2)
    for d in differ:
        print(json.dumps(d))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
