"""`tsr-lsp route`: the router's decision for a text, in-process (no server, no model)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tsr_lsp.config import KINDS, load_settings
from tsr_lsp.engine import Engine
from tsr_lsp.router.decision import RouteRequest


def run(args: argparse.Namespace) -> int:
    settings, warnings = load_settings(Path.cwd())
    for warning in warnings:
        print(f"tsr-lsp: warning: {warning}", file=sys.stderr)
    engine = Engine(settings)
    if args.jsonl:
        return _route_jsonl(engine, args.jsonl)
    text = " ".join(args.text)
    if not text.strip():
        print("tsr-lsp: error: give a text to route (or --jsonl FILE)", file=sys.stderr)
        return 2
    if args.kind not in KINDS:
        print(
            f"tsr-lsp: error: unknown --kind {args.kind!r} (one of {', '.join(KINDS)})",
            file=sys.stderr,
        )
        return 2
    decision = engine.route(RouteRequest(text, args.kind, args.language))
    if args.json:
        print(json.dumps(decision.to_json()))
    else:
        print(decision.explanation)
    return 0


def _route_jsonl(engine: Engine, path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"tsr-lsp: error: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = row["text"]
            if not isinstance(text, str):
                raise TypeError("'text' must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            print(f"tsr-lsp: error: {path}:{number}: {exc}", file=sys.stderr)
            return 1
        request = RouteRequest(text, row.get("kind") or "chat", row.get("language") or "")
        print(json.dumps(engine.route(request).to_json()))
    return 0
