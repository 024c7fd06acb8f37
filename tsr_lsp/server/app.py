"""The language server: one instance per editor connection, all sharing one Engine.

``FEATURES`` is the one ordered list of what the server does; the Dispatcher
(server/dispatch.py) calls them in this order. Per-connection state lives on the features
and the session; everything expensive (models, router, memory) lives on the Engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCResponseMessage, LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from tsr_lsp import __version__, release
from tsr_lsp.backends.pool import set_owner
from tsr_lsp.config import Settings, load_settings
from tsr_lsp.server.actions import Actions
from tsr_lsp.server.completion import InlineCompletion
from tsr_lsp.server.custom import CustomRequests
from tsr_lsp.server.dispatch import Dispatcher, FeatureError
from tsr_lsp.server.feature import CancelToken, Encoded, LanguageFeature, document_problem
from tsr_lsp.server.lifecycle import Lifecycle, Session
from tsr_lsp.server.memory import MemoryRequests
from tsr_lsp.server.templates import Templates

if TYPE_CHECKING:
    from tsr_lsp.engine import Engine

log = logging.getLogger(__name__)

# Order matters: Lifecycle builds the session's settings first; for a request hook the
# first feature that does not answer NOT_MINE wins (code actions are concatenated).
FEATURES: list[type[LanguageFeature]] = [
    Lifecycle,
    Templates,
    Actions,
    CustomRequests,
    MemoryRequests,
    InlineCompletion,
]

INVALID_REQUEST = -32600
INFO = types.MessageType.Info


class TsrProtocol(LanguageServerProtocol):
    """pygls's protocol plus: per-request cancel tokens, InvalidRequest after shutdown,
    executeCommand through the Dispatcher, and ``exit`` that ends only this connection
    when run by the daemon."""

    _server: TsrLanguageServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: dict[Any, CancelToken] = {}
        self.refused: dict[str, str] = {}  # uri -> why it is not processed (too big, binary)

    # pygls caches these with functools.lru_cache on the method: the cache keys hold the
    # last 128 (protocol, method) pairs, so a daemon kept closed connections' servers and
    # their documents alive (RSS 100 MB -> 2.7 GB in `bench reliability`). A dict lookup
    # needs no cache.
    def get_message_type(self, method: str) -> Any:  # type: ignore[override]
        return types.METHOD_TO_TYPES.get(method, (None,))[0]

    def get_result_type(self, method: str) -> Any:  # type: ignore[override]
        return types.METHOD_TO_TYPES.get(method, (None, None))[1]

    # -- cancellation -------------------------------------------------------------
    def begin_request(self) -> CancelToken:
        """A token for the request being handled (its id comes from pygls's context)."""
        token = CancelToken(self.msg_id)
        if token.request_id is not None:
            self.tokens[token.request_id] = token
        release.activity.begin()  # the memory release waits while anyone waits on a reply
        return token

    def end_request(self, token: CancelToken) -> None:
        release.activity.end()
        if self.tokens.get(token.request_id) is token:
            del self.tokens[token.request_id]

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        token = self.tokens.get(msg_id)
        if token is not None:
            token.set()  # work in threads stops at its next check
        super()._handle_cancel_notification(msg_id)

    def cancel_all(self) -> None:
        """The connection is gone: stop everything it started."""
        for token in list(self.tokens.values()):
            token.set()
        for future in list(self._request_futures.values()):
            future.cancel()

    # -- messages -------------------------------------------------------------------
    def _serialize_message(self, data: Any) -> Any:
        """A tsr/* result is plain JSON already: the json module encodes it natively
        instead of cattrs first walking it in Python on the event loop (a 20,000-episode
        memory export: 0.17 -> 0.05 s, during which every other client waited). lsprotocol
        objects inside still go through the converter (json calls back here for them)."""
        if type(data) is JsonRPCResponseMessage:
            return {"jsonrpc": data.jsonrpc, "id": data.id, "result": data.result}
        return super()._serialize_message(data)

    def _send_data(self, data: Any) -> None:
        """A result already encoded (feature.Encoded) goes out as its text; the rest as
        pygls sends it."""
        if type(data) is not JsonRPCResponseMessage or not isinstance(data.result, Encoded):
            super()._send_data(data)
            return
        from tsr_lsp.server.transport import send_body

        body = f'{{"jsonrpc":"2.0","id":{json.dumps(data.id)},"result":{data.result.text}}}'
        try:
            send_body(self, body.encode("utf-8"))
        except (BrokenPipeError, ConnectionError):
            log.info("the client went away before its result was sent")

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if self._shutdown and method not in (None, types.EXIT) and msg_id is not None:
            from pygls.protocol.json_rpc import ResponseError

            error = ResponseError(
                code=INVALID_REQUEST,
                message=f"{method}: the server is shutting down; only 'exit' is accepted",
            )
            self._send_response(msg_id, error=error)
            return
        super().handle_message(message)

    # -- documents: too big or binary ones are never stored nor shown to features ------
    def _refuse(self, uri: str, problem: str) -> None:
        self.workspace.remove_text_document(uri)
        if uri not in self.refused:
            name = uri.rsplit("/", 1)[-1]
            self._server.tell(f"{name}: {problem}; no AI help or linting for it", INFO)
        self.refused[uri] = problem

    def _problem(self, text: str) -> str | None:
        return document_problem(text, self._server.session.settings.server.max_document_mb)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        doc = params.text_document
        problem = self._problem(doc.text)
        if problem is not None:
            if unquote(doc.uri) in self.workspace.text_documents:  # opened again, refused now
                closed = types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(doc.uri))
                yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, closed)
            self._refuse(doc.uri, problem)
            return
        self.refused.pop(doc.uri, None)
        yield from super().lsp_text_document__did_open(params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        uri = params.text_document.uri
        if uri in self.refused:
            return  # until it is closed and opened again
        for change in params.content_changes:
            self.workspace.update_text_document(params.text_document, change)
        problem = self._problem(self.workspace.get_text_document(uri).source)
        if problem is not None:  # grew too big: the features let go of it first
            closed = types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri))
            yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, closed)
            self._refuse(uri, problem)
            return
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        if self.refused.pop(params.text_document.uri, None) is not None:
            return
        yield from super().lsp_text_document__did_close(params)

    def _user_handler(self, method: str, params: Any) -> Any:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(  # type: ignore[override]
        self, params: types.ExecuteCommandParams
    ) -> Any:
        """A coroutine (pygls's is a generator), so $/cancelRequest cancels the command's
        own task; the Dispatcher structures the arguments by the command's params class."""
        return await self._server.dispatcher.execute_command(params)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        server = self._server
        if not server.in_daemon:
            yield from super().lsp_exit(*args)
            return
        server.connection_closed.set()
        if self.writer is not None:
            self.writer.close()  # StreamWriterAdapter.close is synchronous


class TsrLanguageServer(LanguageServer):
    protocol: TsrProtocol

    def __init__(
        self,
        engines: EngineHolder,
        *,
        in_daemon: bool = False,
        daemon_info: Callable[[], dict[str, Any]] | None = None,
        features: Iterable[type[LanguageFeature]] = FEATURES,
    ):
        from tsr_lsp.server.transport import plain_converter

        super().__init__(
            "tsr-lsp",
            __version__,
            protocol_cls=TsrProtocol,
            converter_factory=plain_converter,
            max_workers=8,
        )
        self.engines = engines
        self.in_daemon = in_daemon
        self.daemon_info = daemon_info
        self.connection_closed = threading.Event()
        self.session = Session()
        self._reported: set[tuple[str, str]] = set()
        self.dispatcher = Dispatcher(self, features)

    @property
    def thread_pool(self) -> ThreadPoolExecutor:
        """This connection's worker threads, marked as its own: the model pool takes turns
        between connections (backends/pool.py FairLock), so one editor's queue of long
        generations never holds another editor's request behind all of it."""
        if self._thread_pool is None:
            self._thread_pool = ThreadPoolExecutor(
                max_workers=self._max_workers,
                thread_name_prefix="tsr-conn",
                initializer=set_owner,
                initargs=(object(),),  # this connection, hashable and unique
            )
        return self._thread_pool

    @property
    def engine_started(self) -> bool:
        """This process's Engine exists: built for this connection, or for another one of
        the daemon (each connection has its own server; they share the holder). Asked per
        connection, a new editor of a daemon that was already writing memory probed the
        writer lock, found the daemon's own and was told memory is read-only."""
        return self.engines.engine is not None

    @property
    def engine(self) -> Engine:
        return self.engines.get()

    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"tsr-lsp: {message}"))

    def tell_once(self, key: str, message: str) -> None:
        """A warning shown (and logged) once per connection, however often its cause recurs."""
        if ("once", key) in self._reported:
            return
        self._reported.add(("once", key))
        log.warning("%s", message)
        self.tell(message)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """The one error path: a feature's bug is logged with its name and traceback; the
        user sees the first failure of each feature and method outside of a reply."""
        if isinstance(error, FeatureError):
            log.error("%s", error, exc_info=error.__cause__)
        elif isinstance(error, JsonRpcException) and source is FeatureRequestError:
            log.info("request failed: %s", error.message)  # the reply carries it
            return
        else:
            log.error("%s", error, exc_info=error)
        if source is FeatureRequestError:
            return
        key = (getattr(error, "feature", ""), getattr(error, "method", ""))
        if key in self._reported:
            return
        self._reported.add(key)
        self.tell(f"{error} (further errors of this kind go to the log)", types.MessageType.Error)


class EngineHolder:
    """The process's one Engine, built on first use (initialize stays fast) from the
    user-level settings, or ``settings`` when given (tests, benches)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.lock = threading.Lock()

    def get(self) -> Engine:
        from tsr_lsp.engine import Engine  # numpy, jinja2, the router: not at initialize

        with self.lock:
            if self.engine is None:
                base = self.settings
                if base is None:  # the user's config: followed when it changes
                    base, warnings = load_settings(None)
                    for warning in warnings:
                        log.warning("%s", warning)
                    self.engine = Engine(base, follow_user_config=True)
                else:
                    self.engine = Engine(base)
            return self.engine

    def close(self) -> None:
        """Close the Engine if one was built (never builds one to close it); the next
        ``get`` builds a new one."""
        with self.lock:
            engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()


def protocol_stdout() -> BinaryIO:
    """The protocol's own handle on stdout, with file descriptor 1 pointed at stderr.

    A stray print must never corrupt the protocol stream, and llama-cpp-python silences
    file descriptors 1 and 2 (dup2 of /dev/null) while it loads a model: a reply written
    meanwhile to fd 1 was lost, so a request answered during another one's model load
    never got its reply. The protocol writes to a duplicate of fd 1 instead."""
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests): as it is
        stream: BinaryIO = sys.stdout.buffer
    else:
        stream = os.fdopen(os.dup(fd), "wb")
        os.dup2(sys.stderr.fileno(), fd)
    sys.stdout = sys.stderr
    return stream


def serve_stdio(
    engines: EngineHolder | None = None,
    features: Iterable[type[LanguageFeature]] = FEATURES,
) -> int:
    """Serve one editor over stdin/stdout in this process."""
    from tsr_lsp.server.transport import StdoutWriter, read_messages, stdin_reader

    server = TsrLanguageServer(engines or EngineHolder(), features=features)
    server.protocol.set_writer(StdoutWriter(protocol_stdout()))

    async def main() -> None:
        reader = await stdin_reader()
        await read_messages(reader, server.protocol)

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        server.protocol.cancel_all()
        server.engines.close()
    return 0
