"""The language server: one instance per editor connection, all sharing one Engine.

Per-connection state (the client's settings, its workspace root) lives on the server
instance; everything expensive (models, router, memory) lives on the Engine.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from tsr_lsp import __version__
from tsr_lsp.config import Settings, load_settings
from tsr_lsp.engine import Engine

log = logging.getLogger(__name__)


class TsrProtocol(LanguageServerProtocol):
    """Like pygls's protocol, but `exit` ends only this connection when run by the daemon."""

    _server: TsrLanguageServer

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        server = self._server
        if not server.in_daemon:
            yield from super().lsp_exit(*args)
            return
        server.connection_closed.set()
        if self.writer is not None:
            self.writer.close()  # StreamWriterAdapter.close is synchronous


@dataclass
class Session:
    settings: Settings
    root: Path | None = None
    warnings: list[str] = field(default_factory=list)
    init_options: dict[str, Any] = field(default_factory=dict)


class TsrLanguageServer(LanguageServer):
    def __init__(self, engine_factory: Callable[[], Engine], *, in_daemon: bool = False):
        from tsr_lsp.server.transport import plain_converter

        super().__init__(
            "tsr-lsp",
            __version__,
            protocol_cls=TsrProtocol,
            converter_factory=plain_converter,
            max_workers=8,
        )
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self.in_daemon = in_daemon
        self.connection_closed = threading.Event()
        self.session = Session(Settings())
        from tsr_lsp.server import custom, lifecycle
        from tsr_lsp.server import memory as memory_requests

        lifecycle.register(self)
        custom.register(self)
        from tsr_lsp.server import templates

        templates.register(self)
        memory_requests.register(self)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def project_root(self) -> Path | None:
        return self.session.root

    def reload_settings(self, workspace_config: dict[str, Any] | None = None) -> list[str]:
        layers: list[tuple[str, Any]] = []
        if self.session.init_options:
            layers.append(("initializationOptions", self.session.init_options))
        if workspace_config:
            layers.append(("workspace/configuration", workspace_config))
        settings, warnings = load_settings(self.session.root, *layers)
        self.session.settings = settings
        self.session.warnings = warnings
        return warnings

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"tsr-lsp: {message}"))


def root_from_params(params: types.InitializeParams) -> Path | None:
    if params.workspace_folders:
        return Path(to_fs_path(params.workspace_folders[0].uri) or ".")
    if params.root_uri:
        path = to_fs_path(params.root_uri)
        return Path(path) if path else None
    if params.root_path:
        return Path(params.root_path)
    return None


def make_engine_factory(settings: Settings | None = None) -> Callable[[], Engine]:
    """One Engine per process, built on first use from the user-level settings."""
    holder: dict[str, Engine] = {}
    lock = threading.Lock()

    def factory() -> Engine:
        with lock:
            if "engine" not in holder:
                base = settings
                if base is None:
                    base, warnings = load_settings(None)
                    for warning in warnings:
                        log.warning("%s", warning)
                holder["engine"] = Engine(base)
            return holder["engine"]

    return factory


def serve_stdio(engine_factory: Callable[[], Engine] | None = None) -> int:
    """Serve one editor over stdin/stdout in this process."""
    from tsr_lsp.server.transport import StdoutWriter, read_messages, stdin_reader

    server = TsrLanguageServer(engine_factory or make_engine_factory())
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must never corrupt the protocol stream
    server.protocol.set_writer(StdoutWriter(stdout))

    async def main() -> None:
        reader = await stdin_reader()
        await read_messages(reader, server.protocol)

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        if server._engine is not None:
            server._engine.close()
    return 0
