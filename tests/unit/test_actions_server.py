"""AI code actions through the real server over stdio (pytest-lsp), with a scripted model
(tests/unit/actions_server.py) so every path is fast and exact: the cheap list, resolve,
the run command, progress, cancellation, errors and outcomes in real memory.
The real coder model: tests/e2e/test_actions_e2e.py."""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import register_lsp_features

from tests.helpers import code_actions, tokens_written
from tsr_lsp.bench.actions import apply_text_edits as apply
from tsr_lsp.bench.actions import text_edits
from tsr_lsp.server.transport import plain_converter

SERVER = Path(__file__).with_name("actions_server.py")
HOME = Path(tempfile.mkdtemp(prefix="tsr-actions-"))
CODE = "import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\ndef unused():\n    pass\n"
REFACTORED = "def area(r):\n    return math.pi * r**2\n"
CODE_MODEL = re.compile(r"-> (coder|fim),")  # the decision names a code model


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=plain_converter)
    register_lsp_features(client)
    client.applied_edits = []  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: LanguageClient, params: types.ApplyWorkspaceEditParams) -> Any:
        ls.applied_edits.append(params.edit)  # type: ignore[attr-defined]
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def ask(ls: LanguageClient, params: types.ShowMessageRequestParams) -> None:
        ls.asked.append(params.message)  # type: ignore[attr-defined]  # "Not now"

    client.asked = []  # type: ignore[attr-defined]
    return client


CONFIG = ClientServerConfig(
    server_command=[sys.executable, str(SERVER), str(HOME)], client_factory=make_client
)


def caps(name: str, resolve: bool = True) -> types.ClientCapabilities:
    c = client_capabilities(name)
    if not resolve:
        c.text_document.code_action.resolve_support = None  # type: ignore[union-attr]
    return c


@pytest_lsp.fixture(params=["visual_studio_code", "neovim"], config=CONFIG)
async def client(
    request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Path
) -> AsyncIterator[None]:
    params = types.InitializeParams(
        capabilities=caps(request.param),
        root_uri=tmp_path.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="proj")],
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def plain(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    """A client that cannot resolve edits nor create files: everything runs as commands."""
    c = caps("visual_studio_code", resolve=False)
    c.workspace.workspace_edit.resource_operations = None  # type: ignore[union-attr]
    params = types.InitializeParams(capabilities=c, root_uri=tmp_path.as_uri())
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


def reply(text: str, delay: float = 0.0) -> None:
    (HOME / "reply.txt").write_text(text)
    (HOME / "delay.txt").write_text(str(delay))


def model_calls() -> int:
    path = HOME / "prompts.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def open_doc(client: LanguageClient, path: Path, text: str, language: str = "python") -> str:
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id=language, version=1, text=text
            )
        )
    )
    return uri


def change(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def rng(sl: int, sc: int, el: int, ec: int) -> types.Range:
    return types.Range(
        start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)
    )


async def actions(
    client: LanguageClient,
    uri: str,
    r: types.Range,
    diagnostics: list[types.Diagnostic] | None = None,
    only: list[str] | None = None,
) -> list[Any]:
    """The code actions as plain JSON (lsprotocol reads an action with a command as a
    bare Command, so the hook picks the type by the shape)."""
    conv = client.protocol._converter
    result = await code_actions(
        client,
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=r,
            context=types.CodeActionContext(diagnostics=diagnostics or [], only=only),
        ),
    )
    return [conv.unstructure(a) for a in result or []]


async def resolve(client: LanguageClient, action: dict[str, Any]) -> dict[str, Any]:
    conv = client.protocol._converter
    result = await client.code_action_resolve_async(conv.structure(action, types.CodeAction))
    out: dict[str, Any] = conv.unstructure(result)
    return out


def pick(items: list[Any], action: str) -> dict[str, Any]:
    return next(a for a in items if (a.get("data") or {}).get("action") == action)


async def episode(client: LanguageClient, episode_id: str) -> dict[str, Any]:
    exported = await client.protocol.send_request_async("tsr/memory/export", {})
    return next(e for e in exported["episodes"] if e["id"] == episode_id)


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_the_list_is_cheap_filtered_and_skips_templates(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    calls = model_calls()
    diag = types.Diagnostic(range=rng(4, 11, 4, 15), message="F821 undefined name 'pi'")
    items = await actions(client, uri, rng(4, 4, 4, 4), [diag])
    assert [a["title"] for a in items] == [
        "Fix with AI: F821 undefined name 'pi'",
        "Refactor with AI",
        "Add docstring with AI",
        "Write tests with AI",
        "Explain with AI",
        "Ask AI about the selection",
    ]
    assert pick(items, "fix")["kind"] == "quickfix.tsr.fix"
    assert pick(items, "fix")["data"]["diagnostic"]["message"] == "F821 undefined name 'pi'"
    assert model_calls() == calls  # listing runs no model
    only = await actions(client, uri, rng(4, 4, 4, 4), [diag], only=["refactor"])
    assert {a["data"]["action"] for a in only} == {"refactor", "docstring", "tests"}
    # a module-level statement: no docstring action
    items = await actions(client, uri, rng(0, 0, 0, 0))
    assert "docstring" not in {a["data"]["action"] for a in items}
    # templates keep their quick fixes only
    tpl = open_doc(client, tmp_path / "t.jinja", "Hello {{ name }\n", "jinja")
    assert all(
        "data" not in a or "action" not in a["data"]
        for a in await actions(client, tpl, rng(0, 0, 0, 0))
    )


async def test_refactor_resolves_to_an_edit_then_outcomes_follow_the_text(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    reply(f"Here you go:\n```python\n{REFACTORED}```\nIt uses a power.")
    refactor = pick(await actions(client, uri, rng(4, 0, 4, 0)), "refactor")
    assert "edit" not in refactor and "command" not in refactor  # resolve does the work
    resolved = await resolve(client, refactor)
    new = apply(CODE, text_edits(resolved["edit"], uri))
    assert new == CODE.replace("math.pi * r * r", "math.pi * r**2")
    # the route decision is the progress title
    titles = [
        r.title
        for reports in client.progress_reports.values()
        for r in reports
        if isinstance(r, types.WorkDoneProgressBegin)
    ]
    # (a code model: the 0.5B or, where graded outcomes favour it, the 1.5B)
    assert any(t.startswith("Refactor with AI: code (") and CODE_MODEL.search(t) for t in titles)
    command = resolved["command"]
    assert command["command"] == "tsr.action.applied"
    change(client, uri, new, 2)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command["command"], arguments=command["arguments"])
    )
    ep_id = command["arguments"][0]["id"]
    assert result == {"id": ep_id, "outcome": "accepted"}
    # the outcome is written by memory's writer after the reply
    assert await until(lambda: _outcome_is(client, ep_id, "accepted"))
    ep = await episode(client, ep_id)
    assert ep["meta"]["kind"] == "refactor"
    assert ep["text"].startswith("Refactor function area of geo.py")
    change(client, uri, new.replace("r**2", "r ** 2"), 3)  # changed by hand
    assert await until(lambda: _outcome_is(client, ep_id, "edited")), (
        "a hand edit of the inserted code is 'edited'"
    )
    change(client, uri, CODE, 4)  # undone
    assert await until(lambda: _outcome_is(client, ep_id, "rejected"))


async def test_a_docstring_stops_the_model_once_it_is_written(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    body = "".join(f"    step_{i} = r * {i}\n" for i in range(60))  # what it need not write
    reply(f'```python\ndef area(r):\n    """Area of a circle of radius r."""\n{body}```\n')
    resolved = await resolve(client, pick(await actions(client, uri, rng(4, 0, 4, 0)), "docstring"))
    new = apply(CODE, text_edits(resolved["edit"], uri))
    assert new == CODE.replace(
        "def area(r):\n", 'def area(r):\n    """Area of a circle of radius r."""\n'
    )
    assert tokens_written(client) <= 8 < len(body) // 8


async def test_a_refactor_stops_the_model_after_its_code_block(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    chat = "It now uses a power, which reads better. " * 20  # what it need not write
    reply(f"```python\n{REFACTORED}```\n{chat}")
    resolved = await resolve(client, pick(await actions(client, uri, rng(4, 0, 4, 0)), "refactor"))
    assert apply(CODE, text_edits(resolved["edit"], uri)) == CODE.replace(
        "math.pi * r * r", "math.pi * r**2"
    )
    assert tokens_written(client) <= (len(REFACTORED) + 20) // 8 + 1 < len(chat) // 8


async def _outcome_is(client: LanguageClient, ep_id: str, want: str) -> bool:
    return (await episode(client, ep_id))["outcome"] == want


async def test_bad_answers_are_reported_not_applied(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    refactor = pick(await actions(client, uri, rng(4, 0, 4, 0)), "refactor")
    reply("```python\ndef area(r)\n    return r\n```")
    with pytest.raises(JsonRpcException) as err:
        await resolve(client, refactor)
    assert (
        err.value.code == -32001
        and "does not parse as Python (line 4: expected ':')" in err.value.message
    )
    reply("I am sorry, I cannot do that.")
    with pytest.raises(JsonRpcException, match="held no code"):
        await resolve(client, refactor)
    change(client, uri, CODE.replace("r * r", "r * r * 1"), 2)  # the code moved on
    with pytest.raises(JsonRpcException, match="changed since the action was offered"):
        await resolve(client, refactor)


async def test_tests_create_a_file_in_the_test_folder(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    reply(
        "```python\nimport math\nfrom geo import area\n\n\ndef test_area():\n"
        "    assert area(1) == math.pi\n```"
    )
    resolved = await resolve(client, pick(await actions(client, uri, rng(3, 0, 3, 0)), "tests"))
    create, write = resolved["edit"]["documentChanges"]
    target = (tmp_path / "tests" / "test_geo.py").as_uri()
    assert create == {"kind": "create", "uri": target, "options": {"ignoreIfExists": True}}
    text = write["edits"][0]["newText"]
    assert write["textDocument"]["uri"] == target
    assert "sys.path.insert(0, str(Path(__file__).resolve().parents[1]))" in text
    assert "from geo import area" in text and "def test_area():" in text
    # an existing file is appended to, names kept apart
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_geo.py").write_text("def test_area():\n    pass\n")
    again = await resolve(client, pick(await actions(client, uri, rng(3, 0, 3, 0)), "tests"))
    (edit,) = text_edits(again["edit"], target)
    assert edit["range"]["start"] == {"line": 2, "character": 0}
    assert "def test_area_2():" in edit["newText"]


async def test_tests_stay_inside_the_project(client: LanguageClient, tmp_path: Path) -> None:
    """A cloned project's config cannot make Write tests write outside it: "../.." is
    dropped by trust (untrusted folder), a symlinked folder is refused when resolved."""
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    reply("```python\nfrom geo import area\n\n\ndef test_area():\n    assert area(0) == 0\n```")
    (tmp_path / ".tsr").mkdir()
    config = tmp_path / ".tsr" / "config.toml"
    config.write_text('[actions]\ntests_dir = "../.."\n')
    resolved = await resolve(client, pick(await actions(client, uri, rng(3, 0, 3, 0)), "tests"))
    create = resolved["edit"]["documentChanges"][0]
    assert create["uri"] == (tmp_path / "tests" / "test_geo.py").as_uri()
    assert any("trust this folder" in m for m in client.asked)  # type: ignore[attr-defined]
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "out").symlink_to(outside)
    config.write_text('[actions]\ntests_dir = "out"\n')
    with pytest.raises(JsonRpcException, match="outside the project"):
        await resolve(client, pick(await actions(client, uri, rng(3, 0, 3, 0)), "tests"))
    assert not any(outside.iterdir())


async def test_explain_and_ask_open_a_markdown_document(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    reply("`area` returns the area of a circle of radius `r`.")
    explain = pick(await actions(client, uri, rng(3, 0, 4, 10)), "explain")
    command = explain["command"]
    assert command["command"] == "tsr.action.run"
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command["command"], arguments=command["arguments"])
    )
    assert result["shown"] is True and client.shown_documents[-1].uri == result["uri"]
    path = Path(result["uri"].removeprefix("file://"))
    assert path.is_relative_to(HOME / "data" / "answers") and path.stat().st_mode & 0o077 == 0
    md = path.read_text()
    assert md.startswith("# Explain with AI: `geo.py:4-5`") and CODE_MODEL.search(md)
    assert md.rstrip().endswith("area of a circle of radius `r`.")
    ask = pick(await actions(client, uri, rng(3, 0, 4, 10)), "ask")
    args = [{**ask["command"]["arguments"][0], "question": "Is r validated?"}]
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tsr.action.run", arguments=args)
    )
    assert "> Is r validated?" in Path(result["uri"].removeprefix("file://")).read_text()
    assert "Is r validated?" in (HOME / "prompts.txt").read_text().splitlines()[-1]


async def test_cancel_stops_the_model_and_records_nothing(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    reply("```python\n" + "# words\n" * 400 + "```", delay=0.05)  # ~20 s if not stopped
    refactor = pick(await actions(client, uri, rng(4, 0, 4, 0)), "refactor")
    before = await kinds(client)
    action = client.protocol._converter.structure(refactor, types.CodeAction)
    task = asyncio.ensure_future(
        client.protocol.send_request_async(types.CODE_ACTION_RESOLVE, action, msg_id="rf-1")
    )
    assert await until(lambda: _begun(client), timeout=60)
    started = time.monotonic()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="rf-1"))
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(task, 5)
    assert info.value.code == -32800  # RequestCancelled
    status = await client.protocol.send_request_async("tsr/status", {})
    while status["models"]["coder"].get("busy"):  # the model stops at its next piece
        assert time.monotonic() - started < 3, "the model kept generating after cancel"
        await asyncio.sleep(0.02)
        status = await client.protocol.send_request_async("tsr/status", {})
    reply("`area` computes an area.")
    explain = pick(await actions(client, uri, rng(3, 0, 4, 0)), "explain")
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="tsr.action.run", arguments=explain["command"]["arguments"]
        )
    )
    after = await kinds(client)
    # a cancelled run is not recorded (on failure: what the recorded run answered, and when)
    assert after["refactor"] == before["refactor"], await recorded(client, "refactor")
    assert after["explain"] == before["explain"] + 1


async def _begun(client: LanguageClient) -> bool:
    return any(
        isinstance(r, types.WorkDoneProgressBegin) and r.title.startswith("Refactor")
        for reports in client.progress_reports.values()
        for r in reports
    )


async def recorded(client: LanguageClient, kind: str) -> list[tuple[str, float, float]]:
    exported = await client.protocol.send_request_async("tsr/memory/export", {})
    return [
        (ep.get("response", "")[:40], ep.get("ts", 0.0), ep.get("finished_ts", 0.0))
        for ep in exported["episodes"]
        if ep.get("meta", {}).get("kind") == kind
    ]


async def kinds(client: LanguageClient) -> dict[str, int]:
    exported = await client.protocol.send_request_async("tsr/memory/export", {})
    out = {"refactor": 0, "explain": 0}
    for ep in exported["episodes"]:
        kind = ep.get("meta", {}).get("kind", "")
        out[kind] = out.get(kind, 0) + 1
    return out


async def test_clients_without_resolve_run_commands(plain: LanguageClient, tmp_path: Path) -> None:
    client = plain
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    items = await actions(client, uri, rng(4, 0, 4, 0))
    refactor = pick(items, "refactor")
    assert refactor["command"]["command"] == "tsr.action.run"
    reply(f"```python\n{REFACTORED}```")
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="tsr.action.run", arguments=refactor["command"]["arguments"]
        )
    )
    assert result["applied"] is True
    (edit,) = client.applied_edits  # type: ignore[attr-defined]
    assert "math.pi * r**2" in apply(
        CODE, text_edits(client.protocol._converter.unstructure(edit), uri)
    )
    # the outcome is written in a worker thread (never blocks typing): wait for it
    assert await until(lambda: _outcome_is(client, result["episodeId"], "accepted"))
    # tests: the server writes the new file itself and shows it
    reply("```python\nfrom geo import area\n\ndef test_area():\n    assert area(0) == 0\n```")
    tests = pick(await actions(client, uri, rng(3, 0, 3, 0)), "tests")
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="tsr.action.run", arguments=tests["command"]["arguments"]
        )
    )
    written = tmp_path / "tests" / "test_geo.py"
    assert result["uri"] == written.as_uri() and "def test_area():" in written.read_text()


async def test_the_progress_cancel_button_stops_the_model(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "geo.py", CODE)
    reply("```python\n" + "# words\n" * 400 + "```", delay=0.05)
    explain = pick(await actions(client, uri, rng(3, 0, 4, 0)), "explain")
    pending = asyncio.ensure_future(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="tsr.action.run", arguments=explain["command"]["arguments"]
            )
        )
    )
    assert await until(lambda: _progress_token(client, "Explain"), timeout=60)
    token = await _progress_token(client, "Explain")
    begin = next(
        r for r in client.progress_reports[token] if isinstance(r, types.WorkDoneProgressBegin)
    )
    assert begin.cancellable is True
    started = time.monotonic()
    client.protocol.notify(
        types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token)
    )
    with pytest.raises(JsonRpcException) as info:
        await asyncio.wait_for(pending, 5)
    assert info.value.code == -32800 and time.monotonic() - started < 5
    ends = [r for r in client.progress_reports[token] if isinstance(r, types.WorkDoneProgressEnd)]
    assert ends and ends[-1].message == "cancelled"


async def _progress_token(client: LanguageClient, title: str) -> Any:
    for token, reports in client.progress_reports.items():
        if any(
            isinstance(r, types.WorkDoneProgressBegin) and r.title.startswith(title)
            for r in reports
        ):
            return token
    return None
