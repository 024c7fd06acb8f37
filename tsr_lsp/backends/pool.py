"""The model pool: lazy loading, pinning, LRU eviction under a memory budget, one generation
per model at a time (turns taken across editor connections, arrival order within one), and
models that failed to load marked unavailable.

Lanes: inline completion runs in its own lane (``lane=INLINE``): a second instance of the
same model (llama.cpp memory-maps the weights, so it costs only its KV cache) with its own
KV cache and queue. A completion therefore never waits behind another client's long chat
generation, and chat never wipes the completion's cached prefix. While a completion
generates, other generations on this machine's cores (any local model, the inline lane's
own model included when the router sends an answer to it) pause between tokens
(completions are short and latency-bound; chat loses a few hundred milliseconds). An
endpoint's generations pause only for completions on the same endpoint.

Slots are keyed by profile name plus a fingerprint of the profile's settings, so two editor
sessions whose configs give the same name to different models never share a wrong model.
All methods are synchronous and thread-safe; the server calls them from worker threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsr_lsp.backends import create_backend
from tsr_lsp.backends.base import (
    Backend,
    BackendError,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    ModelLoadError,
    PrefillResult,
    TokenCallback,
)
from tsr_lsp.config import ModelProfile, Settings
from tsr_lsp.release import release_later

log = logging.getLogger(__name__)

# progress(stage, message): stage is "begin", "end" or "failed".
LoadProgress = Callable[[str, str], None]
# A failed endpoint is retried after this long; a failed file when the file changes.
ENDPOINT_RETRY_S = 30.0
INLINE = "inline"  # the lane of inline completions
MAX_YIELD_S = 5.0  # a paused generation waits at most this long for each token


def _compute(profile: ModelProfile) -> str:
    """What a generation of ``profile`` runs on: an endpoint's URL, else this machine's
    cores, which every local model shares (so a completion pauses all local chat)."""
    return profile.url or "local"


def fingerprint(profile: ModelProfile) -> str:
    raw = json.dumps(dataclasses.asdict(profile), sort_keys=True, default=str)
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def _file_stamp(profile: ModelProfile) -> tuple[int, int] | None:
    if not profile.path:
        return None
    try:
        st = Path(profile.path).expanduser().stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


_owner = threading.local()


def set_owner(owner: object) -> None:
    """Mark this thread's model requests as ``owner``'s (the initializer of each editor
    connection's worker threads): the pool takes turns between owners."""
    _owner.value = owner


def current_owner() -> object:
    return getattr(_owner, "value", None)


class FairLock:
    """One holder at a time; waiters take turns across owners (a connection's worker
    threads share one), in arrival order within an owner. With one owner it is a FIFO lock.
    One editor queueing twenty chats no longer makes another editor's request wait for all
    twenty: it waits for at most one turn of each other owner (threading.Lock makes no
    promise at all)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting: list[tuple[int, object]] = []  # (ticket, owner) in arrival order
        self._served: dict[object, int] = {}  # owner -> number of its last turn
        self._next = 0
        self._turns = 0

    def _next_ticket(self) -> int:
        """The earliest ticket of the owner served longest ago (never served: first)."""
        return min(self._waiting, key=lambda w: (self._served.get(w[1], -1), w[0]))[0]

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        with self._cond:
            ticket = self._next
            self._next += 1
            me = (ticket, current_owner())
            self._waiting.append(me)
            while self._held or self._next_ticket() != ticket:
                if cancel is not None and cancel.is_set():
                    self._waiting.remove(me)
                    self._cond.notify_all()
                    return False
                self._cond.wait(0.05)
            self._waiting.remove(me)
            self._held = True
            self._turns += 1
            self._served[me[1]] = self._turns
            return True

    def try_acquire(self) -> bool:
        with self._cond:
            if self._held or self._waiting:
                return False
            self._held = True
            return True

    def release(self) -> None:
        with self._cond:
            self._held = False
            if not self._waiting:  # no contention: turns start afresh (bounded memory)
                self._served.clear()
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Requests queued behind the running one."""
        with self._cond:
            return len(self._waiting)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._held or bool(self._waiting)


@dataclass
class _Slot:
    name: str
    backend: Backend
    lock: FairLock = field(default_factory=FairLock)
    last_used: float = field(default_factory=time.monotonic)
    closed: bool = False


@dataclass
class _Failure:
    reason: str
    at: float
    stamp: tuple[int, int] | None
    endpoint: bool


class ModelPool:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # LRU order, oldest first
        self._failed: dict[str, _Failure] = {}
        self._load_locks: dict[str, threading.Lock] = {}
        self._mutex = threading.RLock()
        self.evictions: list[str] = []  # names, in eviction order (status and tests)
        self.idle_unloads: list[str] = []  # names unloaded for idleness, in order
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()
        self._priority = threading.Condition()
        self._inline_busy: dict[str, int] = {}  # compute (_compute) -> inline generations
        self._background: dict[str, set[threading.Event]] = {}  # model file -> prewarms

    # ------------------------------------------------------------------ keys
    def _resolve(
        self, name: str, profile: ModelProfile | None, lane: str = ""
    ) -> tuple[str, ModelProfile]:
        profile = profile or self.settings.profile(name)
        key = f"{name}@{fingerprint(profile)}"
        return (f"{key}#{lane}" if lane else key), profile

    # ------------------------------------------------------------------ state
    def loaded(self) -> list[str]:
        with self._mutex:
            return list(dict.fromkeys(s.name for s in self._slots.values()))

    def failed(self) -> dict[str, str]:
        """Profile name -> reason, for profiles whose last load failed."""
        with self._mutex:
            return {key.split("@")[0]: f.reason for key, f in self._failed.items()}

    def unavailable(self, models: dict[str, ModelProfile]) -> dict[str, str]:
        """Which of these profiles failed to load (and are not due for a retry)."""
        out = {}
        for name, prof in models.items():
            key, _ = self._resolve(name, prof)
            reason = self._failure(key, prof)
            if reason is not None:
                out[name] = reason
        return out

    def is_available(self, name: str, profile: ModelProfile | None = None) -> bool:
        if profile is None and name not in self.settings.models:
            return False
        key, prof = self._resolve(name, profile)
        return self._failure(key, prof) is None

    def _failure(self, key: str, profile: ModelProfile) -> str | None:
        with self._mutex:
            failure = self._failed.get(key)
            if failure is None:
                return None
            if failure.endpoint:
                expired = time.monotonic() - failure.at > ENDPOINT_RETRY_S
            else:
                expired = _file_stamp(profile) != failure.stamp
            if expired:  # the endpoint may be back, or the file was replaced: try again
                del self._failed[key]
                return None
            return failure.reason

    def is_loaded(self, name: str, profile: ModelProfile | None = None, lane: str = "") -> bool:
        key, _ = self._resolve(name, profile, lane)
        with self._mutex:
            return key in self._slots

    def backend(self, name: str) -> Backend | None:
        with self._mutex:
            for slot in self._slots.values():
                if slot.name == name:
                    return slot.backend
            return None

    def status(self) -> dict[str, dict[str, Any]]:
        with self._mutex:
            return {
                slot.name: {
                    "memoryMb": round(slot.backend.memory_mb(), 1),
                    "pinned": slot.backend.profile.pin,
                    "busy": slot.lock.busy,
                    "queued": slot.lock.waiting,
                    "idleS": round(time.monotonic() - slot.last_used, 1),
                }
                for slot in self._slots.values()
            }

    def used_mb(self) -> float:
        with self._mutex:
            return sum(s.backend.memory_mb() for s in self._slots.values())

    # ------------------------------------------------------------------ loading
    def get(
        self,
        name: str,
        progress: LoadProgress | None = None,
        profile: ModelProfile | None = None,
        lane: str = "",
    ) -> _Slot:
        """Return the loaded slot for ``name``, loading (and evicting) if needed.

        Raises ModelLoadError (once per failure with ``first_report`` set, then quickly with
        the same reason) when the model cannot be loaded.
        """
        key, profile = self._resolve(name, profile, lane)
        with self._mutex:
            slot = self._touch(key)
            if slot is not None:
                return slot
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:  # one loader per profile; others wait for it
            with self._mutex:
                slot = self._touch(key)
                if slot is not None:
                    return slot
            reason = self._failure(key, profile)
            if reason is not None:
                raise ModelLoadError(reason)
            return self._load(key, name, profile, progress, lane)

    def _touch(self, key: str) -> _Slot | None:
        slot = self._slots.get(key)
        if slot is not None:
            self._slots.move_to_end(key)
            slot.last_used = time.monotonic()
        return slot

    def _load(
        self,
        key: str,
        name: str,
        profile: ModelProfile,
        progress: LoadProgress | None,
        lane: str = "",
    ) -> _Slot:
        started = time.perf_counter()
        if progress:
            progress("begin", f"Loading model '{name}' ({profile.backend})")
        try:
            backend = create_backend(profile.backend, name, profile)
            if lane and hasattr(backend, "shared_weights"):
                backend.shared_weights = True  # mmap: the weights are the main lane's pages
            self._make_room(backend.memory_mb(), keep=key)
            backend.load()
        except BackendError as exc:
            reason = f"model '{name}' is unavailable: {exc}"
            with self._mutex:
                self._failed[key] = _Failure(
                    reason,
                    time.monotonic(),
                    _file_stamp(profile),
                    profile.backend == "openai_http" or not profile.path,
                )
            log.error("%s", reason)
            if progress:
                progress("failed", reason)
            err = ModelLoadError(reason)
            err.first_report = True  # type: ignore[attr-defined]
            raise err from exc
        elapsed = time.perf_counter() - started
        log.info("loaded %s in %.2fs", name, elapsed)
        if progress:
            progress("end", f"Loaded model '{name}' in {elapsed:.1f}s")
        with self._mutex:
            slot = _Slot(name, backend)
            self._slots[key] = slot
            self._start_reaper()
            return slot

    # ------------------------------------------------------------------ idle unload
    def _start_reaper(self) -> None:
        """One background thread per pool while models are loaded (caller holds the mutex)."""
        if self.settings.daemon.idle_unload_s <= 0 or (
            self._reaper is not None and self._reaper.is_alive()
        ):
            return
        self._reaper = threading.Thread(target=self._reap, name="tsr-pool-idle", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        while not self._closed.is_set():
            idle_s = self.settings.daemon.idle_unload_s
            if idle_s <= 0:
                return
            self._closed.wait(min(30.0, max(idle_s / 4, 0.05)))
            self.unload_idle(idle_s)
            with self._mutex:
                if not self._slots:
                    self._reaper = None
                    return

    def unload_idle(self, idle_s: float) -> list[str]:
        """Unload every model (pinned ones too) unused for ``idle_s`` seconds and not busy;
        returns their names."""
        now = time.monotonic()
        gone: list[_Slot] = []
        with self._mutex:
            for key, slot in list(self._slots.items()):
                if now - slot.last_used < idle_s or not slot.lock.try_acquire():
                    continue
                try:
                    slot.closed = True
                    del self._slots[key]
                    gone.append(slot)
                finally:
                    slot.lock.release()
        for slot in gone:
            log.info("unloading %s: unused for %.0fs", slot.name, now - slot.last_used)
            slot.backend.close()
            self.idle_unloads.append(slot.name)
        if gone:
            release_later()
        return [s.name for s in gone]

    def _make_room(self, needed_mb: float, keep: str) -> None:
        """Evict least recently used, unpinned, idle models until ``needed_mb`` fits."""
        budget = self.settings.memory_budget_mb
        with self._mutex:
            used = sum(s.backend.memory_mb() for s in self._slots.values())
            for key in list(self._slots):  # least recently used first
                if used + needed_mb <= budget:
                    break
                slot = self._slots[key]
                if key == keep or slot.backend.profile.pin or not slot.lock.try_acquire():
                    continue
                try:
                    log.info("evicting %s to stay within %d MB", slot.name, budget)
                    used -= slot.backend.memory_mb()
                    slot.closed = True
                    slot.backend.close()
                    del self._slots[key]
                    self.evictions.append(slot.name)
                finally:
                    slot.lock.release()
            if used + needed_mb > budget:
                log.warning(
                    "memory budget %d MB exceeded (%.0f MB in use, %.0f MB more needed): "
                    "the rest is pinned or busy",
                    budget,
                    used,
                    needed_mb,
                )

    def unload(self, name: str) -> bool:
        with self._mutex:
            keys = [k for k, s in self._slots.items() if s.name == name]
            slots = [self._slots.pop(k) for k in keys]
        for slot in slots:
            slot.lock.acquire()
            try:
                slot.closed = True
                slot.backend.close()
            finally:
                slot.lock.release()
        return bool(slots)

    def forget_failure(self, name: str) -> None:
        with self._mutex:
            for key in [k for k in self._failed if k.split("@")[0] == name]:
                del self._failed[key]

    def close(self) -> None:
        self._closed.set()
        with self._mutex:
            slots = list(self._slots.values())
            self._slots.clear()
        for slot in slots:
            slot.closed = True
            slot.backend.close()

    # ------------------------------------------------------------------ generation
    def _acquire(
        self,
        name: str,
        cancel: threading.Event | None,
        progress: LoadProgress | None,
        profile: ModelProfile | None,
        lane: str = "",
    ) -> _Slot:
        """Load if needed and wait for this model's turn (FairLock); evicted meanwhile: reload."""
        while True:
            slot = self.get(name, progress, profile, lane)
            if not slot.lock.acquire(cancel):
                raise GenerationCancelled(GenerationResult("", finish_reason="cancelled"))
            if not slot.closed:
                slot.last_used = time.monotonic()
                return slot
            slot.lock.release()

    def generate(
        self,
        name: str,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
        progress: LoadProgress | None = None,
        profile: ModelProfile | None = None,
        lane: str = "",
        preempt: threading.Event | None = None,
    ) -> GenerationResult:
        """One generation. With ``preempt`` it is background work, like a prewarm: the next
        inline generation of the model sets ``preempt`` (which ``cancel`` must observe)
        rather than wait for it, and it pauses nobody."""
        _, prof = self._resolve(name, profile)
        model_file = prof.path or prof.url or name

        def run(tokens: TokenCallback | None) -> GenerationResult:
            slot = self._acquire(name, cancel, progress, profile, lane)
            try:
                return slot.backend.generate(request, tokens, cancel)
            finally:
                slot.last_used = time.monotonic()
                slot.lock.release()

        if preempt is not None:
            with self._background_work(model_file, preempt):
                return run(on_token)
        compute = _compute(prof)
        if lane != INLINE:
            return run(self._yielding(compute, on_token))
        with self._priority:
            self._inline_busy[compute] = self._inline_busy.get(compute, 0) + 1
            for prewarm in self._background.get(model_file, ()):
                prewarm.set()  # a completion never waits for a prewarm to finish
        try:
            return run(on_token)
        finally:
            with self._priority:
                self._inline_busy[compute] -= 1
                self._priority.notify_all()

    @contextmanager
    def _background_work(self, model_file: str, stop: threading.Event) -> Iterator[None]:
        """Register ``stop`` for the duration: the next inline generation of the model sets
        it (a prewarm, a speculative completion)."""
        with self._priority:
            self._background.setdefault(model_file, set()).add(stop)
        try:
            yield
        finally:
            with self._priority:
                self._background[model_file].discard(stop)

    def _yielding(self, compute: str, on_token: TokenCallback | None) -> TokenCallback:
        """A token callback that pauses while an inline completion on the same compute runs."""

        def gated(piece: str) -> None:
            if on_token is not None:
                on_token(piece)
            deadline = time.monotonic() + MAX_YIELD_S
            with self._priority:
                while self._inline_busy.get(compute) and time.monotonic() < deadline:
                    self._priority.wait(0.05)

        return gated

    def prefill(
        self,
        name: str,
        request: GenerationRequest,
        cancel: threading.Event | None = None,
        progress: LoadProgress | None = None,
        profile: ModelProfile | None = None,
        lane: str = "",
        background: bool = False,
    ) -> PrefillResult:
        """Warm the model's KV cache with a prompt (e.g. a file's context on open). A
        ``background`` prefill is stopped by the next inline generation of the model."""
        if not background:
            return self._prefill(name, request, cancel, progress, profile, lane)
        _, prof = self._resolve(name, profile)
        cancel = cancel or threading.Event()
        with self._background_work(prof.path or prof.url or name, cancel):
            return self._prefill(name, request, cancel, progress, profile, lane)

    def _prefill(
        self,
        name: str,
        request: GenerationRequest,
        cancel: threading.Event | None,
        progress: LoadProgress | None,
        profile: ModelProfile | None,
        lane: str,
    ) -> PrefillResult:
        slot = self._acquire(name, cancel, progress, profile, lane)
        try:
            return slot.backend.prefill(request, cancel)
        finally:
            slot.lock.release()
