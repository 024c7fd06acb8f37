"""initialize / initialized / configuration: build this connection's settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from tsr_lsp.server.app import TsrLanguageServer

log = logging.getLogger(__name__)
SECTION = "tsr"


def register(server: TsrLanguageServer) -> None:
    from tsr_lsp.server.app import root_from_params

    @server.feature(types.INITIALIZE)
    def initialize(ls: TsrLanguageServer, params: types.InitializeParams) -> None:
        ls.session.root = root_from_params(params)
        opts = params.initialization_options
        ls.session.init_options = opts if isinstance(opts, dict) else {}
        ls.reload_settings()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: TsrLanguageServer, params: types.InitializedParams) -> None:
        await _pull_configuration(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: TsrLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        pushed = params.settings.get(SECTION) if isinstance(params.settings, dict) else None
        if pushed:
            _report(ls, ls.reload_settings(pushed))
        else:
            await _pull_configuration(ls)


async def _pull_configuration(ls: TsrLanguageServer) -> None:
    caps = ls.client_capabilities.workspace
    config: Any = None
    if caps is not None and caps.configuration:
        try:
            items = [types.ConfigurationItem(section=SECTION)]
            result = await ls.workspace_configuration_async(types.ConfigurationParams(items=items))
            config = result[0] if result else None
        except Exception as exc:  # a client may refuse; its settings then come from files only
            log.info("workspace/configuration failed: %s", exc)
    _report(ls, ls.reload_settings(config if isinstance(config, dict) else None))


def _report(ls: TsrLanguageServer, warnings: list[str]) -> None:
    for warning in warnings:
        log.warning("%s", warning)
    if warnings:
        more = f" (+{len(warnings) - 1} more in the log)" if len(warnings) > 1 else ""
        ls.tell(f"settings: {warnings[0]}{more}")
