"""Does a second candidate beat the greedy line? (docs/COMPLETION.md, "Second candidate")

Development set only (``stdlib``). One process; per task the server's prompt (640 / 256
tokens), greedy, stop at the newline, post-processed as the server does. When the greedy
line repeats the line below (post-processing then shows nothing) or ends the block
("return", "pass", "raise", "continue", "break") above code at the cursor's indentation,
it asks again greedily with the greedy answer's first token forbidden at the first
position, and takes that answer unless it fails the same way. Prints the flagged tasks
and the exact match with and without.

  .venv/bin/python scripts/completion_candidate_probe.py --limit 60
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from tsr_lsp.backends.base import GenerationRequest
from tsr_lsp.backends.llama_cpp import LlamaCppBackend, sampling_kwargs
from tsr_lsp.bench import fim_data
from tsr_lsp.completion.context import Cursor, locate, wants_multiline
from tsr_lsp.completion.postprocess import Cleaned, postprocess

_ENDS_BLOCK = re.compile(r"^(return|pass|raise|continue|break)\b")


def retry_reason(cleaned: Cleaned, cur: Cursor) -> str | None:
    if cur.line_prefix.strip() or cur.line_suffix.strip():
        return None
    if cleaned.reason == "repeats the line below" and not cleaned.text:
        return "repeats the line below"
    first = cleaned.text.split("\n", 1)[0].strip()
    below = next((x for x in cur.after if x.strip() and not x.strip().startswith("#")), "")
    indent = len(below) - len(below.lstrip(" \t"))
    if _ENDS_BLOCK.match(first) and below and indent == len(cur.line_prefix):
        return "ends the block above code"
    return None


def generate(backend: LlamaCppBackend, req: GenerationRequest, ban: str = "") -> str:
    """Greedy; with ``ban``, its first token is forbidden at the first position only."""
    import llama_cpp
    import numpy as np

    tokens = backend.prompt_tokens(req)
    backend.prefill(req)
    extra: dict[str, Any] = {}
    first = backend.llm.tokenize(ban.encode(), add_bos=False, special=False)[:1]
    if first:

        def forbid(input_ids: Any, scores: Any) -> Any:
            if len(input_ids) == len(tokens):
                scores[first] = -np.inf
            return scores

        extra["logits_processor"] = llama_cpp.LogitsProcessorList([forbid])
    kwargs = sampling_kwargs(req) | {"stream": False}
    out = backend.llm.create_completion(prompt=tokens, **kwargs, **extra)
    return str(out["choices"][0]["text"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--only", default="", help="comma-separated task numbers (a check)")
    ap.add_argument("--gguf", default="", help=fim_data.GGUF_HELP)
    args = ap.parse_args()
    conf, backend = fim_data.inline_coder(args.gguf)
    tasks = fim_data.sample(fim_data.load("stdlib"), 60)[: args.limit]
    if args.only:
        tasks = [tasks[int(i)] for i in args.only.split(",")]
    base = new = 0
    load = os.getloadavg()[0]
    for i, task in enumerate(tasks):
        cur = locate(task.text, task.line, task.column)
        assert cur is not None
        multi = wants_multiline(cur, conf.multiline)
        req = fim_data.line_request(conf, cur)
        raw = generate(backend, req)
        cleaned = final = postprocess(raw, cur, multiline=multi)
        why = retry_reason(cleaned, cur)
        if why:
            other = postprocess(generate(backend, req, ban=raw), cur, multiline=multi)
            if other.text.strip() and not retry_reason(other, cur):
                final = other
            print(i, why, repr(task.expected), repr(cleaned.text), "->", repr(other.text))
        line = cleaned.text.split("\n", 1)[0].strip()
        base += line == task.expected
        new += final.text.split("\n", 1)[0].strip() == task.expected
    n = max(1, len(tasks))
    result = {"tasks": len(tasks), "greedy_em": round(base / n, 3), "second_em": round(new / n, 3)}
    print(json.dumps(result | {"load_before": round(load, 2), "load_after": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
