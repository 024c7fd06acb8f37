"""bench generation: the same chat request through the daemon and through llama-cpp-python
called directly, in one run, for both default models.

Daemon side: a real LSP client (pygls) spawns ``tsr-lsp stdio``, which forwards to a fresh
daemon on its Unix socket; ``tsr/generate`` with ``raw`` (no template, no CoT), the model
forced, seed and temperature fixed, tokens streamed as partial results. Times are taken
where the client sees them: TTFT = request sent -> first delta received; tokens/s =
(completion tokens - 1) / (last token received - first delta received).

Direct side: ``Llama(**llama_kwargs(profile))`` (the same constructor arguments the daemon
uses) and ``create_chat_completion`` with the same messages and ``sampling_kwargs`` built
from the decision the daemon reported (same top_p, temperature, max_tokens, seed, repeat
penalty). Both sides are warmed first and run alternately on the same prompt sequence, so
their KV caches see the same history; identical outputs prove the runs are comparable.
``TSR_BENCH_THREADS=N`` sets n_threads on both sides (the daemon gets it through the
session's settings). Reported: medians per side, and the medians of the per-pair TTFT
differences and tokens/s ratios (a pair runs back to back, so both sides of it see the same
machine load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from tsr_lsp import paths
from tsr_lsp.bench.stats import median

PROMPT = (
    "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle. "
    "Describe the sea, the weather and the keeper's thoughts."
)
MAX_TOKENS = {"general": 128, "coder": 64}
SEED = 1234
TEMPERATURE = 0.7


def _prompt(i: int) -> str:
    return f"{PROMPT} (Story number {i}.)"


async def _daemon_run(client: Any, name: str, i: int) -> dict[str, Any]:
    marks: list[float] = []

    def on_progress(value: dict[str, Any]) -> None:
        if value.get("event") == "delta":
            marks.append(time.perf_counter())

    params = {
        "text": _prompt(i),
        "raw": True,
        "model": name,
        "maxTokens": MAX_TOKENS[name],
        "seed": SEED,
        "temperature": TEMPERATURE,
    }
    start = time.perf_counter()
    result = await client.request("tsr/generate", params, on_progress)
    end = time.perf_counter()
    n = int(result["usage"]["completionTokens"])
    last = marks[-1] if marks else end
    return {
        "ttft": (marks[0] - start) if marks else end - start,
        "tps": (n - 1) / (last - marks[0]) if marks and n > 1 and last > marks[0] else 0.0,
        "n": n,
        "text": result["text"],
        "decision": result["decision"],
        "server_tps": result["timings"]["tokensPerS"],
    }


def _direct_run(llm: Any, name: str, i: int, decision: dict[str, Any]) -> dict[str, Any]:
    from tsr_lsp.backends.base import GenerationRequest
    from tsr_lsp.backends.llama_cpp import sampling_kwargs

    request = GenerationRequest(
        messages=[{"role": "user", "content": _prompt(i)}],
        max_tokens=int(decision["max_tokens"]),
        temperature=float(decision["temperature"]),
        top_p=float(decision["top_p"]),
        seed=SEED,
    )
    marks: list[float] = []
    pieces: list[str] = []
    start = time.perf_counter()
    for chunk in llm.create_chat_completion(messages=request.messages, **sampling_kwargs(request)):
        piece = chunk["choices"][0].get("delta", {}).get("content")
        if piece:
            marks.append(time.perf_counter())
            pieces.append(piece)
    end = time.perf_counter()
    n = len(marks)
    return {
        "ttft": (marks[0] - start) if marks else end - start,
        "tps": (n - 1) / (marks[-1] - marks[0]) if n > 1 else 0.0,
        "n": n,
        "text": "".join(pieces),
    }


def _daemon_pid(home: Path) -> int | None:
    try:
        return int((home / "run" / "daemon.lock").read_text().strip())
    except (OSError, ValueError):
        return None


async def _measure(runs: int, home: Path) -> dict[str, Any]:
    from llama_cpp import Llama

    from tsr_lsp.backends.llama_cpp import llama_kwargs, thread_count
    from tsr_lsp.client import TsrClient, server_command
    from tsr_lsp.config import Settings

    env = {"TSR_LSP_HOME": str(home), "TSR_LSP_MODELS_DIR": str(paths.models_dir())}
    settings = Settings()  # the daemon (fresh home, no user config) uses the same defaults
    init: dict[str, Any] = {}
    threads = int(os.environ.get("TSR_BENCH_THREADS") or 0)
    if threads:  # e.g. 1 on a machine shared with other work: both sides get the same
        init = {"models": {n: {"nThreads": threads} for n in ("general", "coder")}}
        for n in ("general", "coder"):
            settings.models[n].n_threads = threads
    client = TsrClient()
    await client.start(server_command(), root=home, env=env, initialization_options=init)
    metrics: dict[str, Any] = {}
    try:
        status = await client.request("tsr/status", {})
        if not status.get("daemon"):
            raise RuntimeError("the client did not reach the daemon")
        for name in ("general", "coder"):
            profile = settings.models[name]
            llm = Llama(**llama_kwargs(profile))
            warm = await _daemon_run(client, name, -1)  # loads the model in the daemon
            decision = warm["decision"]
            _direct_run(llm, name, -1, decision)
            daemon: list[dict[str, Any]] = []
            direct: list[dict[str, Any]] = []
            for i in range(runs):
                if i % 2 == 0:  # alternate who goes first, against drift on a busy machine
                    daemon.append(await _daemon_run(client, name, i))
                    direct.append(_direct_run(llm, name, i, decision))
                else:
                    direct.append(_direct_run(llm, name, i, decision))
                    daemon.append(await _daemon_run(client, name, i))
            llm.close()
            pairs = list(zip(daemon, direct, strict=True))
            same = sum(a["text"] == b["text"] for a, b in pairs)
            d_ttft = median([r["ttft"] for r in daemon]) * 1000
            x_ttft = median([r["ttft"] for r in direct]) * 1000
            d_tps = median([r["tps"] for r in daemon])
            x_tps = median([r["tps"] for r in direct])
            # Each pair ran back to back, so it saw the same machine load: the medians of
            # the per-pair differences and ratios are robust to drift on a shared machine.
            extra = median([(a["ttft"] - b["ttft"]) * 1000 for a, b in pairs])
            ratio = median([a["tps"] / b["tps"] for a, b in pairs if b["tps"]] or [0.0])
            metrics.update(
                {
                    f"{name}_direct_ttft_ms": round(x_ttft, 1),
                    f"{name}_daemon_ttft_ms": round(d_ttft, 1),
                    f"{name}_extra_ttft_ms": round(extra, 1),
                    f"{name}_direct_tokens_per_s": round(x_tps, 1),
                    f"{name}_daemon_tokens_per_s": round(d_tps, 1),
                    f"{name}_tokens_per_s_ratio": round(ratio, 3),
                    f"{name}_completion_tokens": int(median([r["n"] for r in daemon])),
                    f"{name}_identical_outputs": f"{same}/{runs}",
                }
            )
        metrics["n_threads"] = thread_count(settings.models["general"])
        metrics["runs"] = runs
    finally:
        await client.stop()
    return metrics


def run(args: argparse.Namespace) -> dict[str, Any]:
    runs = max(5, args.runs or 7)
    with tempfile.TemporaryDirectory(prefix="tsr-bench-gen-") as tmp:
        home = Path(tmp)
        try:
            return asyncio.run(_measure(runs, home))
        finally:
            pid = _daemon_pid(home)
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
                time.sleep(0.3)
