"""Where a docstring action's time goes: the engine with the docstring template on the
tasks of `tsr-lsp bench actions`, three arms in one process (the order alternating by
task), the model's KV cache emptied before each run so every arm reads its whole prompt:

- whole: the model writes the definition's header, then the whole docstring (as before
  the answer start and the summary line; the stop after the closed docstring stays);
- header: the header given as the answer's start, the whole docstring written;
- summary: the header given, stopped after the docstring's first sentence (the default).

Memory off, default threads, the route the server takes (kind refactor, category code).

    .venv/bin/python scripts/docstring_probe.py [--limit 8] [--out rows.jsonl]
"""

from __future__ import annotations

import argparse
import functools
import json
import time

from tsr_lsp.actions.edits import docstring_answer_start, docstring_written
from tsr_lsp.bench.actions import tasks
from tsr_lsp.config import load_settings
from tsr_lsp.engine import Engine, GenerateOptions
from tsr_lsp.router.decision import RouteRequest

ARMS = ("whole", "header", "summary")


def empty_caches(engine: Engine) -> None:
    for slot in engine.pool._slots.values():
        llm = getattr(slot.backend, "llm", None)
        if llm is not None:
            llm.reset()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    settings, _ = load_settings()
    settings.memory.enabled = False
    engine = Engine(settings)
    rows = []
    for i, task in enumerate(tasks(args.limit)):
        name = task.name.split(".")[-1]
        for arm in ARMS if i % 2 else ARMS[::-1]:
            empty_caches(engine)
            options = GenerateOptions(
                template="docstring",
                variables={"text": "", "style": "summary"},
                max_tokens=400,
                enough=functools.partial(
                    docstring_written, language="python", name=name, summary=arm == "summary"
                ),
                answer_start=docstring_answer_start(task.code, "python") if arm != "whole" else "",
            )
            request = RouteRequest(
                f"Add a docstring to function {name}", "refactor", "python", task.code
            )
            started = time.perf_counter()
            out = engine.generate(request, options=options).to_json()
            row = {
                "task": task.name,
                "arm": arm,
                "wall_s": round(time.perf_counter() - started, 2),
                "ttft_ms": out["timings"]["ttftMs"],
                **out["usage"],
                "model": out["decision"]["model"],
                "text": out["text"],
            }
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "text"}), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    for arm in ARMS:
        got = [r for r in rows if r["arm"] == arm]
        mean = {
            k: sum(r[k] for r in got) / len(got)
            for k in ("wall_s", "ttft_ms", "promptTokens", "completionTokens")
        }
        print(
            f"{arm}: {mean['wall_s']:.2f} s, first token {mean['ttft_ms']:.0f} ms, "
            f"prompt {mean['promptTokens']:.0f} tokens, written {mean['completionTokens']:.1f}"
        )


if __name__ == "__main__":
    main()
