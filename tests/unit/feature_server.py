"""The real server (framework, transport, stdio) with extra features that probe the
framework: run as a script by tests/unit/test_server_features.py."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from lsprotocol import types

from tsr_lsp.server.app import FEATURES, serve_stdio
from tsr_lsp.server.feature import NOT_MINE, CancelToken, LanguageFeature, command, request


@dataclass
class WaitParams:
    seconds: float


@dataclass
class EchoArgs:
    positional: ClassVar[tuple[str, ...]] = ("text", "times")
    text: str
    times: int = 1


class Broken(LanguageFeature):
    """Fails on every notification it hooks: the features after it must still run."""

    name = "broken"

    def document_open(self, params: Any) -> None:
        raise RuntimeError("boom in document_open")

    def inline_completion(self, params: Any, token: CancelToken) -> Any:
        return NOT_MINE


class Probe(LanguageFeature):
    name = "probe"
    options: ClassVar[dict[str, Any]] = {
        types.TEXT_DOCUMENT_INLINE_COMPLETION: types.InlineCompletionOptions(),
        types.TEXT_DOCUMENT_CODE_ACTION: types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True
        ),
    }

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.opened: list[str] = []
        self.seen_cancel: list[float] = []

    def document_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self.opened.append(params.text_document.uri)

    def inline_completion(self, params: types.InlineCompletionParams, token: CancelToken) -> Any:
        return [types.InlineCompletionItem(insert_text=f"line {params.position.line}")]

    def code_action(self, params: types.CodeActionParams, token: CancelToken) -> Any:
        return [types.CodeAction(title="probe: rewrite", data={"probe": 1})]

    def code_action_resolve(self, params: types.CodeAction, token: CancelToken) -> Any:
        if not isinstance(params.data, dict) or "probe" not in params.data:
            return NOT_MINE
        params.command = types.Command(title="resolved", command="probe.echo")
        return params

    @request("probe/wait", WaitParams)
    async def wait(self, params: WaitParams, token: CancelToken) -> dict[str, Any]:
        """Blocks a worker thread until the token is set (or ``seconds`` pass)."""

        def work() -> bool:
            start = time.monotonic()
            cancelled = token.wait(params.seconds)
            if cancelled:
                self.seen_cancel.append(time.monotonic() - start)
            return cancelled

        return {"cancelled": await self.in_thread(work)}

    @request("probe/state")
    def state(self, params: Any, token: CancelToken) -> dict[str, Any]:
        return {"opened": self.opened, "seenCancel": self.seen_cancel}

    @command("probe.echo", EchoArgs)
    def echo(self, args: EchoArgs, token: CancelToken) -> str:
        return args.text * args.times


if __name__ == "__main__":
    sys.exit(serve_stdio(features=[*FEATURES, Broken, Probe]))
