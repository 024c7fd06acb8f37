"""`tsr-lsp route`: the router's decision for a text, in-process (no server, no model)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tsr_lsp.config import KINDS
from tsr_lsp.engine import Engine
from tsr_lsp.router.decision import RouteRequest


def run(args: argparse.Namespace) -> int:
    from tsr_lsp.commands.common import cli_settings

    settings = cli_settings()
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
    """One decision per non-blank input line, in input order. A bad line prints an
    ``{"error": ..., "line": N}`` object in its place (and on stderr) so the output stays
    aligned with the input and nothing after it is lost; the exit code is then 1."""
    try:
        blob = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        print(f"tsr-lsp: error: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    failed = False
    out = sys.stdout
    for number, raw in enumerate(blob.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            request = _parse_line(raw)
        except ValueError as exc:
            failed = True
            message = f"{path}:{number}: {exc}"
            print(f"tsr-lsp: error: {message}", file=sys.stderr)
            out.write(json.dumps({"error": message, "line": number}) + "\n")
            continue
        out.write(json.dumps(engine.route(request).to_json()) + "\n")
    out.flush()
    return 1 if failed else 0


def _parse_line(raw: bytes) -> RouteRequest:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not valid UTF-8; save the file as UTF-8") from None
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"invalid JSON ({exc})") from None
    return RouteRequest.from_dict(row)
