"""Template files in a real editor session: the real server over stdio, spoken to as neovim
and as VS Code. Diagnostics as you type, quick fixes, completion, hover, render preview."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.helpers import code_actions

PROMPT = (
    "{#---\n"
    'name = "review"\n'
    'system = "You review {{ language }} code."\n'
    "[variables]\n"
    'code = { type = "str", description = "the code", sample = "x = 1" }\n'
    'language = { type = "str", sample = "python" }\n'
    "---#}\n"
    "Review this:\n"
    "{{ code | upperr }}\n"
    "{% if language %}({{ langauge }}){% endif %}\n"
)


async def _diagnostics(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    """The first diagnostics published for ``uri`` (an empty list counts)."""
    return await _settles(client, uri, lambda _: uri in client.diagnostics)


async def _open(client: LanguageClient, path: Path, text: str, language: str = "jinja") -> str:
    path.write_text(text)
    uri = path.as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )
    return uri


async def _settles(
    client: LanguageClient, uri: str, ok: Callable[[list[types.Diagnostic]], bool]
) -> list[types.Diagnostic]:
    """Diagnostics for ``uri`` once they satisfy ``ok`` (later publications may replace
    earlier ones: the project index finishing, a debounced edit)."""
    for _ in range(100):
        if ok(list(client.diagnostics.get(uri, []))):
            return list(client.diagnostics[uri])
        try:
            await asyncio.wait_for(
                client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 10
            )
        except TimeoutError:
            break
    final = list(client.diagnostics.get(uri, []))
    if ok(final):  # published between the check and the wait starting: no later one comes
        return final
    raise AssertionError(f"diagnostics for {uri} never settled: {final}")


def _apply(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)

    def at(pos: types.Position) -> int:
        return offsets[pos.line] + pos.character

    for edit in sorted(edits, key=lambda e: at(e.range.start), reverse=True):
        text = text[: at(edit.range.start)] + edit.new_text + text[at(edit.range.end) :]
    return text


async def _actions(client: LanguageClient, uri: str, diag: types.Diagnostic) -> list[Any]:
    return await code_actions(
        client,
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag]),
        ),
    )


async def test_diagnostics_as_you_type(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path / "review.jinja", PROMPT)
    diags = await _diagnostics(client, uri)
    got = {(d.code, d.range.start.line, d.range.start.character) for d in diags}
    assert ("JL020", 8, 10) in got  # unknown filter "upperr" (0-based line and column)
    assert ("JL010", 9, 21) in got  # 'langauge' is not declared
    assert all(d.source == "tsr-lsp" for d in diags)
    fixed = PROMPT.replace("upperr", "upper").replace("langauge", "language")
    client.diagnostics.pop(uri)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    await _settles(client, uri, lambda diags: uri in client.diagnostics and diags == [])


async def test_quick_fixes(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path / "review.jinja", PROMPT)
    diags = {d.code: d for d in await _diagnostics(client, uri)}
    actions = await _actions(client, uri, diags["JL020"])
    best = next(a for a in actions if a.is_preferred)
    assert best.title == "Change to 'upper'"
    assert "{{ code | upper }}" in _apply(PROMPT, best.edit.changes[uri])
    titles = {a.title: a for a in await _actions(client, uri, diags["JL010"])}
    assert "Change to 'language'" in titles
    declare = titles["Declare 'langauge' in the front matter"]
    assert 'langauge = "str"\n---#}' in _apply(PROMPT, declare.edit.changes[uri])

    broken = "{% for x in items %}\n  {% if x %}\n    {{ x }}\n{% endfor %}\n"
    uri2 = await _open(client, tmp_path / "loop.j2", broken)
    unclosed = next(d for d in await _diagnostics(client, uri2) if d.code == "JL003")
    close = next(a for a in await _actions(client, uri2, unclosed) if a.is_preferred)
    assert close.title.startswith("Close the 'if' block")
    assert _apply(broken, close.edit.changes[uri2]) == (
        "{% for x in items %}\n  {% if x %}\n    {{ x }}\n  {% endif %}\n{% endfor %}\n"
    )

    # a half-typed closer is completed, not doubled ('Hello {{ name }} }' was the bug)
    uri3 = await _open(client, tmp_path / "greet.j2", "Hello {{ name }\n")
    lost = next(d for d in await _diagnostics(client, uri3) if d.code == "JL002")
    (add,) = await _actions(client, uri3, lost)
    assert add.title == "Add the missing '}}'"
    assert _apply("Hello {{ name }\n", add.edit.changes[uri3]) == "Hello {{ name }}\n"


async def test_create_missing_template(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "head.html").write_text("<head></head>")
    text = "{% include 'partials/head.html' %}{% include 'partials/footer.html' %}\n"
    uri = await _open(client, tmp_path / "page.jinja", text)
    # the project index is built in the background; the file is then linted again
    diags = await _settles(client, uri, lambda ds: any(d.code == "JL040" for d in ds))
    missing = [d for d in diags if d.code == "JL040"]
    assert len(missing) == 1 and "footer.html" in missing[0].message
    action = next(a for a in await _actions(client, uri, missing[0]) if "Create" in a.title)
    target = tmp_path / "partials" / "footer.html"
    if getattr(action, "edit", None) is not None:  # the client creates it (resource ops)
        create = action.edit.document_changes[0]
        assert create.kind == "create" and create.uri == target.as_uri()
    else:  # the server creates it, through a command
        command = action.command
        assert command.command == "tsr.createTemplate"
        client.diagnostics.pop(uri, None)
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )
        assert result["created"] is True and target.is_file()
        await _settles(client, uri, lambda ds: uri in client.diagnostics and ds == [])


async def test_completion(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path / "review.jinja", PROMPT)
    await _diagnostics(client, uri)

    async def labels(line: int, character: int) -> dict[str, types.CompletionItem]:
        result = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )
        items = result.items if isinstance(result, types.CompletionList) else result
        return {i.label: i for i in items or []}

    filters = await labels(8, 10)  # right after '{{ code | '
    assert {"upper", "trim", "default", "tojson"} <= set(filters)
    assert "Convert a value to uppercase" in filters["upper"].documentation.value
    variables = await labels(8, 3)  # at the start of '{{ code'
    assert variables["code"].detail == "code: str"
    assert variables["language"].kind == types.CompletionItemKind.Variable
    tags = await labels(9, 3)  # after '{% ' on the last line
    assert {"if", "for", "endif", "macro", "set"} <= set(tags)


async def test_hover(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path / "review.jinja", PROMPT)
    await _diagnostics(client, uri)

    async def hover_at(line: int, character: int) -> str:
        result = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )
        return result.contents.value if result else ""

    assert "declared in the front matter (line 5)" in await hover_at(8, 4)  # code
    assert "code: str" in await hover_at(8, 4)
    assert "tag `if`" in await hover_at(9, 4)


async def test_hover_on_a_big_template_after_others_took_the_analysis_cache(
    client: LanguageClient, tmp_path: Path
) -> None:
    """The server keeps the analyses of only ~500,000 characters of templates (a big one's
    is 100,000+ objects every garbage collection walks): hover on the first of three big
    templates, whose analysis the other two pushed out, is answered from a new analysis."""
    big = PROMPT + "{{ code }}\n" * 30_000  # 330,000 characters each
    uris = []
    for name in ("a", "b", "c"):
        uris.append(await _open(client, tmp_path / f"{name}.jinja", big))
        await _diagnostics(client, uris[-1])
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uris[0]),
            position=types.Position(line=8, character=4),
        )
    )
    assert result is not None and "code: str" in result.contents.value


async def test_render_preview(client: LanguageClient, tmp_path: Path) -> None:
    text = PROMPT.replace("upperr", "upper").replace("langauge", "language")
    uri = await _open(client, tmp_path / "review.jinja", text)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tsr.renderPreview", arguments=[uri])
    )
    assert result["system"] == "You review python code."
    assert result["text"] == "Review this:\nX = 1\n(python)\n"
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="tsr.renderPreview",
            arguments=[{"uri": uri, "values": {"code": "y", "language": ""}}],
        )
    )
    assert result["text"] == "Review this:\nY\n\n"
    bad = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="tsr.renderPreview", arguments=[{"uri": uri, "values": {"code": "{{ x }}"}}]
        )
    )
    assert bad["text"].startswith("Review this:")  # values are data, never template code
    loop_uri = await _open(
        client,
        tmp_path / "loop.jinja",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    )
    blocked = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tsr.renderPreview", arguments=[loop_uri])
    )
    assert "loop iterations" in blocked["error"]


async def test_other_files_are_left_alone(client: LanguageClient, tmp_path: Path) -> None:
    uri = await _open(client, tmp_path / "script.py", "x = '{{ a | nope }}'\n", "python")
    await asyncio.sleep(0.5)
    assert uri not in client.diagnostics
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=0, character=10),
        )
    )
    assert result is None
