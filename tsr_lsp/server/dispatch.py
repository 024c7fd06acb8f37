"""The one place that owns every LSP method and fans out to the features.

pygls allows one handler per method; several features care about didOpen, completion or
codeAction. The Dispatcher registers each method once (a bound method, no closures),
calls the features in ``FEATURES`` order and isolates each call: a feature's bug is
reported through the server's ``report_server_error`` with the feature's name and never
silences the other features. Requests get a ``CancelToken`` that ``$/cancelRequest`` sets.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.exceptions import (
    FeatureNotificationError,
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
)

from tsr_lsp.server.feature import (
    NOT_MINE,
    CancelToken,
    Declared,
    LanguageFeature,
    declared,
    structure_arguments,
    structure_params,
)

if TYPE_CHECKING:
    from tsr_lsp.server.app import TsrLanguageServer

log = logging.getLogger(__name__)

# standard methods -> the LanguageFeature hook that serves them
NOTIFICATION_HOOKS = {
    types.INITIALIZED: "initialized",
    types.TEXT_DOCUMENT_DID_OPEN: "document_open",
    types.TEXT_DOCUMENT_DID_CHANGE: "document_change",
    types.TEXT_DOCUMENT_DID_SAVE: "document_save",
    types.TEXT_DOCUMENT_DID_CLOSE: "document_close",
}
REQUEST_HOOKS = {
    types.TEXT_DOCUMENT_COMPLETION: "completion",
    types.TEXT_DOCUMENT_HOVER: "hover",
    types.TEXT_DOCUMENT_CODE_ACTION: "code_action",
    types.CODE_ACTION_RESOLVE: "code_action_resolve",
    types.TEXT_DOCUMENT_INLINE_COMPLETION: "inline_completion",
}
_HOOKED = {*NOTIFICATION_HOOKS, *REQUEST_HOOKS, types.INITIALIZE, types.SHUTDOWN}
MERGED = frozenset({types.TEXT_DOCUMENT_CODE_ACTION})  # every feature's items, concatenated


def refused_result(method: str) -> Any:
    """The answer about a document the protocol refused: empty, in the shape a client of
    that method expects (an inline completion client gets an empty list, as for any
    document completion skips)."""
    if method in MERGED:
        return []
    if method == types.TEXT_DOCUMENT_INLINE_COMPLETION:
        return types.InlineCompletionList(items=[])
    return None


_LIST_OPTIONS = ("trigger_characters", "all_commit_characters", "code_action_kinds")
_FLAG_OPTIONS = ("resolve_provider", "work_done_progress")


class FeatureError(JsonRpcInternalError):
    """A feature raised something that is not a JSON-RPC error: a bug, named."""

    def __init__(self, feature: str, method: str, error: BaseException) -> None:
        super().__init__(f"{feature} failed on {method}: {type(error).__name__}: {error}")
        self.feature = feature
        self.method = method
        self.__cause__ = error


@attrs.define
class Handler:
    feature: LanguageFeature
    fn: Callable[..., Any]
    declared: Declared


def overrides(feature: LanguageFeature, hook: str) -> bool:
    return getattr(type(feature), hook) is not getattr(LanguageFeature, hook)


def merge_options(options: Iterable[Any]) -> Any:
    """Several features' options for one method as one: lists joined, flags or'ed."""
    merged: Any = None
    for opt in options:
        if merged is None:
            merged = attrs.evolve(opt)
            continue
        for name in _LIST_OPTIONS:
            new = getattr(opt, name, None)
            if new:
                old = list(getattr(merged, name, None) or [])
                setattr(merged, name, old + [x for x in new if x not in old])
        for name in _FLAG_OPTIONS:
            if getattr(opt, name, None):
                setattr(merged, name, True)
    return merged


class Dispatcher:
    def __init__(
        self, server: TsrLanguageServer, feature_classes: Iterable[type[LanguageFeature]]
    ) -> None:
        self.server = server
        self.features = [cls(server) for cls in feature_classes]
        self.requests: dict[str, Handler] = {}
        self.notifications: dict[str, Handler] = {}
        self.commands: dict[str, Handler] = {}
        self._collect()
        self._register()

    def feature(self, cls: type[LanguageFeature]) -> Any:
        """This connection's instance of a feature class (tests, cross-feature calls)."""
        return next(f for f in self.features if isinstance(f, cls))

    # ------------------------------------------------------------------ registration
    def _collect(self) -> None:
        tables = {"request": self.requests, "notification": self.notifications}
        tables["command"] = self.commands
        for feature in self.features:
            for name in dir(type(feature)):
                mark = declared(getattr(type(feature), name, None))
                if mark is None:
                    continue
                table = tables[mark.kind]
                if mark.name in table or mark.name in _HOOKED:
                    raise ValueError(
                        f"{feature.feature_name()}: {mark.kind} {mark.name!r} is already served"
                    )
                table[mark.name] = Handler(feature, getattr(feature, name), mark)

    def _register(self) -> None:
        fm = self.server.protocol.fm  # pygls tags handlers: partials, not bound methods
        fm.feature(types.INITIALIZE)(functools.partial(self.on_initialize))
        fm.feature(types.SHUTDOWN)(functools.partial(self.on_shutdown))
        for method, hook in NOTIFICATION_HOOKS.items():
            if any(overrides(f, hook) for f in self.features):
                fm.feature(method)(functools.partial(self.on_standard_notification, method))
        for method, hook in REQUEST_HOOKS.items():
            serving = [f for f in self.features if overrides(f, hook)]
            if serving:
                options = merge_options(f.options[method] for f in serving if method in f.options)
                fm.feature(method, options)(functools.partial(self.on_standard_request, method))
        for method in self.requests:
            fm.feature(method)(functools.partial(self.on_request, method))
        for method in self.notifications:
            fm.feature(method)(functools.partial(self.on_notification, method))
        for name in self.commands:
            # executeCommand itself is TsrProtocol's; pygls lists these names in
            # executeCommandProvider (clients refuse to run commands not listed there)
            fm.command(name)(functools.partial(self.unreachable_command, name))

    # ------------------------------------------------------------------ calling
    async def _call(
        self, feature: LanguageFeature, method: str, fn: Callable[..., Any], *args: Any
    ) -> Any:
        """One feature's hook: JSON-RPC errors and cancellation pass through, any other
        exception becomes a FeatureError naming the feature."""
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = await result
            return result
        except (JsonRpcException, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise FeatureError(feature.feature_name(), method, exc) from exc

    async def _fan_out(self, method: str, hook: str, *args: Any) -> None:
        for feature in self.features:
            if overrides(feature, hook):
                try:
                    await self._call(feature, method, getattr(feature, hook), *args)
                except FeatureError as exc:
                    self.server.report_server_error(exc, FeatureNotificationError)

    def _begin(self) -> CancelToken:
        return self.server.protocol.begin_request()

    def _end(self, token: CancelToken) -> None:
        self.server.protocol.end_request(token)

    # ------------------------------------------------------------------ pygls handlers
    async def on_initialize(self, params: types.InitializeParams) -> None:
        for feature in self.features:
            if overrides(feature, "initialize"):
                await self._call(feature, types.INITIALIZE, feature.initialize, params)

    async def on_shutdown(self, params: Any) -> None:
        await self._fan_out(types.SHUTDOWN, "shutdown", params)

    def connection_lost(self) -> None:
        """Every feature lets go of what it holds for this connection (daemon.py calls it
        when the connection ends, however it ended)."""
        for feature in self.features:
            try:
                feature.connection_lost()
            except Exception:  # one feature's bug must not keep the others' caches
                log.exception("%s: letting go of the connection failed", feature.feature_name())

    async def reload_settings(self) -> None:
        """Rebuild the session's settings (and the Engine's user-level ones), then tell
        every feature."""
        self.server.session.reload()
        if self.server.engine_started:
            for note in self.server.engine.refresh():
                self.server.tell(note, types.MessageType.Info)
        await self._fan_out("configuration", "configuration_changed", self.server.session.settings)

    async def _refresh(self) -> None:
        """A settings file changed since the last reload: the change applies to this request."""
        if self.server.session.stale():
            await self.reload_settings()

    def _refused(self, params: Any) -> bool:
        """About a document the protocol refused (too big, binary): features never see it."""
        document = getattr(params, "text_document", None)
        return getattr(document, "uri", None) in self.server.protocol.refused

    async def on_standard_notification(self, method: str, params: Any) -> None:
        if self._refused(params):
            return
        if method != types.INITIALIZED:
            await self._refresh()
        await self._fan_out(method, NOTIFICATION_HOOKS[method], params)

    async def on_standard_request(self, method: str, params: Any) -> Any:
        hook = REQUEST_HOOKS[method]
        if self._refused(params):
            return refused_result(method)
        await self._refresh()
        token = self._begin()
        merged: list[Any] = []
        try:
            for feature in self.features:
                if not overrides(feature, hook):
                    continue
                try:
                    result = await self._call(
                        feature, method, getattr(feature, hook), params, token
                    )
                except FeatureError as exc:
                    if method not in MERGED:
                        raise
                    self.server.report_server_error(exc, FeatureRequestError)
                    continue
                if result is NOT_MINE:
                    continue
                if method not in MERGED:
                    return result
                merged.extend(result or [])
            if method == types.CODE_ACTION_RESOLVE:
                # nobody's to resolve (e.g. a template quick fix that has its edit): the
                # action as it came, as LSP expects; null made Neovim 0.10+ drop the edit
                return params
            return merged if method in MERGED else None
        finally:
            self._end(token)

    async def on_request(self, method: str, params: Any) -> Any:
        handler = self.requests[method]
        value = self._structure(handler, params)
        await self._refresh()
        token = self._begin()
        try:
            return await self._call(handler.feature, method, handler.fn, value, token)
        finally:
            self._end(token)

    async def on_notification(self, method: str, params: Any) -> None:
        handler = self.notifications[method]
        try:
            value = self._structure(handler, params)
            await self._call(handler.feature, method, handler.fn, value)
        except JsonRpcInvalidParams as exc:
            log.warning("%s: %s", method, exc.message)  # notifications have no reply
        except FeatureError as exc:
            self.server.report_server_error(exc, FeatureNotificationError)

    async def execute_command(self, params: types.ExecuteCommandParams) -> Any:
        handler = self.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams(f"unknown command {params.command!r}")
        args = list(params.arguments or [])
        cls = handler.declared.params
        value = structure_arguments(args, cls) if cls is not None else args
        await self._refresh()
        token = self._begin()
        try:
            return await self._call(handler.feature, params.command, handler.fn, value, token)
        finally:
            self._end(token)

    def unreachable_command(self, name: str, *args: Any) -> None:
        raise RuntimeError(f"{name} runs through TsrProtocol's executeCommand")

    @staticmethod
    def _structure(handler: Handler, params: Any) -> Any:
        cls = handler.declared.params
        return structure_params(params, cls) if cls is not None else params
