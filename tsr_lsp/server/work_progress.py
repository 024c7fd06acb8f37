"""Work-done progress (``$/progress`` begin/report/end) driven from a worker thread.

Model loading runs in a worker thread while the editor waits. When the client supports
work-done progress, a token is created with ``window/workDoneProgress/create`` (or the
request's own ``workDoneToken`` is used), and begin/report/end are sent through the event
loop, so the editor shows "Loading model 'coder'" while it happens.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)
_ids = itertools.count(1)
CREATE_TIMEOUT_S = 5.0


def client_supports_progress(ls: LanguageServer) -> bool:
    try:
        window = ls.client_capabilities.window
    except AttributeError:
        return False
    return bool(window is not None and window.work_done_progress)


class WorkProgress:
    """One work-done progress, usable from any thread; a no-op when unsupported."""

    def __init__(
        self,
        ls: LanguageServer,
        loop: asyncio.AbstractEventLoop,
        token: Any = None,
        title: str = "tsr-lsp",
        cancellable: bool = False,
    ) -> None:
        self.ls = ls
        self.loop = loop
        self.token = token
        self.title = title
        self.cancellable = cancellable  # the editor shows a cancel button
        self.active = False
        self.enabled = token is not None or client_supports_progress(ls)

    def _ensure_token(self) -> bool:
        if self.token is not None:
            return True
        token = f"tsr-lsp-progress-{next(_ids)}"
        future = asyncio.run_coroutine_threadsafe(
            self.ls.work_done_progress.create_async(token), self.loop
        )
        try:
            future.result(CREATE_TIMEOUT_S)
        except Exception as exc:  # the client refused or did not answer: no progress UI
            log.info("work-done progress not created: %s", exc)
            self.enabled = False
            return False
        self.token = token
        return True

    def begin(self, message: str) -> None:
        if not self.enabled or self.active or not self._ensure_token():
            return
        self.active = True
        value = types.WorkDoneProgressBegin(
            title=self.title, message=message, cancellable=self.cancellable
        )
        self.loop.call_soon_threadsafe(self.ls.work_done_progress.begin, self.token, value)

    def report(self, message: str, percentage: int | None = None) -> None:
        if not self.active:
            return
        value = types.WorkDoneProgressReport(message=message, percentage=percentage)
        self.loop.call_soon_threadsafe(self.ls.work_done_progress.report, self.token, value)

    def end(self, message: str) -> None:
        if not self.active:
            return
        self.active = False
        value = types.WorkDoneProgressEnd(message=message)
        self.loop.call_soon_threadsafe(self.ls.work_done_progress.end, self.token, value)
