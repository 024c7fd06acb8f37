"""The model pool: lazy loading, pinning, LRU eviction under a memory budget, one generation
per model at a time in arrival order, and models that failed to load marked unavailable.

All methods are synchronous and thread-safe; the server calls them from worker threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from tsr_lsp.backends import create_backend
from tsr_lsp.backends.base import (
    Backend,
    BackendError,
    GenerationRequest,
    GenerationResult,
    TokenCallback,
)
from tsr_lsp.config import Settings

log = logging.getLogger(__name__)

LoadProgress = Callable[[str], None]


class FifoLock:
    """A lock that wakes waiters in arrival order (threading.Lock makes no promise)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[int] = []
        self._next = 0

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        with self._cond:
            ticket = self._next
            self._next += 1
            self._queue.append(ticket)
            while self._queue[0] != ticket:
                if cancel is not None and cancel.is_set():
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    return False
                self._cond.wait(0.05)
            return True

    def release(self) -> None:
        with self._cond:
            self._queue.pop(0)
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        with self._cond:
            return max(0, len(self._queue) - 1)


@dataclass
class _Slot:
    backend: Backend
    lock: FifoLock = field(default_factory=FifoLock)
    last_used: float = field(default_factory=time.monotonic)


class ModelPool:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._failed: dict[str, str] = {}
        self._load_locks: dict[str, threading.Lock] = {}
        self._mutex = threading.RLock()

    # ------------------------------------------------------------------ state
    def loaded(self) -> list[str]:
        with self._mutex:
            return list(self._slots)

    def failed(self) -> dict[str, str]:
        with self._mutex:
            return dict(self._failed)

    def is_available(self, name: str) -> bool:
        return name in self.settings.models and name not in self._failed

    def backend(self, name: str) -> Backend | None:
        with self._mutex:
            slot = self._slots.get(name)
            return slot.backend if slot else None

    # ------------------------------------------------------------------ loading
    def get(self, name: str, progress: LoadProgress | None = None) -> _Slot:
        """Return the loaded slot for ``name``, loading (and evicting) if needed."""
        with self._mutex:
            slot = self._slots.get(name)
            if slot is not None:
                self._slots.move_to_end(name)
                slot.last_used = time.monotonic()
                return slot
            if name in self._failed:
                raise BackendError(self._failed[name])
            load_lock = self._load_locks.setdefault(name, threading.Lock())
        with load_lock:  # one loader per profile; others wait for it
            with self._mutex:
                if name in self._slots:
                    return self._slots[name]
                if name in self._failed:
                    raise BackendError(self._failed[name])
            profile = self.settings.profile(name)
            try:
                backend = create_backend(profile.backend, name, profile)
                self._make_room(backend.memory_mb(), keep=name)
                if progress:
                    progress(f"Loading model '{name}'")
                started = time.perf_counter()
                backend.load()
                log.info("loaded %s in %.2fs", name, time.perf_counter() - started)
            except BackendError as exc:
                with self._mutex:
                    self._failed[name] = str(exc)
                log.error("model %s unavailable: %s", name, exc)
                raise
            with self._mutex:
                slot = _Slot(backend)
                self._slots[name] = slot
                return slot

    def _make_room(self, needed_mb: float, keep: str) -> None:
        budget = self.settings.memory_budget_mb
        with self._mutex:
            used = sum(s.backend.memory_mb() for s in self._slots.values())
            for name in list(self._slots):  # least recently used first
                if used + needed_mb <= budget:
                    break
                slot = self._slots[name]
                if name == keep or slot.backend.profile.pin or slot.lock.waiting:
                    continue
                log.info("evicting %s to stay within %d MB", name, budget)
                used -= slot.backend.memory_mb()
                slot.backend.close()
                del self._slots[name]

    def unload(self, name: str) -> bool:
        with self._mutex:
            slot = self._slots.pop(name, None)
        if slot is None:
            return False
        slot.lock.acquire()
        try:
            slot.backend.close()
        finally:
            slot.lock.release()
        return True

    def forget_failure(self, name: str) -> None:
        with self._mutex:
            self._failed.pop(name, None)

    def close(self) -> None:
        with self._mutex:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            slot.backend.close()

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        name: str,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
        progress: LoadProgress | None = None,
    ) -> GenerationResult:
        slot = self.get(name, progress)
        if not slot.lock.acquire(cancel):
            from tsr_lsp.backends.base import GenerationCancelled

            raise GenerationCancelled(GenerationResult("", finish_reason="cancelled"))
        try:
            slot.last_used = time.monotonic()
            return slot.backend.generate(request, on_token, cancel)
        finally:
            slot.lock.release()
