"""`tsr-lsp bench NAME [--json]`: print a table, or one JSON object of metrics.

Metric names end in ``_ms`` (milliseconds), ``_ratio`` or ``_mb``; where a baseline exists
it is measured in the same run and reported as a ratio.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

BENCHMARKS = {
    "startup": "tsr_lsp.bench.startup:run",
    "router": "tsr_lsp.bench.router:run",
    "generation": "tsr_lsp.bench.generation:run",
    "memory": "tsr_lsp.bench.memory:run",
    "lint": "tsr_lsp.bench.lint:run",
    "corruption": "tsr_lsp.bench.corruption:run",
    "reliability": "tsr_lsp.bench.reliability:run",
    "redaction": "tsr_lsp.bench.redaction:run",
    "answers": "tsr_lsp.bench.answers.bench:run",
    "completion": "tsr_lsp.bench.completion:run",
    "actions": "tsr_lsp.bench.actions:run",
}


def run(args: argparse.Namespace) -> int:
    target = BENCHMARKS.get(args.name)
    if target is None:
        print(
            f"tsr-lsp: error: unknown benchmark {args.name!r} (one of {', '.join(BENCHMARKS)})",
            file=sys.stderr,
        )
        return 2
    module, _, func = target.partition(":")
    metrics: dict[str, Any] = getattr(importlib.import_module(module), func)(args)
    if args.json:
        print(json.dumps(metrics))
    else:
        width = max(len(k) for k in metrics)
        for key, value in metrics.items():
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {shown}")
    return 0
