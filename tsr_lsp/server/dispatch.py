"""Several feature modules on one LSP method.

pygls allows one handler per method, but document notifications (didOpen, didChange, ...)
and requests like completion, hover and codeAction concern several feature groups (the
template linter, AI actions, inline completion). Each module registers here instead:

- ``on_notification(server, method, fn)``: every listener is called, in order.
- ``on_request(server, method, fn, options)``: handlers are asked in order; a handler
  returns ``NOT_MINE`` for documents it does not serve. For ``textDocument/codeAction`` the
  lists of all handlers are concatenated. Options are merged (completion trigger characters).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from lsprotocol import types

log = logging.getLogger(__name__)
NOT_MINE: Any = object()
_MERGED = (types.TEXT_DOCUMENT_CODE_ACTION,)


def _registry(server: Any) -> dict[str, list[Callable[..., Any]]]:
    reg = getattr(server, "_tsr_dispatch", None)
    if reg is None:
        reg = {}
        server._tsr_dispatch = reg
    return reg


async def _call(fn: Callable[..., Any], ls: Any, params: Any) -> Any:
    result = fn(ls, params)
    if inspect.isawaitable(result):
        result = await result
    return result


def on_notification(server: Any, method: str, fn: Callable[..., Any]) -> None:
    reg = _registry(server)
    if method not in reg:
        reg[method] = []
        listeners = reg[method]

        @server.feature(method)
        async def fan_out(ls: Any, params: Any) -> None:
            for listener in list(listeners):
                try:
                    await _call(listener, ls, params)
                except Exception:  # one feature's bug must not silence the others
                    log.exception("%s listener %s failed", method, listener.__name__)

    reg[method].append(fn)


def on_request(server: Any, method: str, fn: Callable[..., Any], options: Any = None) -> None:
    reg = _registry(server)
    if method not in reg:
        reg[method] = []
        handlers = reg[method]

        @server.feature(method, options)
        async def route(ls: Any, params: Any) -> Any:
            merged: list[Any] = []
            for handler in list(handlers):
                result = await _call(handler, ls, params)
                if result is NOT_MINE:
                    continue
                if method not in _MERGED:
                    return result
                merged.extend(result or [])
            return merged if method in _MERGED else None

    elif options is not None:
        _merge_options(server, method, options)
    reg[method].append(fn)


def _merge_options(server: Any, method: str, options: Any) -> None:
    current = server.protocol.fm.feature_options.get(method)
    if current is None:
        server.protocol.fm.feature_options[method] = options
        return
    for attr in ("trigger_characters", "code_action_kinds", "retrigger_characters"):
        new = getattr(options, attr, None)
        if new:
            old = list(getattr(current, attr, None) or [])
            setattr(current, attr, old + [c for c in new if c not in old])
