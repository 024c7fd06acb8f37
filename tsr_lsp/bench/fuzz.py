"""Hostile LSP messages for the reliability bench (pure, seeded: the same seed gives the
same bytes).

Each case is the raw bytes to write and, when it is a well-formed request with a fresh id,
that id: the server owes it a reply. Mutations cover what an editor bug, a broken plugin
or an attacker on the socket can send: wrong types, missing fields, odd ids, huge numbers,
lone surrogates, deep nesting, bodies that are not JSON or not UTF-8, and malformed
headers (negative, non-numeric, float or missing Content-Length).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Methods fuzzed, each with a well-formed params example. Methods that end the connection
# (`exit`) or write files outside the bench's folders (tsr.createTemplate) are left out;
# `shutdown` is tested on its own (requests after it must still get replies).
DOC = "file:///tmp/tsr-fuzz/doc.py"
TPL = "file:///tmp/tsr-fuzz/prompt.jinja"


def _examples() -> list[tuple[str, Any, bool]]:
    """(method, params, is_request)"""
    pos = {"line": 0, "character": 3}
    doc = {"uri": DOC}
    return [
        ("tsr/status", {}, True),
        ("tsr/route", {"text": "write a csv parser", "kind": "chat", "language": "python"}, True),
        ("tsr/generate", {"text": "hello", "maxTokens": 8, "raw": True}, True),
        ("tsr/feedback", {"episodeId": "0123456789abcdef", "outcome": "accepted"}, True),
        ("tsr/memory/search", {"query": "csv parser", "k": 5}, True),
        ("tsr/memory/stats", {}, True),
        ("tsr/memory/export", {}, True),
        (
            "tsr/memory/import",
            {"episodes": [{"text": "fuzzed episode", "kind": "fact", "project": "/tmp/p"}]},
            True,
        ),
        ("tsr/memory/forget", {"project": "/tmp/tsr-fuzz-nothing-here"}, True),
        ("tsr/memory/consolidate", {}, True),
        (
            "textDocument/didOpen",
            {"textDocument": {"uri": TPL, "languageId": "jinja", "version": 1, "text": "{{ x }}"}},
            False,
        ),
        (
            "textDocument/didOpen",
            {"textDocument": {"uri": DOC, "languageId": "python", "version": 1, "text": "def f"}},
            False,
        ),
        (
            "textDocument/didChange",
            {
                "textDocument": {"uri": TPL, "version": 2},
                "contentChanges": [
                    {
                        "range": {"start": pos, "end": pos},
                        "text": "{% for i in x %}",
                    }
                ],
            },
            False,
        ),
        ("textDocument/didSave", {"textDocument": {"uri": TPL}}, False),
        ("textDocument/didClose", {"textDocument": {"uri": TPL}}, False),
        ("textDocument/completion", {"textDocument": {"uri": TPL}, "position": pos}, True),
        ("textDocument/hover", {"textDocument": {"uri": TPL}, "position": pos}, True),
        (
            "textDocument/inlineCompletion",
            {"textDocument": doc, "position": pos, "context": {"triggerKind": 2}},
            True,
        ),
        (
            "textDocument/codeAction",
            {
                "textDocument": {"uri": TPL},
                "range": {"start": pos, "end": pos},
                "context": {"diagnostics": []},
            },
            True,
        ),
        (
            "workspace/executeCommand",
            {"command": "tsr.renderPreview", "arguments": [TPL]},
            True,
        ),
        (
            "workspace/executeCommand",
            {"command": "tsr.memory.remember", "arguments": ["the fuzz remembers"]},
            True,
        ),
        ("workspace/didChangeConfiguration", {"settings": {"tsr": {"logLevel": "info"}}}, False),
        ("$/cancelRequest", {"id": 1}, False),
        ("$/setTrace", {"value": "off"}, False),
        ("tsr/unknown", {"a": 1}, True),
        ("textDocument/unknownThing", {}, True),
    ]


EXAMPLES = _examples()
HEADER_CASES = ("negative", "abc", "float", "missing", "spaces", "duplicate", "lf_only")


@dataclass
class FuzzCase:
    data: bytes
    expect_id: int | str | None  # a reply is owed to this id
    label: str


def _frame(body: bytes) -> bytes:
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(14 if depth < 3 else 10)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**31, -(2**63), 2**64 + 1, 10**30, 7])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e308, 3.0])
    if kind == 4:
        return ""
    if kind == 5:
        chars = "abc {}%#\\\"'\n\t\u00e9\u4e2d"
        return "".join(rng.choice(chars) for _ in range(rng.randrange(40)))
    if kind == 6:
        return "\ud800" + "x" * rng.randrange(5)  # lone surrogate: valid JSON, not UTF-8
    if kind == 7:
        return "A" * rng.choice([1_000, 10_000, 100_000])
    if kind == 8:
        return rng.choice(["file:///etc/passwd", "file://", "::::", "untitled:1", "file:///%00"])
    if kind == 9:
        return rng.choice(["{{ x }}", "{% for %}", "{{ ''.__class__ }}", "\x00\x01"])
    if kind in (10, 11):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice(["text", "uri", "id", "k", "x", "", "__proto__"]): random_value(rng, depth + 1)
        for _ in range(rng.randrange(4))
    }


def _mutate_params(rng: random.Random, params: Any) -> Any:
    if not isinstance(params, dict) or not params or rng.random() < 0.25:
        return random_value(rng)
    out = json.loads(json.dumps(params))
    # walk to a random node and replace or delete it
    node: Any = out
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return out
        key = rng.choice(keys)
        child = node[key]
        if isinstance(child, (dict, list)) and child and rng.random() < 0.6:
            node = child
            continue
        if isinstance(node, dict) and rng.random() < 0.3:
            del node[key]
        else:
            node[key] = random_value(rng)
        return out


def _deep(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


def cases(seed: int, n: int, id_prefix: str = "f") -> Iterator[FuzzCase]:
    """``n`` hostile messages. Ids owed a reply are ``f"{id_prefix}{i}"`` or ints."""
    rng = random.Random(seed)
    for i in range(n):
        method, params, is_request = rng.choice(EXAMPLES)
        roll = rng.random()
        msg_id: Any = f"{id_prefix}{i}" if rng.random() < 0.5 else seed * 1_000_000 + i
        owed: Any = msg_id if is_request else None
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if is_request:
            message["id"] = msg_id
        label = "valid"
        if roll < 0.10:
            message["params"] = params
        elif roll < 0.55:
            message["params"] = _mutate_params(rng, params)
            label = "params"
        elif roll < 0.62:
            odd = rng.choice([None, 1.5, {"x": 1}, [1], True, -1, 2**70, ""])
            message["id"] = odd
            message["params"] = params
            owed = None  # odd ids repeat across cases: replies cannot be matched
            label = "id"
        elif roll < 0.66:
            message["jsonrpc"] = rng.choice(["1.0", None, 2, ""])
            message["params"] = params
            owed = None  # an error with this id is owed, but not all servers echo it
            label = "version"
        elif roll < 0.70:
            del message["method"]
            message["params"] = params
            owed = None
            label = "no-method"
        elif roll < 0.74:
            message["method"] = rng.choice(["", "$/x", "tsr/", "a" * 5000, "tsr/status/../x"])
            message["params"] = params
            label = "method"
        elif roll < 0.80:
            depth = rng.choice([200, 1_000, 5_000, 20_000])
            nested = _deep(depth, rng.choice(["list", "dict"]))
            body = (
                f'{{"jsonrpc":"2.0","id":{json.dumps(msg_id)},"method":"{method}",'
                f'"params":{{"text":{nested}}}}}'
            ).encode()
            # too deep to parse: the error reply cannot carry the id (JSON-RPC: null id)
            yield FuzzCase(_frame(body), None, f"deep{depth}")
            continue
        elif roll < 0.86:
            body = rng.choice(
                [
                    b"{",
                    b"not json at all",
                    b'{"jsonrpc": "2.0", "id": 1, "method": "tsr/status", ',
                    b"\xff\xfe\x00garbage",
                    b"null",
                    b"[]",
                    b"[1, 2, 3]",
                    b'"a string"',
                    b"\xef\xbb\xbf{}",
                    b'{"jsonrpc": "2.0", "method": "tsr/status", "id": NaN}',
                    b"",
                    bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))),
                ]
            )
            yield FuzzCase(_frame(body), None, "body")
            continue
        elif roll < 0.92:
            message["params"] = params
            body = json.dumps(message).encode()
            case = rng.choice(HEADER_CASES)
            head = {
                "negative": b"Content-Length: -5\r\n\r\n",
                "abc": b"Content-Length: abc\r\n\r\n",
                "float": f"Content-Length: {len(body)}.0\r\n\r\n".encode(),
                "missing": b"Content-Type: application/vscode-jsonrpc\r\n\r\n",
                "spaces": f"Content-Length:    {len(body)}   \r\n\r\n".encode(),
                "duplicate": f"Content-Length: {len(body)}\r\ncontent-length: {len(body)}"
                "\r\n\r\n".encode(),
                "lf_only": f"Content-Length: {len(body)}\n\n".encode(),
            }[case]
            # a well-formed length (spaces, duplicate, LF only) still owes the reply
            ok = case in ("spaces", "duplicate", "lf_only")
            yield FuzzCase(head + body, owed if ok else None, f"header-{case}")
            continue
        else:
            message["params"] = params
            member = rng.choice(["extra", "result", "error"])
            message[member] = random_value(rng)
            if member != "extra":  # a request and a response at once: no reply is owed
                owed = None
            label = "extra-member"
        try:
            body = json.dumps(message).encode("utf-8", "surrogatepass")
        except (ValueError, OverflowError):
            continue
        yield FuzzCase(_frame(body), owed, label)
