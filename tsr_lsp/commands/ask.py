"""`tsr-lsp ask`: one routed request through the real language server, streamed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from tsr_lsp.config import KINDS
from tsr_lsp.prompts.cot import split_answer


def run(args: argparse.Namespace) -> int:
    if args.kind not in KINDS:
        print(
            f"tsr-lsp: error: unknown --kind {args.kind!r} (one of {', '.join(KINDS)})",
            file=sys.stderr,
        )
        return 2
    from tsr_lsp.commands.common import cli_settings

    cli_settings()  # an unreadable config file stops here with the fix, before any model work
    return asyncio.run(_ask(args))


def _print_decision(decision: dict[str, Any]) -> None:
    print(f"[route] {decision['explanation']} (template {decision['template']})", flush=True)


async def _ask(args: argparse.Namespace) -> int:
    from pygls.exceptions import JsonRpcException

    from tsr_lsp.client import TsrClient, server_command

    text = " ".join(args.text)
    params: dict[str, Any] = {"text": text, "kind": args.kind, "language": args.language}
    if args.model:
        params["model"] = args.model
    if args.max_tokens:
        params["maxTokens"] = args.max_tokens
    client = TsrClient()
    streamed = False
    chunks: list[str] = []

    def on_progress(value: dict[str, Any]) -> None:
        nonlocal streamed
        if args.json:
            return
        if value.get("event") == "decision":
            _print_decision(value)
        elif value.get("event") == "loading":
            print(f"[model] {value.get('message')}...", file=sys.stderr, flush=True)
        elif value.get("event") == "delta":
            streamed = True
            chunks.append(value.get("delta", ""))
            sys.stdout.write(value.get("delta", ""))
            sys.stdout.flush()

    try:
        await client.start(server_command(no_daemon=args.no_daemon))
        result = await client.request("tsr/generate", params, on_progress)
    except JsonRpcException as exc:
        print(f"tsr-lsp: error: {exc.message}", file=sys.stderr)
        return 1
    except Exception as exc:  # the server died or could not start
        print(f"tsr-lsp: error: the language server failed: {exc}", file=sys.stderr)
        for line in client.stderr_tail[-5:]:
            print(f"  {line}", file=sys.stderr)
        return 1
    finally:
        await client.stop()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    streamed_text = "".join(chunks)
    if streamed:
        print()
    else:
        print(result.get("text", ""))
    if result.get("reasoning") and not streamed_answer(streamed_text, result["text"]):
        print(f"[answer] {result['text']}")
    return 0


def streamed_answer(streamed: str, answer: str) -> bool:
    """Whether the stream already ended with the answer ("...\nAnswer: 80"), as after a
    program or CoT steps that followed the format: its last line, read as the engine reads
    an answer, is the answer's last line."""
    tail = streamed.rstrip().rsplit("\n", 1)[-1].strip()
    said = split_answer(tail, 1)[1]
    last = answer.strip().rsplit("\n", 1)[-1].strip()
    return bool(last) and said != tail and said == last
