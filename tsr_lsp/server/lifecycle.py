"""The connection's session (root, settings) and the feature that builds it: initialize,
initialized (pull ``workspace/configuration``), didChangeConfiguration."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path

from tsr_lsp import paths, trust
from tsr_lsp.config import Settings, load, project_config_file
from tsr_lsp.server.feature import LanguageFeature, notification

SECTION = "tsr"


@dataclass
class Session:
    """Per-connection state every feature reads: the workspace root and its settings."""

    settings: Settings = field(default_factory=Settings)
    root: Path | None = None
    warnings: list[str] = field(default_factory=list)
    untrusted: list[str] = field(default_factory=list)  # project keys trust held back
    init_options: dict[str, Any] = field(default_factory=dict)
    workspace_config: dict[str, Any] | None = None
    stamps: tuple[int | None, ...] = ()

    def files(self) -> list[Path]:
        """The files the settings come from: a change to any is seen on the next request."""
        files = [paths.user_config_file(), trust.trust_file()]
        if self.root is not None:
            files.append(project_config_file(self.root))
        return files

    def stamp(self) -> tuple[int | None, ...]:
        out: list[int | None] = []
        for file in self.files():
            try:
                out.append(file.stat().st_mtime_ns)
            except OSError:
                out.append(None)
        return tuple(out)

    def stale(self) -> bool:
        return self.stamp() != self.stamps

    def reload(self) -> list[str]:
        """Rebuild the settings from files and the editor's layers; returns the warnings."""
        self.stamps = self.stamp()  # before reading: a change while we read is seen next time
        layers: list[tuple[str, Any]] = []
        if self.init_options:
            layers.append(("initializationOptions", self.init_options))
        if self.workspace_config:
            layers.append(("workspace/configuration", self.workspace_config))
        loaded = load(self.root, *layers)
        self.settings, self.warnings, self.untrusted = (
            loaded.settings,
            loaded.warnings,
            loaded.untrusted,
        )
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
    """Builds the session's settings; first in FEATURES so the others see them. Reports
    their warnings and asks once whether to trust a project that wants gated keys."""

    name = "lifecycle"
    TRUST = "Trust"
    NOT_NOW = "Not now"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.asked: set[Path] = set()
        self.asking: asyncio.Task[None] | None = None

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
        self.server.session.workspace_config = workspace_config
        await self.server.dispatcher.reload_settings()

    def configuration_changed(self, settings: Settings) -> None:
        session = self.server.session
        warnings = session.warnings
        for warning in warnings:
            self.log.warning("%s", warning)
        if warnings:
            more = f" (+{len(warnings) - 1} more in the log)" if len(warnings) > 1 else ""
            self.server.tell(f"settings: {warnings[0]}{more}")
        root = session.root
        if session.untrusted and root is not None and root not in self.asked:
            self.asked.add(root)  # once per folder and connection, whatever the answer
            self.asking = asyncio.ensure_future(self.ask_trust(root, session.untrusted))

    async def ask_trust(self, root: Path, keys: list[str]) -> None:
        """window/showMessageRequest: trusting applies the held-back keys at once."""
        shown = ", ".join(keys[:4]) + (f" (+{len(keys) - 4})" if len(keys) > 4 else "")
        params = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=(
                f"tsr-lsp: trust this folder's tsr-lsp settings? {root}/.tsr/config.toml sets "
                f"{shown}, which can send your prompts and keys elsewhere or run other models."
            ),
            actions=[types.MessageActionItem(self.TRUST), types.MessageActionItem(self.NOT_NOW)],
        )
        try:
            answer = await self.server.window_show_message_request_async(params)
        except Exception as exc:  # a client without the request: `tsr-lsp trust` remains
            self.log.info("window/showMessageRequest failed: %s", exc)
            return
        title = answer.get("title") if isinstance(answer, dict) else getattr(answer, "title", None)
        if title == self.TRUST:
            trust.trust(root)
            self.log.warning("trusted %s (tsr-lsp trust --revoke %s undoes it)", root, root)
            await self.server.dispatcher.reload_settings()
