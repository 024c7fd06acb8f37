"""Inline completion end to end: the real server over stdio with the real coder model,
spoken to by pytest-lsp as Neovim. Insertion parses, latest wins, the cache answers
repeats, acceptance reaches memory, and bad input is a quick empty answer."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.e2e.conftest import request, server_config
from tsr_lsp.bench.completion import apply_item, press_enter

SOURCE = '''import os


def read_lines(path):
    """Return the lines of a text file, without their line ends."""
    with open(path) as fh:
{HOLE}
    return lines


def count_words(text):
    """How many words the text has."""
    return len(text.split())


def main():
    for name in os.listdir("."):
        print(name, count_words(name))
'''.format(HOLE=" " * 8)
LINE, COL = 6, 8  # the masked line inside the with-block, after the indentation


def _typed(text: str) -> str:
    """SOURCE with ``text`` typed at the cursor."""
    lines = SOURCE.split("\n")
    lines[LINE] += text
    return "\n".join(lines)


async def _init(lsp_client: LanguageClient, root: Path, options: Any = None) -> None:
    params = types.InitializeParams(
        capabilities=client_capabilities("neovim"),
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="proj")],
        initialization_options=options,
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.server_capabilities = result.capabilities  # type: ignore[attr-defined]


@pytest_lsp.fixture(config=server_config())
async def client(
    lsp_client: LanguageClient, tmp_path: Path, models_dir: Path
) -> AsyncIterator[None]:
    await _init(lsp_client, tmp_path)
    yield
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, path: Path, text: str, language: str = "python") -> str:
    uri = path.as_uri() if path.is_absolute() else str(path)
    if path.is_absolute():
        path.write_text(text)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, 1, text))
    )
    return uri


async def _complete(
    client: LanguageClient, uri: str, line: int, character: int, kind: int = 2
) -> types.InlineCompletionList:
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind(kind)),
    )
    result = await client.text_document_inline_completion_async(params)
    assert isinstance(result, types.InlineCompletionList)
    return result


def _change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def _accepted(client: LanguageClient, args: dict[str, Any]) -> Any:
    params = types.ExecuteCommandParams(command="tsr.inline.accepted", arguments=[args])
    return await client.workspace_execute_command_async(params)


def _apply(text: str, item: types.InlineCompletionItem) -> str:
    assert item.range is not None and item.range.start.line == item.range.end.line
    return apply_item(text, item)


async def test_capabilities_advertise_inline_completion_and_the_command(
    client: LanguageClient,
) -> None:
    caps = client.server_capabilities  # type: ignore[attr-defined]
    assert caps is not None and caps.inline_completion_provider is not None
    assert caps.execute_command_provider is not None
    assert "tsr.inline.accepted" in caps.execute_command_provider.commands


async def test_completion_in_a_function_parses_and_comes_from_the_cache_again(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = _open(client, tmp_path / "lines.py", SOURCE)
    result = await _complete(client, uri, LINE, COL)
    assert len(result.items) == 1, "Automatic: one item"
    item = result.items[0]
    assert item.range is not None
    assert (item.range.start.line, item.range.start.character) == (LINE, 0)
    assert (item.range.end.line, item.range.end.character) == (LINE, COL)
    assert item.insert_text.startswith(" " * COL) and item.insert_text.strip()
    ast.parse(_apply(SOURCE, item))  # the suggestion fits the block it is typed in
    assert item.command is not None and item.command.command == "tsr.inline.accepted"
    cid = item.command.arguments[0]["id"]

    again = await _complete(client, uri, LINE, COL)
    assert [i.insert_text for i in again.items] == [item.insert_text]
    assert again.items[0].command.arguments[0]["id"] == cid  # the cache, not a new generation

    # type-through: the user typed the first characters of the suggestion
    typed = item.insert_text[COL : COL + 2]
    _change(client, uri, _typed(typed), 2)
    through = await _complete(client, uri, LINE, COL + 2)
    assert [i.insert_text for i in through.items] == [item.insert_text]
    assert through.items[0].command.arguments[0]["id"] == cid


async def test_a_newer_request_makes_the_older_return_at_once_empty(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = _open(client, tmp_path / "lines.py", SOURCE)
    older = asyncio.ensure_future(_complete(client, uri, LINE, COL, kind=1))  # 3 items
    await asyncio.sleep(0.5)  # the older one is generating (or evaluating its prompt)
    _change(client, uri, _typed("lines"), 2)  # the user went on typing
    newer = asyncio.ensure_future(_complete(client, uri, LINE, COL + 5))
    done, _ = await asyncio.wait([older, newer], return_when=asyncio.FIRST_COMPLETED)
    assert older in done, "the superseded request answers first"
    assert not older.result().items
    item = (await newer).items[0]
    assert item.insert_text.startswith(" " * COL + "lines")
    ast.parse(_apply(_typed("lines"), item))


async def test_acceptance_and_dismissal_reach_memory(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = _open(client, tmp_path / "lines.py", SOURCE)
    first = (await _complete(client, uri, LINE, COL)).items[0]
    args = first.command.arguments[0]
    client.protocol.notify("tsr/inline/didShow", args)
    assert await _accepted(client, args) == {"id": args["id"], "outcome": "accepted"}
    # a dismissal after the acceptance does not undo it
    client.protocol.notify("tsr/inline/didDismiss", args)
    # the user typed something else instead: a new suggestion, dismissed
    _change(client, uri, _typed("data"), 2)
    second = (await _complete(client, uri, LINE, COL + 4)).items
    if second:
        assert second[0].command.arguments[0]["id"] != args["id"]
        client.protocol.notify("tsr/inline/didDismiss", second[0].command.arguments[0])
    for _ in range(100):
        stats = await request(client, "tsr/inline/stats", {})
        if stats["shown"] == 1 + bool(second):
            break
        await asyncio.sleep(0.1)
    assert stats["accepted"] == 1
    assert stats["rejected"] == int(bool(second))
    assert stats["byLanguage"]["python"]["accepted"] == 1
    assert stats["acceptanceRate"] == pytest.approx(1 / (1 + bool(second)))
    assert (await _accepted(client, {"id": "cnope"}))["outcome"] is None


async def test_the_line_after_an_accepted_suggestion_is_ready_at_enter(
    client: LanguageClient, tmp_path: Path
) -> None:
    """Speculative completion: while the suggestion is shown, the server computes the next
    line as if it were accepted; after the acceptance and Enter, the request is answered
    from the cache (``speculative.used`` in tsr/inline/stats) with a new suggestion."""
    uri = _open(client, tmp_path / "lines.py", SOURCE)
    item = (await _complete(client, uri, LINE, COL)).items[0]
    for _ in range(600):  # the 1.5B on 2 busy cores: about 1-3 s
        stats = await request(client, "tsr/inline/stats", {})
        if stats["speculative"]["ready"]:
            break
        await asyncio.sleep(0.1)
    assert stats["speculative"] == {"started": 1, "ready": 1, "used": 0}
    text, column = press_enter(_apply(SOURCE, item), LINE)
    _change(client, uri, text, 2)
    after = (await _complete(client, uri, LINE + 1, column)).items
    stats = await request(client, "tsr/inline/stats", {})
    assert stats["speculative"]["used"] == 1 and after
    assert after[0].command.arguments[0]["id"] != item.command.arguments[0]["id"]
    assert after[0].insert_text.startswith(" " * column) and after[0].insert_text.strip()


async def test_bad_input_is_a_quick_empty_answer(client: LanguageClient, tmp_path: Path) -> None:
    uri = _open(client, tmp_path / "small.py", "x = 1\n")
    assert not (await _complete(client, uri, 99, 0)).items  # past the end
    assert (await _complete(client, uri, 0, 400, kind=1)).items is not None  # clamped
    big = "value = 1\n" * 520_000  # 5 MB
    big_uri = _open(client, tmp_path / "big.py", big)
    assert not (await _complete(client, big_uri, 10, 0, kind=1)).items
    binary = "abc\x00\x01\x02 def\n" * 10
    bin_uri = _open(client, tmp_path / "blob.py", binary)
    assert not (await _complete(client, bin_uri, 1, 0, kind=1)).items
    never = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier((tmp_path / "never_opened.py").as_uri()),
        position=types.Position(0, 0),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind(1)),
    )
    assert await client.text_document_inline_completion_async(never) is None
    untitled = _open(client, Path("untitled:Untitled-1"), "def double(x):\n    \n")
    result = await _complete(client, untitled, 1, 4)
    for item in result.items:  # an unsaved buffer is served like any other
        ast.parse(_apply("def double(x):\n    \n", item))
    template = _open(client, tmp_path / "t.jinja", "Hello {{ name }}\n", "jinja")
    assert not (await _complete(client, template, 0, 0, kind=1)).items
    assert "models" in await request(client, "tsr/status", {})


def _unusable_models(case: str, tmp_path: Path) -> dict[str, Any]:
    """Settings under which no profile can fill in the middle."""
    if case == "fails to load":  # the FIM profiles point at a file that is not a model
        bad = tmp_path / "broken.gguf"
        bad.write_bytes(b"GGUF" + b"\0" * 64)
        broken = {"path": str(bad), "sha256": "", "size": 0}
        return {"models": {"fim": broken, "coder": broken}}
    # no profile tagged code or fim, none named for completion
    general = {"tags": ["general"]}
    return {"models": {"fim": general, "coder": general}, "completion": {"profile": ""}}


@pytest_lsp.fixture(config=server_config(), params=["fails to load", "no fim profile"])
async def unusable(
    request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Path, models_dir: Path
) -> AsyncIterator[None]:
    await _init(lsp_client, tmp_path, _unusable_models(request.param, tmp_path))
    yield
    await lsp_client.shutdown_session()


async def test_without_a_usable_model_answers_are_empty_and_the_server_goes_on(
    unusable: LanguageClient, tmp_path: Path
) -> None:
    uri = _open(unusable, tmp_path / "lines.py", SOURCE)
    for kind in (2, 1):  # the second time the pool knows a failure and answers at once
        assert not (await _complete(unusable, uri, LINE, COL, kind=kind)).items
    route = await request(unusable, "tsr/route", {"text": "hello there"})
    assert route["model"]
