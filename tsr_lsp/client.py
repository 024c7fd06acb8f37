"""A small LSP client for the CLI and benchmarks: spawn the server, initialize, call tsr/*.

It is a real LSP client (pygls) talking to the real server over stdio, the same path an
editor takes, so `tsr-lsp ask` exercises exactly what users get.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ProgressHandler = Callable[[dict[str, Any]], None]
_tokens = itertools.count(1)


def server_command(no_daemon: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "tsr_lsp", "stdio"]
    return [*cmd, "--no-daemon"] if no_daemon else cmd


class TsrClient:
    def __init__(self) -> None:
        from tsr_lsp.server.transport import plain_converter

        self.lsp = LanguageClient("tsr-lsp-cli", "1", converter_factory=plain_converter)
        self._handlers: dict[str, ProgressHandler] = {}
        self.messages: list[str] = []
        self.stderr_tail: list[str] = []

        @self.lsp.feature(types.PROGRESS)
        def on_progress(_ls: LanguageClient, params: types.ProgressParams) -> None:
            handler = self._handlers.get(str(params.token))
            if handler is not None and isinstance(params.value, dict):
                handler(params.value)

        @self.lsp.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(_ls: LanguageClient, params: types.ShowMessageParams) -> None:
            self.messages.append(params.message)

        @self.lsp.feature(types.WINDOW_LOG_MESSAGE)
        def on_log(_ls: LanguageClient, params: types.LogMessageParams) -> None:
            pass

        @self.lsp.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def on_create_progress(_ls: LanguageClient, params: Any) -> None:
            return None  # accepted; begin/report/end arrive through $/progress

        @self.lsp.feature(types.WORKSPACE_CONFIGURATION)
        def on_configuration(_ls: LanguageClient, params: types.ConfigurationParams) -> list[Any]:
            return [None for _ in params.items]

    async def start(
        self,
        cmd: list[str] | None = None,
        root: Path | None = None,
        env: dict[str, str] | None = None,
        initialization_options: dict[str, Any] | None = None,
    ) -> types.InitializeResult:
        cmd = cmd or server_command()
        await self.lsp.start_io(cmd[0], *cmd[1:], env={**os.environ, **(env or {})})
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        root = (root or Path.cwd()).resolve()
        # code actions as editors ask for them: the edit computed in codeAction/resolve
        actions = types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=[""])
            ),
            data_support=True,
            resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
        )
        # and applied as editors apply them: "Write tests" creates its file in the edit
        edits = types.WorkspaceEditClientCapabilities(
            document_changes=True, resource_operations=[types.ResourceOperationKind.Create]
        )
        caps = types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(configuration=True, workspace_edit=edits),
            window=types.WindowClientCapabilities(work_done_progress=True),
            text_document=types.TextDocumentClientCapabilities(code_action=actions),
        )
        result = await self.lsp.initialize_async(
            types.InitializeParams(
                capabilities=caps,
                process_id=os.getpid(),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                initialization_options=initialization_options,
            )
        )
        self.lsp.initialized(types.InitializedParams())
        return result

    async def _drain_stderr(self) -> None:
        """Keep the server's stderr flowing (a full pipe would block it) and its tail."""
        server = self.lsp._server
        if server is None or server.stderr is None:
            return
        while line := await server.stderr.readline():
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())
            del self.stderr_tail[:-20]

    async def request(
        self, method: str, params: dict[str, Any], on_progress: ProgressHandler | None = None
    ) -> Any:
        if on_progress is not None:
            token = f"tsr-cli-{next(_tokens)}"
            params = {**params, "partialResultToken": token}
            self._handlers[token] = on_progress
        try:
            return await self.lsp.protocol.send_request_async(method, params)
        finally:
            if on_progress is not None:
                self._handlers.pop(params["partialResultToken"], None)

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.lsp.shutdown_async(None), 10)
            self.lsp.exit(None)
        except Exception:
            pass
        server = self.lsp._server
        if server is not None and server.returncode is None:
            try:
                await asyncio.wait_for(server.wait(), 5)
            except TimeoutError:
                server.kill()
        await self.lsp.stop()
