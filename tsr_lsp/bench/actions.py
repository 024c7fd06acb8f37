"""bench actions: AI code actions through the real server, as an editor runs them.

Each task is a function of the standard library (its docstring taken out) alone in a file
of a fresh project. The client opens it, asks ``textDocument/codeAction`` at its first line
for one action's kind, then ``codeAction/resolve``; the time is the client's, from the
codeAction request to the resolved WorkspaceEdit (the model loaded beforehand, not timed).
The edit is applied and checked: it must parse, and a docstring must add one docstring
and change nothing else (the code's AST without docstrings is the original's).

``--baseline DIR`` runs the same tasks on another checkout's server in the same run, the
two alternating which goes first, so both see the same machine load; the ratio of their
mean latencies is ``latency_vs_baseline_ratio``. Each server starts with memory off, at
the default thread count.

    tsr-lsp bench actions --json [--limit 8] [--actions docstring,refactor,tests] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import os
import random
import sys
import sysconfig
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsr_lsp.bench.stats import median

SEED = 11
TIMEOUT_S = 600.0
MIN_LINES, MAX_LINES = 8, 40  # function sizes a user selects for an action
KINDS = {
    "docstring": "refactor.rewrite.tsr.docstring",
    "refactor": "refactor.rewrite.tsr.refactor",
    "tests": "refactor.tsr.tests",
}


@dataclass(frozen=True)
class Task:
    name: str  # module.function
    code: str  # the function without its docstring, at column 0


WARM_UP = Task("warm_up.add", "def add(a, b):\n    total = a + b\n    return total\n")


def _without_docstring(node: ast.FunctionDef, lines: list[str]) -> str | None:
    first = node.body[0]
    if len(node.body) < 2 or not (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return None
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    end = node.end_lineno or node.lineno
    doc_from, doc_to = first.lineno - 1, first.end_lineno or first.lineno
    kept = lines[start:doc_from] + lines[doc_to:end]
    return textwrap.dedent("\n".join(kept)) + "\n"


def tasks(limit: int, seed: int = SEED) -> list[Task]:
    """One top-level function a module (8-40 lines without the docstring it had), from a
    seeded shuffle of the standard library's top-level modules."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(root.glob("*.py"))
    random.Random(seed).shuffle(files)
    out: list[Task] = []
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        lines = source.split("\n")
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            code = _without_docstring(node, lines)
            if code and MIN_LINES <= code.count("\n") <= MAX_LINES and "\t" not in code:
                out.append(Task(f"{path.stem}.{node.name}", code))
                break
        if len(out) >= limit:
            break
    return out


def _strip_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(tree)


def check(action: str, before: str, after: str, module: str = "", name: str = "") -> bool:
    """Does the edited file parse, and (docstring) add a docstring and change no code, or
    (tests; ``after`` is the test file) hold a test function or class that pytest would
    collect and import ``name`` from ``module``?"""
    try:
        tree = ast.parse(after)
    except (SyntaxError, ValueError):
        return False
    if action == "tests":
        return any(
            (isinstance(n, ast.FunctionDef) and n.name.startswith("test"))
            or (isinstance(n, ast.ClassDef) and n.name.startswith("Test"))
            for n in tree.body
        ) and any(
            isinstance(n, ast.ImportFrom)
            and n.module == module
            and any(a.name == name for a in n.names)
            for n in ast.walk(tree)
        )
    if action != "docstring":
        return after != before
    func = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
    return (
        func is not None
        and bool(ast.get_docstring(func))
        and _strip_docstrings(tree) == _strip_docstrings(ast.parse(before))
    )


def text_edits(edit: dict[str, Any], uri: str) -> list[dict[str, Any]]:
    """A WorkspaceEdit's text edits of ``uri`` (``changes`` or ``documentChanges``)."""
    if edit.get("changes"):
        return list(edit["changes"].get(uri, []))
    return [
        e
        for change in edit.get("documentChanges") or []
        if change.get("textDocument", {}).get("uri") == uri
        for e in change.get("edits", [])
    ]


def apply_text_edits(text: str, edits: list[dict[str, Any]]) -> str:
    """``text`` with LSP text edits applied, as an editor applies them."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(p: dict[str, int]) -> int:
        return offsets[min(p["line"], len(lines))] + p["character"]

    for e in sorted(edits, key=lambda e: at(e["range"]["start"]), reverse=True):
        text = text[: at(e["range"]["start"])] + e["newText"] + text[at(e["range"]["end"]) :]
    return text


async def run_action(runner: Any, task: Task, action: str, n: int) -> dict[str, Any]:
    """Open the task's file in ``runner``'s project, run the action on it; its record."""
    from lsprotocol import types

    lsp = runner.client.lsp
    conv = lsp.protocol._converter
    path = runner.project / f"t{n}_{action}.py"
    path.write_text(task.code, encoding="utf-8")
    uri = path.as_uri()
    lsp.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=task.code
            )
        )
    )
    pos = types.Position(line=0, character=0)
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=pos, end=pos),
        context=types.CodeActionContext(diagnostics=[], only=[KINDS[action]]),
    )
    record: dict[str, Any] = {"task": task.name, "action": action, "ok": False}
    start = time.perf_counter()
    offered = await asyncio.wait_for(lsp.text_document_code_action_async(params), TIMEOUT_S)
    plain = [a if isinstance(a, dict) else conv.unstructure(a) for a in offered or []]
    chosen = next((a for a in plain if (a.get("data") or {}).get("action") == action), None)
    if chosen is None:
        record["error"] = "not offered"
        return record
    try:
        resolved = await asyncio.wait_for(
            lsp.code_action_resolve_async(conv.structure(chosen, types.CodeAction)), TIMEOUT_S
        )
    except Exception as exc:  # a reported PlanError: the run counts, not applied
        record["error"] = str(exc)[:200]
        record["ms"] = (time.perf_counter() - start) * 1000
        return record
    record["ms"] = (time.perf_counter() - start) * 1000
    edit = resolved.get("edit") if isinstance(resolved, dict) else conv.unstructure(resolved.edit)
    edit = edit or {}
    if action == "tests":  # the file the edit creates
        created = [c["uri"] for c in edit.get("documentChanges") or [] if c.get("kind") == "create"]
        after = apply_text_edits("", text_edits(edit, created[0])) if created else ""
        record["ok"] = check(action, "", after, path.stem, task.name.split(".")[-1])
    else:
        after = apply_text_edits(task.code, text_edits(edit, uri))
        record["ok"] = check(action, task.code, after)
    if not record["ok"]:
        record["after"] = after[:800]  # what failed the check, for the log
    return record


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    timed = [r["ms"] for r in records if "ms" in r]
    return {
        "tasks": len(records),
        "applied_ratio": round(sum(r["ok"] for r in records) / max(1, len(records)), 3),
        "mean_ms": round(sum(timed) / max(1, len(timed))),
        "p50_ms": round(median(timed)) if timed else 0,
    }


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from tsr_lsp.bench.answers.runner import BASELINE, SuiteRunner

    actions = [a for a in (args.actions or "docstring").split(",") if a]
    unknown = [a for a in actions if a not in KINDS]
    if unknown:
        raise ValueError(f"unknown action {unknown[0]!r} (one of {', '.join(KINDS)})")
    work = tasks(args.limit or 8)
    metrics: dict[str, Any] = {"load_avg_start": round(os.getloadavg()[0], 2)}
    baseline_root = Path(args.baseline).resolve() if args.baseline else None
    records: dict[str, list[dict[str, Any]]] = {"this": [], "baseline": []}
    async with contextlib.AsyncExitStack() as stack:
        servers = {"this": await stack.enter_async_context(SuiteRunner())}
        if baseline_root is not None:
            servers["baseline"] = await stack.enter_async_context(
                SuiteRunner(code_root=baseline_root, label=BASELINE)
            )
        for runner in servers.values():  # load the models the actions route to (not timed)
            for action in actions:
                await run_action(runner, WARM_UP, action, 0)
        for i, task in enumerate(work, start=1):
            for action in actions:
                order = list(servers) if i % 2 else list(reversed(servers))
                for label in order:
                    rec = await run_action(servers[label], task, action, i)
                    records[label].append(rec)
                    print(f"{label} {task.name} {action}: {rec}", file=sys.stderr, flush=True)
    for action in actions:
        for label in servers:
            got = _summary([r for r in records[label] if r["action"] == action])
            prefix = f"{action}_" if label == "this" else f"{action}_baseline_"
            metrics.update({prefix + k: v for k, v in got.items()})
        if baseline_root is not None:
            this, base = metrics[f"{action}_mean_ms"], metrics[f"{action}_baseline_mean_ms"]
            metrics[f"{action}_latency_vs_baseline_ratio"] = round(this / base, 3) if base else 0.0
    if baseline_root is not None:
        metrics["baseline"] = str(baseline_root)
    metrics["load_avg_end"] = round(os.getloadavg()[0], 2)
    return metrics


def run(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_measure(args))
