"""A closed connection's server (and so its documents) can be freed: the daemon serves many
connections over its life and must not keep them."""

from __future__ import annotations

import gc
import weakref

from tsr_lsp.server.app import EngineHolder, TsrLanguageServer


def test_a_served_connection_can_be_freed() -> None:
    server = TsrLanguageServer(EngineHolder(), in_daemon=True)
    for method in ("initialize", "textDocument/didOpen", "textDocument/hover", "tsr/status"):
        server.protocol.get_message_type(method)  # what every incoming message does
        server.protocol.get_result_type(method)
    assert server.protocol.get_message_type("initialize") is not None
    ref = weakref.ref(server)
    del server
    gc.collect()
    assert ref() is None
