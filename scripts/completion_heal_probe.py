"""Does leaving the last space of the cursor line's indentation out of the prompt help?
(docs/COMPLETION.md, "One space of healing")

Development sets only (``stdlib``, ``project`` of tsr_lsp/bench/fim_data.py). A line of
code tokenizes as "   " + " return" (Qwen2.5-Coder's BPE), so a prefix ending in the whole
indentation ends where the tokenizer never splits; without its last space it ends where it
does, and the completion's first token carries the space (removed again). Per task, in
alternating order, the server's prompt (``tsr_answer``: window, stop rule, post-processing)
without any healing (``plain``) and with one space left out (``one``).

  .venv/bin/python scripts/completion_heal_probe.py --set stdlib --limit 120
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import completion_window_probe as window_probe

from tsr_lsp.bench import fim_data
from tsr_lsp.completion.context import FimPrompt, build_prompt, locate

ONE_SPACE = {"on": False}


def one_space(cur: Any, **kw: Any) -> FimPrompt:
    prompt = build_prompt(cur, **kw)
    line = cur.line_prefix
    if ONE_SPACE["on"] and line.endswith(" ") and not line.strip() and not prompt.healed:
        return dataclasses.replace(prompt, prefix=prompt.prefix[:-1], healed=" ")
    return prompt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="stdlib", choices=("stdlib", "project"))
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("--out", default="", help="one JSON line per task (outside the repo)")
    ap.add_argument("--gguf", default="", help=fim_data.GGUF_HELP)
    args = ap.parse_args()
    window_probe.build_prompt = one_space  # tsr_answer builds its prompt through this
    conf, backend = fim_data.inline_coder(args.gguf)
    conf = dataclasses.replace(conf, heal=False)
    window = [conf.prefix_tokens, conf.suffix_tokens, "definition"]
    tally = window_probe.Tally(["plain", "one"], "suffix_tokens_mean", args.out)
    for i, task in enumerate(fim_data.sample(fim_data.load(args.set), args.limit)):
        cur = locate(task.text, task.line, task.column)
        assert cur is not None
        row: dict[str, Any] = {"expected": task.expected}
        for name in ("plain", "one") if i % 2 == 0 else ("one", "plain"):
            ONE_SPACE["on"] = name == "one"
            got, prompt = window_probe.tsr_answer(backend, cur, window, conf)
            tally.add(row, name, got, task.expected, prompt.extra["suffix_tokens"])
        tally.task_done(row)
    tally.summary()


if __name__ == "__main__":
    main()
