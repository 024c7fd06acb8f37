"""How fast does a GGUF evaluate a prompt here, by chunk size? (docs/COMPLETION.md, "Prompt
evaluation rate"). Prompt evaluation is what a first completion without the focus hint and
every prewarm pay; the server evaluates in chunks of ``PREFILL_CHUNK`` tokens so that a
cancelled prewarm stops within one chunk. Timing only: evaluates the first 768 tokens of a
standard-library module (``argparse``) from an empty cache, with the server's own constructor
arguments (``llama_kwargs``: the default thread count), nothing generated or scored.

  .venv/bin/python scripts/prompt_eval_rate.py [--profile fim] [--chunks 16,32,64,512]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

SOURCE = Path(argparse.__file__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="fim")
    parser.add_argument("--chunks", default="16,32,64,512")
    parser.add_argument("--tokens", type=int, default=768)
    args = parser.parse_args()

    from llama_cpp import Llama

    from tsr_lsp.backends.llama_cpp import llama_kwargs
    from tsr_lsp.config import Settings

    profile = dataclasses.replace(Settings().profile(args.profile), n_ctx=2048)
    kwargs = llama_kwargs(profile)
    llm = Llama(**kwargs)
    tokens = llm.tokenize(SOURCE.read_bytes(), add_bos=False)[: args.tokens]
    threads = kwargs["n_threads"]
    print(f"{Path(profile.path).name}, {len(tokens)} tokens, {threads} threads")
    for chunk in (int(x) for x in args.chunks.split(",")):
        llm.reset()  # the next eval starts at position 0: nothing is reused
        start = time.perf_counter()
        for i in range(0, len(tokens), chunk):
            llm.eval(tokens[i : i + chunk])
        seconds = time.perf_counter() - start
        rate = len(tokens) / seconds
        print(f"chunk {chunk:4d}: {rate:6.1f} tokens/s ({seconds:.2f} s)", flush=True)
    llm.close()


if __name__ == "__main__":
    main()
