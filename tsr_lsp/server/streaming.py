"""Partial results for streamed generation, with deltas coalesced off the hot path.

Every notification costs CPU in three processes (daemon, forwarder, editor), and on a small
machine that CPU comes straight out of the model's own threads. So the first delta goes out
at once (time to first token is untouched), later deltas are joined and sent at most every
``interval_s``; other events flush pending text first, so order is always kept. The final
response is sent only after ``flush()``, so no text can trail it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from lsprotocol import types

DEFAULT_INTERVAL_S = 0.03


class PartialResults:
    def __init__(
        self,
        ls: Any,
        loop: asyncio.AbstractEventLoop,
        token: Any,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        self.ls = ls
        self.loop = loop
        self.token = token
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._scheduled = False
        self._next_at = 0.0

    # -- any thread ------------------------------------------------------------------
    def send(self, kind: str, payload: dict[str, Any]) -> None:
        if self.token is None:
            return
        if kind != "delta":
            with self._lock:
                text = self._take()
            self.loop.call_soon_threadsafe(self._emit_all, text, kind, payload)
            return
        with self._lock:
            self._pending.append(payload["delta"])
            if self._scheduled:
                return
            self._scheduled = True
            delay = self._next_at - time.monotonic()
        if delay <= 0:
            self.loop.call_soon_threadsafe(self._flush_scheduled)
        else:
            self.loop.call_soon_threadsafe(self.loop.call_later, delay, self._flush_scheduled)

    # -- event loop thread ------------------------------------------------------------
    def flush(self) -> None:
        """Send whatever is pending now (call on the loop before the final response)."""
        with self._lock:
            text = self._take()
        if text:
            self._notify({"event": "delta", "delta": text})

    def _take(self) -> str:
        text = "".join(self._pending)
        self._pending.clear()
        return text

    def _flush_scheduled(self) -> None:
        with self._lock:
            text = self._take()
            self._scheduled = False
            self._next_at = time.monotonic() + self.interval_s
        if text:
            self._notify({"event": "delta", "delta": text})

    def _emit_all(self, text: str, kind: str, payload: dict[str, Any]) -> None:
        if text:
            self._notify({"event": "delta", "delta": text})
        self._notify({"event": kind, **payload})

    def _notify(self, value: dict[str, Any]) -> None:
        self.ls.progress(types.ProgressParams(token=self.token, value=value))
