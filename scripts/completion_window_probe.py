"""Which prompt window costs inline completion quality? (docs/COMPLETION.md, "Windows")

Development set only: it loads ``stdlib`` of tsr_lsp/bench/fim_data.py and never the
held-out ``humaneval`` set (settings are never chosen on it). One process, one model instance: for
every task each configuration builds the server's prompt (``build_prompt``), generates
greedily in the lane's way (stop when the suggestion is complete, ``inline_run._complete``)
and post-processes it (``postprocess``); ``direct`` is the bench's direct call (the
model's FIM tokens around the whole file, stop at the first newline). Configurations that
share a prefix window run one after the other, so llama.cpp's KV cache makes them cheap.
The first line (stripped) is compared with the masked line, as ``bench completion`` does.

  .venv/bin/python scripts/completion_window_probe.py \
      '{"direct": "direct", "w640/96": [640, 96], "w640/256": [640, 256]}' --limit 60

``--next-line N``: latency instead of quality. For N tasks, per window (alternating): the
prompt at the masked line is evaluated, the line is filled in and the prompt one line
further down is timed with ``max_tokens`` 0: what a next-line request re-evaluates (the
changed lines and the whole suffix) before its first token. Prints p50 ms per window.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from typing import Any

from tsr_lsp.backends.base import GenerationCancelled, GenerationRequest
from tsr_lsp.backends.llama_cpp import LlamaCppBackend
from tsr_lsp.bench import fim_data
from tsr_lsp.completion.context import Cursor, FimPrompt, build_prompt, locate, wants_multiline
from tsr_lsp.completion.postprocess import postprocess
from tsr_lsp.config import CompletionSettings
from tsr_lsp.server.inline_run import _complete, repo_context


def direct_answer(backend: LlamaCppBackend, task: fim_data.Task) -> str:
    """The bench's direct call: FIM tokens around the whole file, stop at the newline."""
    lines = task.text.split("\n")
    head = "\n".join(lines[: task.line]) + "\n" + lines[task.line][: task.column]
    tail = lines[task.line][task.column :] + "\n" + "\n".join(lines[task.line + 1 :])
    req = GenerationRequest(
        prompt=head, suffix=tail, max_tokens=48, temperature=0.0, repeat_penalty=1.0, stop=["\n"]
    )
    return str(backend.generate(req).text)


def tsr_answer(
    backend: LlamaCppBackend,
    cur: Cursor,
    window: list[int],
    conf: CompletionSettings,
    header: bool = False,
    before: str = "",
    **context: Any,
) -> tuple[str, FimPrompt]:
    """The server's prompt (``context``: its path, repo and chunks of other files),
    stopping rule and post-processing for one window; the answer and the prompt.
    ``header``: the repository header (repo name, file path) even without chunks;
    ``before``: text put before the prefix window (comment-form context)."""
    prompt = build_prompt(
        cur,
        prefix_tokens=window[0],
        suffix_tokens=window[1],
        heal=conf.heal,
        definition_suffix=len(window) > 2 and window[2] == "definition",
        **context,
    )
    multi = wants_multiline(cur, conf.multiline)
    halt = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if _complete("".join(pieces), cur, multi, prompt.healed):
            halt.set()

    req = GenerationRequest(
        prompt=before + prompt.prefix,
        suffix=prompt.suffix,
        repo=repo_context(prompt) if prompt.uses_repo_format or header else None,
        max_tokens=conf.max_tokens if multi else min(conf.max_tokens, 40),
        temperature=0.0,
        top_p=0.95,
        repeat_penalty=1.0,
        seed=0,
    )
    try:
        raw = backend.generate(req, on_token=on_token, cancel=halt).text
    except GenerationCancelled as exc:
        raw = exc.result.text or "".join(pieces)
    return postprocess(raw, cur, multiline=multi, healed=prompt.healed).text, prompt


def next_line_ms(
    backend: LlamaCppBackend, task: fim_data.Task, window: list[int]
) -> tuple[float, int]:
    """Milliseconds to re-evaluate the prompt one line below the masked one, once the
    prompt at the masked line is in the KV cache (the prefix window stays anchored), and
    how many tokens that evaluated (the load-independent part)."""
    lines = task.text.split("\n")
    indent = lines[task.line]
    filled = [*lines[: task.line], indent + task.expected, indent, *lines[task.line + 1 :]]
    timed, evaluated = 0.0, 0
    for text, line in ((task.text, task.line), ("\n".join(filled), task.line + 1)):
        cur = locate(text, line, len(indent))
        assert cur is not None
        prompt = build_prompt(cur, prefix_tokens=window[0], suffix_tokens=window[1], heal=False)
        start = time.perf_counter()
        done = backend.prefill(GenerationRequest(prompt=prompt.prefix, suffix=prompt.suffix))
        timed, evaluated = (time.perf_counter() - start) * 1000, done.evaluated_tokens
    return timed, evaluated


class Tally:
    """Per configuration: exact matches, edit similarity and one more mean (``extra``); one
    JSON line per task to ``out``, the running count on stdout, a JSON summary at the end."""

    def __init__(self, configs: list[str], extra: str, out: str, first: int = 0) -> None:
        self.right = dict.fromkeys(configs, 0)
        self.sim = dict.fromkeys(configs, 0.0)
        self.more = dict.fromkeys(configs, 0.0)
        self.extra, self.n, self.first = extra, 0, first
        self.out = open(out, "w") if out else None  # noqa: SIM115
        self.started = time.time()

    def add(self, row: dict[str, Any], name: str, got: str, expected: str, more: float) -> None:
        got = got.split("\n", 1)[0].strip()
        row[name] = got
        self.right[name] += got == expected
        self.sim[name] += fim_data.edit_similarity(got, expected)
        self.more[name] += more

    def task_done(self, row: dict[str, Any]) -> None:
        if self.out is not None:
            self.out.write(json.dumps(row) + "\n")
            self.out.flush()
        print(self.n + self.first, self.right, flush=True)
        self.n += 1

    def summary(self) -> None:
        total = max(1, self.n)
        result: dict[str, object] = {"tasks": self.n}
        for name in self.right:
            result[name] = {
                "exact_match": round(self.right[name] / total, 3),
                "edit_similarity": round(self.sim[name] / total, 3),
                self.extra: round(self.more[name] / total, 1),
            }
        result["minutes"] = round((time.time() - self.started) / 60, 1)
        result["load_after"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("configs", help='JSON: name -> "direct" or [prefixTokens, suffixTokens]')
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--start", type=int, default=0, help="skip the first tasks (resume)")
    ap.add_argument("--out", default="", help="one JSON line per task (outside the repo)")
    ap.add_argument("--next-line", type=int, default=0, help="time N next-line prefills")
    ap.add_argument("--gguf", default="", help=fim_data.GGUF_HELP)
    args = ap.parse_args()
    configs = json.loads(args.configs)
    conf, backend = fim_data.inline_coder(args.gguf)
    tasks = fim_data.sample(fim_data.load("stdlib"), args.limit)[args.start :]
    if args.next_line:
        times: dict[str, list[float]] = {name: [] for name in configs}
        tokens: dict[str, list[float]] = {name: [] for name in configs}
        for task in tasks[: args.next_line]:
            for name, window in configs.items():
                ms, evaluated = next_line_ms(backend, task, window)
                times[name].append(ms)
                tokens[name].append(evaluated)
        p50 = {name: round(sorted(x)[len(x) // 2], 1) for name, x in times.items()}
        mean = {name: round(sum(x) / len(x), 1) for name, x in tokens.items()}
        print(json.dumps({"next_line_prefill_p50_ms": p50, "next_line_evaluated_tokens": mean}))
        print(f"load {os.getloadavg()[0]:.2f}")
        return
    tally = Tally(list(configs), "suffix_tokens_mean", args.out, args.start)
    for task in tasks:
        cur = locate(task.text, task.line, task.column)
        assert cur is not None
        row: dict[str, Any] = {"expected": task.expected}
        for name, cfg in configs.items():
            if cfg == "direct":
                tally.add(row, name, direct_answer(backend, task), task.expected, 0)
            else:
                got, prompt = tsr_answer(backend, cur, cfg, conf)
                tally.add(row, name, got, task.expected, prompt.extra["suffix_tokens"])
        tally.task_done(row)
    tally.summary()


if __name__ == "__main__":
    main()
