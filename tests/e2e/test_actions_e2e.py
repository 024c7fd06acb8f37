"""AI code actions with the real coder model (Qwen2.5-Coder-0.5B GGUF) over stdio, spoken to
by pytest-lsp as VS Code: write tests (pytest collects the file), explain (a document
opens), fix a diagnostic (an edit that parses), a docstring (the model stops after it),
cancellation. Answers are kept short
(actions.maxTokens) for CI time; the scripted-model tests in tests/unit cover the rest."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities

from tests.e2e.conftest import server_config
from tests.helpers import code_actions, tokens_written

CLAMP = (
    "def clamp(x, lo, hi):\n"
    "    if x < lo:\n"
    "        return lo\n"
    "    if x > hi:\n"
    "        return hi\n"
    "    return x\n"
)
SUMMARIZE = """def summarize(rows):
    count = 0
    total = 0.0
    low = None
    high = None
    for row in rows:
        value = float(row["amount"])
        count += 1
        total += value
        if low is None or value < low:
            low = value
        if high is None or value > high:
            high = value
    mean = total / count if count else 0.0
    return {"count": count, "total": total, "mean": mean, "low": low, "high": high}
"""
TOTAL = "def total(prices):\n    s = 0\n    for p in prices:\n        s += p\n    return totl\n"


@pytest_lsp.fixture(config=server_config())
async def client(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    params = types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"),
        root_uri=tmp_path.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="proj")],
        initialization_options={"actions": {"maxTokens": 160}},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, path: Path, text: str) -> str:
    path.write_text(text)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(), language_id="python", version=1, text=text
            )
        )
    )
    return path.as_uri()


def at(line: int, char: int = 0, end_line: int | None = None, end_char: int = 0) -> types.Range:
    return types.Range(
        start=types.Position(line=line, character=char),
        end=types.Position(line=line if end_line is None else end_line, character=end_char),
    )


async def action(
    client: LanguageClient, uri: str, r: types.Range, name: str, diags: Any = None
) -> types.CodeAction:
    result = await code_actions(
        client,
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=r,
            context=types.CodeActionContext(diagnostics=diags or []),
        ),
    )
    return next(
        a
        for a in result or []
        if isinstance(a, types.CodeAction) and (a.data or {}).get("action") == name
    )


def write_edit(edit: types.WorkspaceEdit) -> dict[str, str]:
    """Apply a WorkspaceEdit to the files on disk, as an editor would; returns uri -> text."""
    out: dict[str, str] = {}
    for change in edit.document_changes or []:
        if isinstance(change, types.CreateFile):
            path = Path(change.uri.removeprefix("file://"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        elif isinstance(change, types.TextDocumentEdit):
            path = Path(change.text_document.uri.removeprefix("file://"))
            text = path.read_text()
            lines = text.splitlines(keepends=True)
            offsets = [0]
            for line in lines:
                offsets.append(offsets[-1] + len(line))
            for e in sorted(
                change.edits,
                key=lambda e: (e.range.start.line, e.range.start.character),
                reverse=True,
            ):
                s = offsets[min(e.range.start.line, len(lines))] + e.range.start.character
                t = offsets[min(e.range.end.line, len(lines))] + e.range.end.character
                text = text[:s] + e.new_text + text[t:]  # type: ignore[union-attr]
            path.write_text(text)
            out[change.text_document.uri] = text
    return out


async def test_write_tests_creates_a_file_pytest_collects(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "ranges.py", CLAMP)
    resolved = await client.code_action_resolve_async(await action(client, uri, at(1), "tests"))
    assert resolved.edit is not None and resolved.command is not None
    assert isinstance(resolved.edit.document_changes[0], types.CreateFile)  # type: ignore[index]
    files = write_edit(resolved.edit)
    test_file = tmp_path / "tests" / "test_ranges.py"
    assert files[test_file.as_uri()] == test_file.read_text()
    assert "from ranges import clamp" in test_file.read_text()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 0: the tests pass, 1: some fail (the model's asserts): both mean pytest collected
    # and ran them; 2 (collection error) or 5 (no tests) would mean a broken file
    assert run.returncode in (0, 1), run.stdout + run.stderr
    assert " passed" in run.stdout or " failed" in run.stdout, run.stdout
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command=resolved.command.command, arguments=resolved.command.arguments
        )
    )


async def test_explain_opens_a_document(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "ranges.py", CLAMP)
    explain = await action(client, uri, at(0, 0, 6, 0), "explain")
    assert explain.command is not None and explain.command.command == "tsr.action.run"
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tsr.action.run", arguments=explain.command.arguments)
    )
    assert result["shown"] is True
    assert client.shown_documents[-1].uri == result["uri"]
    text = Path(result["uri"].removeprefix("file://")).read_text()
    assert text.startswith("# Explain with AI: `ranges.py:1-6`")
    assert "def clamp(x, lo, hi):" in text
    answer = text.split("```\n", 2)[-1]
    assert len(answer.split()) >= 10, text  # the model's explanation follows the code
    assert result["decision"]["model"] in ("coder", "fim")  # a code model


async def test_fix_with_ai_on_a_diagnostic_edits_the_code(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "shop.py", TOTAL)
    diag = types.Diagnostic(
        range=at(4, 11, 4, 15), message="F821 undefined name 'totl'", source="ruff"
    )
    fix = await action(client, uri, at(4, 11, 4, 15), "fix", [diag])
    assert fix.title == "Fix with AI: F821 undefined name 'totl'"
    resolved = await client.code_action_resolve_async(fix)
    fixed = write_edit(resolved.edit)[uri]  # type: ignore[arg-type]
    namespace: dict[str, Any] = {}
    exec(compile(fixed, "shop.py", "exec"), namespace)  # parses, defines total
    assert namespace["total"]([1, 2, 3]) == 6  # no NameError any more: the sum


async def test_a_docstring_is_added_and_the_model_stops_after_it(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "stats.py", SUMMARIZE)
    resolved = await client.code_action_resolve_async(await action(client, uri, at(1), "docstring"))
    new = write_edit(resolved.edit)[uri]  # type: ignore[arg-type]
    func = ast.parse(new).body[0]
    assert isinstance(func, ast.FunctionDef)
    doc = (ast.get_docstring(func) or "").strip()
    assert doc and "\n" not in doc  # actions.docstring "summary": one line
    header, body = SUMMARIZE.split("\n", 1)
    assert new.startswith(header + "\n") and new.endswith(body)  # the code is untouched
    # the model starts after the header it was given and stops after the first sentence;
    # the definition again, after its docstring, would reach actions.maxTokens (160)
    assert tokens_written(client) < 60


async def test_cancel_stops_the_real_model(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "ranges.py", CLAMP)
    refactor = await action(client, uri, at(1), "refactor")
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(types.CODE_ACTION_RESOLVE, refactor, msg_id="rf")
    )
    deadline = time.monotonic() + 120
    while not any(
        isinstance(r, types.WorkDoneProgressReport) and "written" in (r.message or "")
        for reports in client.progress_reports.values()
        for r in reports
    ):  # the model is writing
        assert time.monotonic() < deadline and not pending.done()
        await asyncio.sleep(0.02)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="rf"))
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(pending, 10)
    assert info.value.code == -32800
    started = time.monotonic()
    status = await client.protocol.send_request_async("tsr/status", {})
    while status["models"]["coder"].get("busy"):
        assert time.monotonic() - started < 3, "the model kept generating after cancel"
        await asyncio.sleep(0.05)
        status = await client.protocol.send_request_async("tsr/status", {})
