"""End-to-end fixtures: the real server, spoken to by pytest-lsp as a neovim and as a
VS Code client (their recorded capability profiles)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import register_lsp_features

from tsr_lsp.server.transport import plain_converter

CLIENTS = ["neovim", "visual_studio_code"]


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=plain_converter)
    register_lsp_features(client)
    client.partial_results = {}  # type: ignore[attr-defined]
    work_done = client.protocol.fm.features.pop(types.PROGRESS)

    @client.feature(types.PROGRESS)
    def progress(ls: LanguageClient, params: types.ProgressParams) -> None:
        """tsr/* partial results (``event`` values) are collected; work-done progress is
        left to pytest-lsp's own handler."""
        if isinstance(params.value, dict) and "event" in params.value:
            ls.partial_results.setdefault(params.token, []).append(params.value)  # type: ignore[attr-defined]
        else:
            work_done(params)  # pygls stored it as partial(progress, client)

    return client


def server_config(*extra: str) -> ClientServerConfig:
    return ClientServerConfig(
        server_command=[sys.executable, "-m", "tsr_lsp", "stdio", "--no-daemon", *extra],
        client_factory=make_client,
    )


async def request(client: LanguageClient, method: str, params: dict[str, Any]) -> Any:
    return await client.protocol.send_request_async(method, params)


@pytest_lsp.fixture(params=CLIENTS, config=server_config())
async def client(
    request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Any
) -> AsyncIterator[None]:
    params = types.InitializeParams(
        capabilities=client_capabilities(request.param),
        root_uri=tmp_path.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="proj")],
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()
