"""The feature API: what a server feature is, and how it declares what it serves.

A feature is an object (one per connection) with its state as attributes. It overrides the
lifecycle and LSP hooks it cares about (``document_open``, ``completion``, ...) and declares
its own methods with ``@request``, ``@notification`` and ``@command``, each with a params
class (a dataclass, structured by cattrs from camelCase JSON; a bad field is a clear
``-32602``). The dispatcher (server/dispatch.py) owns every LSP method, calls the features in
the order of ``FEATURES`` (server/app.py), isolates each call and logs it with the feature's
name. docs/ARCHITECTURE.md has a minimal example.

State shared by every connection of the daemon (models, caches, memory) belongs on the
Engine or objects it owns, never on a feature.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, override
from pygls.exceptions import JsonRpcInvalidParams

from tsr_lsp.config import Settings, camel, strict_converter

if TYPE_CHECKING:
    from pathlib import Path

    from tsr_lsp.engine import Engine, Outcome
    from tsr_lsp.server.app import TsrLanguageServer

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# A request hook returns NOT_MINE for documents (or items) it does not serve; the
# dispatcher then asks the next feature.
NOT_MINE: Any = type("NotMine", (), {"__repr__": lambda self: "NOT_MINE"})()


def document_problem(text: str, max_mb: float) -> str | None:
    """Why a document is not processed at all (too big, binary), or None. Features never
    see such documents: requests about them get an empty result."""
    limit = int(max_mb * 1024 * 1024)
    if len(text) > limit:
        return (
            f"{len(text) / 1048576:.1f} MB is over the {max_mb:g} MB limit (server.max_document_mb)"
        )
    sample = text[:65536]
    if "\x00" in text or sample.count("\ufffd") > len(sample) // 10:
        return "it looks binary"
    return None


@dataclass(frozen=True)
class Encoded:
    """A request's result already encoded as JSON text. The json module encodes a big
    result (a memory export of 40,000 episodes: 0.4 s) in one C call that holds the GIL, on
    the event loop, while every client waits; ``encode_items`` builds the text in a worker
    thread one item at a time, so the loop gets the GIL between items."""

    text: str


def encode_items(key: str, items: list[Any]) -> Encoded:
    """``{key: items}`` as JSON text, item by item (call it off the event loop)."""
    dumps = json.dumps
    return Encoded(f"{{{dumps(key)}:[{','.join(dumps(item) for item in items)}]}}")


class CancelToken(threading.Event):
    """Set when the client cancels the request ($/cancelRequest) or the connection closes.

    pygls cancels a request's future, which stops an asyncio handler at its next ``await``
    but not work already running in a thread (a generation): pass the token there and check
    it every step (it is a ``threading.Event``)."""

    def __init__(self, request_id: Any = None) -> None:
        super().__init__()
        self.request_id = request_id

    def raise_if_cancelled(self) -> None:
        if self.is_set():
            raise asyncio.CancelledError()


# ---------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Declared:
    """What a decorated feature method serves: kind, LSP method or command name, params."""

    kind: str  # "request" | "notification" | "command"
    name: str
    params: type | None
    options: Any = None


_MARK = "__tsr_declared__"


def _declare(kind: str, name: str, params: type | None, options: Any = None) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        setattr(fn, _MARK, Declared(kind, name, params, options))
        return fn

    return mark


def request(method: str, params: type | None = None) -> Callable[[F], F]:
    """A custom request (``tsr/...``), called as ``handler(params, token)``; its result is
    the response. ``params`` is a dataclass the JSON object is structured into."""
    return _declare("request", method, params)


def notification(method: str, params: type | None = None) -> Callable[[F], F]:
    """A custom notification, called as ``handler(params)``."""
    return _declare("notification", method, params)


def command(name: str, params: type | None = None) -> Callable[[F], F]:
    """A ``workspace/executeCommand`` command (listed in ``executeCommandProvider``), called
    as ``handler(params, token)``. ``params`` is structured from the first argument when it
    is an object, else from the positional arguments named by ``params.positional``."""
    return _declare("command", name, params)


def declared(fn: Any) -> Declared | None:
    mark = getattr(fn, _MARK, None)
    return mark if isinstance(mark, Declared) else None


# ---------------------------------------------------------------------- the base class


class LanguageFeature:
    """Base class of server features; override only the hooks you serve.

    Notification hooks take ``(params)``; request hooks take ``(params, token)`` and return
    ``NOT_MINE`` when another feature should answer. Hooks may be plain or ``async``; plain
    ones run on the event loop, so anything slow goes through ``await self.in_thread(fn)``.
    """

    name: ClassVar[str] = ""
    # LSP method -> options advertised in the capabilities (trigger characters, resolve
    # support, ...); the dispatcher merges what several features declare for one method.
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self, server: TsrLanguageServer) -> None:
        self.server = server
        self.log = logging.getLogger(f"tsr_lsp.feature.{self.feature_name()}")

    @classmethod
    def feature_name(cls) -> str:
        return cls.name or cls.__name__

    # -- conveniences ----------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self.server.engine

    @property
    def settings(self) -> Settings:
        return self.server.session.settings

    @property
    def root(self) -> Path | None:
        return self.server.session.root

    async def in_thread(self, fn: Callable[[], T]) -> T:
        """Run blocking work in this connection's worker threads, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.server.thread_pool, fn)

    async def generation(self, work: Callable[[], Outcome], token: CancelToken) -> Outcome:
        """Run a generation (``Engine.generate``) in a worker thread. A cancel sets the token
        (the model stops at its next token) and raises here at once; memory keeps only
        answers the editor received, so a run the engine recorded just before the cancel
        loses its episode when it returns. Callers also check ``token`` after this returns
        and ``forget_episode`` themselves if they then drop the answer."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.server.thread_pool, work)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            token.set()
            future.add_done_callback(self._forget_run)
            raise

    def _forget_run(self, done: asyncio.Future[Outcome]) -> None:
        if not done.cancelled() and done.exception() is None:
            self.forget_episode(done.result().extra.get("episodeId"))

    # -- memory writes: in a worker thread, never raised into the editor's request -------
    def forget_episode(self, episode: str | None) -> None:
        """Drop an episode whose answer never reached the editor."""
        self.change_memory(episode, "forgetting", lambda m, ep: m.forget(ids=[ep]))

    def change_memory(
        self, episode: str | None, what: str, change: Callable[[Any, str], object]
    ) -> None:
        """``change(memory, episode)`` in a worker thread (never blocks typing); a store that
        cannot open, an episode forgotten meanwhile or a closed connection is logged."""
        if not episode:
            return
        try:
            memory = self.engine.memory
        except Exception as exc:  # a store that cannot open: the edit itself stands
            self.log.warning("memory unavailable, %s of %s not done: %s", what, episode, exc)
            return
        if memory is None:
            return

        def write() -> None:
            try:
                change(memory, episode)
            except (KeyError, ValueError) as exc:  # forgotten meanwhile
                self.log.info("%s of %s not done: %s", what, episode, exc)

        try:
            self.server.thread_pool.submit(write)
        except RuntimeError:  # the connection closed meanwhile: its worker threads are gone
            self.log.info("%s of %s not done: the connection closed", what, episode)

    # -- lifecycle (notifications; settings are loaded before ``initialize`` hooks run) --
    def initialize(self, params: Any) -> Any:
        """``initialize``: the session's root and settings are set."""

    def initialized(self, params: Any) -> Any:
        """``initialized``: the client is ready for server->client requests."""

    def configuration_changed(self, settings: Settings) -> Any:
        """The session's settings were reloaded (workspace/configuration, a file changed)."""

    def shutdown(self, params: Any) -> Any:
        """``shutdown``: stop background work; no more requests will come."""

    def connection_lost(self) -> None:
        """The connection is gone (after ``exit``, or the editor vanished without
        ``shutdown``): let go of what this connection put in process-wide caches, which
        would otherwise outlive it in a long-running daemon. Synchronous, must not fail."""

    def document_open(self, params: Any) -> Any:
        """``textDocument/didOpen``."""

    def document_change(self, params: Any) -> Any:
        """``textDocument/didChange`` (the workspace document is already updated)."""

    def document_save(self, params: Any) -> Any:
        """``textDocument/didSave``."""

    def document_close(self, params: Any) -> Any:
        """``textDocument/didClose``."""

    # -- requests (return NOT_MINE to let the next feature answer) --------------------
    def completion(self, params: Any, token: CancelToken) -> Any:
        return NOT_MINE

    def hover(self, params: Any, token: CancelToken) -> Any:
        return NOT_MINE

    def code_action(self, params: Any, token: CancelToken) -> Any:
        """Actions of every feature are concatenated."""
        return NOT_MINE

    def code_action_resolve(self, params: Any, token: CancelToken) -> Any:
        return NOT_MINE

    def inline_completion(self, params: Any, token: CancelToken) -> Any:
        return NOT_MINE


# ---------------------------------------------------------------------- params


def _params_hook(cls: Any) -> Any:
    renames: dict[str, Any] = {
        f.name: override(rename=camel(f.name)) for f in dataclasses.fields(cls)
    }
    return make_dict_structure_fn(cls, _params, **renames)


_params = strict_converter()
_params.register_structure_hook_factory(dataclasses.is_dataclass, _params_hook)


def structure_params(raw: Any, cls: type[T]) -> T:
    """``raw`` (a JSON object) as a ``cls`` instance, or a -32602 error naming the field."""
    if raw is None or raw == []:  # Lua clients encode an empty table as []
        raw = {}
    if not isinstance(raw, dict):
        raise JsonRpcInvalidParams("params must be an object")
    try:
        return _params.structure(raw, cls)
    except Exception as exc:
        raise JsonRpcInvalidParams(explain(exc)) from None


def structure_arguments(args: list[Any], cls: type[T]) -> T:
    """Command arguments as a ``cls``: ``[{...}]`` or positional values named by
    ``cls.positional``."""
    if len(args) == 1 and isinstance(args[0], dict):
        return structure_params(args[0], cls)
    names: tuple[str, ...] = getattr(cls, "positional", ())
    if len(args) > len(names):
        shape = ", ".join(names) or "one object"
        raise JsonRpcInvalidParams(f"expected at most {len(names)} argument(s): {shape}")
    return structure_params({camel(n): v for n, v in zip(names, args, strict=False)}, cls)


def explain(exc: BaseException) -> str:
    """One line per bad field, in the wire's camelCase: what cattrs or ``__post_init__``
    rejected."""
    subs = getattr(exc, "exceptions", None)
    if not subs:
        if isinstance(exc, KeyError):
            return f"'{exc.args[0]}' is required"
        return str(exc) or type(exc).__name__
    lines = []
    for sub in subs:
        notes = getattr(sub, "__notes__", [])
        field = next((n.name for n in notes if isinstance(n, cattrs.AttributeValidationNote)), None)
        if field is None:
            lines.append(explain(sub))
        elif isinstance(sub, KeyError):
            lines.append(f"'{camel(field)}' is required")
        else:
            lines.append(f"'{camel(field)}': {explain(sub)}")
    return "; ".join(lines)
