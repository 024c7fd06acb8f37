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


async def test_a_closed_connection_leaves_no_template_analysis_behind() -> None:
    """The process-wide cache of lint results keeps its newest entry however heavy: a
    connection that vanished (no shutdown) must take its analyses with it, and a lint
    that ends after that stores nothing."""
    from lsprotocol import types
    from pygls.workspace import Workspace

    from tsr_lsp.server import templates
    from tsr_lsp.server.templates import Templates

    server = TsrLanguageServer(EngineHolder(), in_daemon=True)
    server.protocol._workspace = Workspace(None)  # what initialize sets up
    feature = server.dispatcher.feature(Templates)
    uri = "file:///tmp/tsr-lifetime/prompt.jinja"
    server.workspace.put_text_document(
        types.TextDocumentItem(uri=uri, language_id="jinja", version=1, text="Hi {{ name }}\n")
    )
    feature.languages[uri] = "jinja"
    assert await feature.analyse(uri) is not None
    assert (feature.owner, uri) in templates._RESULTS

    server.dispatcher.connection_lost()
    assert (feature.owner, uri) not in templates._RESULTS
    await feature._lint(uri, "Hi {{ name }}\n", feature.current_key(uri))  # a late lint
    assert (feature.owner, uri) not in templates._RESULTS
