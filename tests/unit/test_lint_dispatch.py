"""Several feature modules on one LSP method (tsr_lsp/server/dispatch.py)."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from tsr_lsp.server.app import TsrLanguageServer, make_engine_factory
from tsr_lsp.server.dispatch import NOT_MINE, on_notification, on_request


async def test_notifications_fan_out_and_requests_route_by_claim() -> None:
    server = TsrLanguageServer(make_engine_factory())  # templates already registered
    seen: list[str] = []

    def first(ls: Any, params: Any) -> None:
        seen.append("first")

    async def second(ls: Any, params: Any) -> None:
        seen.append("second")

    on_notification(server, "test/notify", first)
    on_notification(server, "test/notify", second)
    await server.protocol.fm.features["test/notify"](None)
    assert seen == ["first", "second"]

    on_request(server, "test/ask", lambda ls, p: NOT_MINE)
    on_request(server, "test/ask", lambda ls, p: "answer")
    assert await server.protocol.fm.features["test/ask"](None) == "answer"


async def test_code_actions_merge_and_options_combine() -> None:
    server = TsrLanguageServer(make_engine_factory())
    extra = types.CodeAction(title="AI: explain")
    on_request(server, types.TEXT_DOCUMENT_CODE_ACTION, lambda ls, p: [extra])
    on_request(
        server,
        types.TEXT_DOCUMENT_COMPLETION,
        lambda ls, p: NOT_MINE,
        types.CompletionOptions(trigger_characters=["(", "|"]),
    )
    options = server.protocol.fm.feature_options[types.TEXT_DOCUMENT_COMPLETION]
    assert options.trigger_characters == ["|", ".", "{", "%", "'", '"', "("]
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri="file:///x.py"),
        range=types.Range(
            start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)
        ),
        context=types.CodeActionContext(diagnostics=[]),
    )
    result = await server.protocol.fm.features[types.TEXT_DOCUMENT_CODE_ACTION](params)
    assert result == [extra]  # the template module passes on a .py file
