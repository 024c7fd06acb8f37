"""Does reading the code below the cursor left to right pick a better line than greedy FIM?

Development set only (``stdlib``, all of its tasks by default). One process; per task the
server's prompt (640 / 256 tokens). The k most likely first tokens each start a greedy line
(stop at the newline). Each candidate gets two scores from the same model:

- ``fim``: log P(candidate + newline | FIM prompt), what greedy decoding approximates;
- ``l2r``: log P(the next lines of code | ``<|fim_prefix|>`` prefix + candidate + newline),
  the model reading the file left to right as it was trained to before FIM: does the code
  below follow from this line? The left-to-right prompt shares the FIM prompt's first part,
  so only the candidate and the next lines are evaluated.

Writes one JSON line a task (``--out``) so selection rules can be compared offline
(``--analyse FILE``), and prints greedy EM, the oracle (the expected line among the
candidates) and the EM of ``fim + w * l2r`` for a few weights.

  .venv/bin/python scripts/completion_rerank_probe.py --out /tmp/rerank.jsonl
  .venv/bin/python scripts/completion_rerank_probe.py --analyse /tmp/rerank.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from tsr_lsp.backends.base import GenerationRequest
from tsr_lsp.backends.llama_cpp import LlamaCppBackend, sampling_kwargs
from tsr_lsp.bench import fim_data
from tsr_lsp.completion.context import locate, wants_multiline
from tsr_lsp.completion.postprocess import postprocess

WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 1000.0)


def log_softmax_rows(logits: Any) -> Any:
    import numpy as np

    m = logits.max(axis=-1, keepdims=True)
    return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))


def last_logits(llm: Any) -> Any:
    import numpy as np

    n_vocab = llm.n_vocab()
    return np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(n_vocab,)).copy()


def score_after(llm: Any, keep: int, first_logits: Any, tokens: list[int]) -> list[float]:
    """Log-probabilities of ``tokens`` following the first ``keep`` tokens of the KV cache
    (``first_logits`` = the logits after them); the cache is cut back to ``keep`` after."""
    import numpy as np

    llm._ctx.kv_cache_seq_rm(-1, keep, -1)
    llm.n_tokens = keep
    n_vocab = llm.n_vocab()
    batch = llm._batch
    batch.set_batch(batch=tokens, n_past=keep, logits_all=True)
    llm._ctx.decode(batch)
    rows = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(tokens) * n_vocab,))
    rows = rows.reshape(len(tokens), n_vocab)
    logits = np.vstack([first_logits[None, :], rows[:-1]])
    lp = log_softmax_rows(logits)
    llm._ctx.kv_cache_seq_rm(-1, keep, -1)
    llm.n_tokens = keep
    llm._requires_eval = True
    return [float(lp[i, t]) for i, t in enumerate(tokens)]


def greedy_line(backend: LlamaCppBackend, tokens: list[int], req: GenerationRequest) -> str:
    kwargs = sampling_kwargs(req) | {"stream": False}
    out = backend.llm.create_completion(prompt=tokens, **kwargs)
    return str(out["choices"][0]["text"])


def suffix_head(after: tuple[str, ...], lines: int) -> str:
    """The next ``lines`` non-blank lines below the cursor (blank lines kept between)."""
    out: list[str] = []
    seen = 0
    for line in after:
        out.append(line)
        seen += bool(line.strip())
        if seen >= lines:
            break
    return "\n".join(out) + "\n" if out else ""


def run(args: argparse.Namespace) -> None:
    import numpy as np

    conf, backend = fim_data.inline_coder(args.gguf)
    llm = backend.llm
    tasks = fim_data.load("stdlib")
    if args.limit:
        tasks = tasks[: args.limit]
    out = open(args.out, "w") if args.out else None  # noqa: SIM115
    load = os.getloadavg()[0]
    start = time.perf_counter()
    for i, task in enumerate(tasks):
        cur = locate(task.text, task.line, task.column)
        assert cur is not None
        multi = wants_multiline(cur, conf.multiline)
        req = fim_data.line_request(conf, cur)
        tokens = backend.prompt_tokens(req)
        backend.prefill(req)
        first = prefix_logits(llm, tokens, len(tokens))
        top = [int(t) for t in np.argsort(-first)[: args.k]]
        raws = []
        for t in top:
            piece = llm.detokenize([t]).decode("utf-8", "replace")
            if "\n" in piece:
                raws.append(piece.split("\n", 1)[0])
            else:
                raws.append(piece + greedy_line(backend, [*tokens, t], req))
        raws = list(dict.fromkeys(raws))  # different first tokens, the same line
        nl = backend._plain("\n")
        ids = [backend._plain(raw) for raw in raws]
        fims = [sum(score_after(llm, len(tokens), first, [*x, *nl])) for x in ids]
        n_body = len(backend._plain(req.prompt or "")) + 1  # <|fim_prefix|> + prefix
        body = prefix_logits(llm, tokens, n_body)
        head_ids = backend._plain(suffix_head(cur.after, args.lines))[: args.max_head]
        cands = []
        for raw, x, fim in zip(raws, ids, fims, strict=True):
            scores = score_after(llm, n_body, body, [*x, *nl, *head_ids])
            text = postprocess(raw, cur, multiline=multi).text.split("\n", 1)[0].strip()
            cands.append(
                {
                    "raw": raw,
                    "line": text,
                    "fim": fim,
                    "l2r": sum(scores[len(x) + len(nl) :]),
                    "l2r_line": sum(scores),
                }
            )
        row = {"i": i, "group": task.group, "expected": task.expected, "cands": cands}
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()
        print(
            i, cands[0]["line"] == task.expected, [c["line"][:40] for c in cands], file=sys.stderr
        )
    if out:
        out.close()
    print(
        json.dumps(
            {
                "tasks": len(tasks),
                "seconds": round(time.perf_counter() - start, 1),
                "load_before": round(load, 2),
                "load_after": round(os.getloadavg()[0], 2),
            }
        )
    )
    if args.out:
        analyse(args.out)


def prefix_logits(llm: Any, tokens: list[int], keep: int) -> Any:
    """Cut the cache to ``keep - 1`` tokens and evaluate token ``keep - 1``: its logits
    predict what follows the first ``keep`` tokens."""
    llm._ctx.kv_cache_seq_rm(-1, keep - 1, -1)
    llm.n_tokens = keep - 1
    llm.eval([tokens[keep - 1]])
    return last_logits(llm)


def analyse(path: str) -> None:
    rows = [json.loads(x) for x in open(path)]  # noqa: SIM115
    n = len(rows)
    greedy = sum(r["cands"][0]["line"] == r["expected"] for r in rows)
    oracle = sum(any(c["line"] == r["expected"] for c in r["cands"]) for r in rows)
    report: dict[str, Any] = {"tasks": n, "greedy_em": round(greedy / n, 3)}
    report["oracle_em"] = round(oracle / n, 3)
    for key in ("l2r", "l2r_line"):
        for w in WEIGHTS:
            hits = 0
            for r in rows:
                best = max(r["cands"], key=lambda c: c["fim"] + w * c[key] if w < 1000 else c[key])
                hits += best["line"] == r["expected"]
            report[f"{key}_w{w:g}"] = round(hits / n, 3)
    print(json.dumps(report))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--k", type=int, default=3, help="candidates (first tokens)")
    ap.add_argument("--lines", type=int, default=3, help="non-blank lines read below")
    ap.add_argument("--max-head", type=int, default=64, help="at most this many tokens of them")
    ap.add_argument("--out", default="")
    ap.add_argument("--analyse", default="")
    ap.add_argument("--gguf", default="", help=fim_data.GGUF_HELP)
    args = ap.parse_args()
    if args.analyse:
        analyse(args.analyse)
    else:
        run(args)


if __name__ == "__main__":
    main()
