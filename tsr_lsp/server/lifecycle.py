"""The connection's session (root, settings) and the feature that builds it: initialize,
initialized (pull ``workspace/configuration``), didChangeConfiguration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from tsr_lsp.config import Settings, load_settings
from tsr_lsp.server.feature import LanguageFeature, notification

SECTION = "tsr"


@dataclass
class Session:
    """Per-connection state every feature reads: the workspace root and its settings."""

    settings: Settings = field(default_factory=Settings)
    root: Path | None = None
    warnings: list[str] = field(default_factory=list)
    init_options: dict[str, Any] = field(default_factory=dict)
    workspace_config: dict[str, Any] | None = None

    def reload(self) -> list[str]:
        """Rebuild the settings from files and the editor's layers; returns the warnings."""
        layers: list[tuple[str, Any]] = []
        if self.init_options:
            layers.append(("initializationOptions", self.init_options))
        if self.workspace_config:
            layers.append(("workspace/configuration", self.workspace_config))
        self.settings, self.warnings = load_settings(self.root, *layers)
        return self.warnings


def root_from_params(params: types.InitializeParams) -> Path | None:
    if params.workspace_folders:
        return Path(to_fs_path(params.workspace_folders[0].uri) or ".")
    if params.root_uri:
        path = to_fs_path(params.root_uri)
        return Path(path) if path else None
    if params.root_path:
        return Path(params.root_path)
    return None


class Lifecycle(LanguageFeature):
    """Builds the session's settings; first in FEATURES so the others see them."""

    name = "lifecycle"

    def initialize(self, params: types.InitializeParams) -> None:
        session = self.server.session
        session.root = root_from_params(params)
        opts = params.initialization_options
        session.init_options = opts if isinstance(opts, dict) else {}
        session.reload()

    async def initialized(self, params: types.InitializedParams) -> None:
        await self.pull_configuration()

    @notification(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        pushed = params.settings.get(SECTION) if isinstance(params.settings, dict) else None
        if pushed:
            await self.apply(pushed)
        else:
            await self.pull_configuration()

    async def pull_configuration(self) -> None:
        caps = self.server.client_capabilities.workspace
        config: Any = None
        if caps is not None and caps.configuration:
            try:
                items = [types.ConfigurationItem(section=SECTION)]
                params = types.ConfigurationParams(items=items)
                result = await self.server.workspace_configuration_async(params)
                config = result[0] if result else None
            except Exception as exc:  # a client may refuse; its settings come from files
                self.log.info("workspace/configuration failed: %s", exc)
        await self.apply(config if isinstance(config, dict) else None)

    async def apply(self, workspace_config: dict[str, Any] | None) -> None:
        session = self.server.session
        session.workspace_config = workspace_config
        self.report(session.reload())
        await self.server.dispatcher.configuration_changed()

    def report(self, warnings: list[str]) -> None:
        for warning in warnings:
            self.log.warning("%s", warning)
        if warnings:
            more = f" (+{len(warnings) - 1} more in the log)" if len(warnings) > 1 else ""
            self.server.tell(f"settings: {warnings[0]}{more}")
