"""Give memory back to the system after big work, so an idle daemon's RSS falls back.

One place for what was two copies (the pool after unloading a model, memory after a big
import): Python's garbage, the source lines ``traceback`` cached while logging errors, the
pages of read-only files mapped by components that registered a dropper (the memory encoder's
table: rows touched by a batch of unusual words stay resident otherwise, +11 MB after the
reliability fuzz), then glibc's free lists (``malloc_trim``: without it a process keeps its
peak heap). Pure apart from those side effects; safe to call from any thread.

Work that frees a lot asks for ``release_later()``, not ``release_memory()``: the full garbage
collection holds the interpreter without a break (0.5-1.2 s while a burst of hostile clients
keeps millions of objects alive), and a thread of its own does not help, since it holds the
GIL. So the release waits until no request of any client has been running for ``QUIET_S``
(``activity``, counted by the protocol): run while clients waited, these collections were
the reliability bench's victim stalls over 1 s (docs/RELIABILITY.md, stop 19).
"""

from __future__ import annotations

import ctypes
import functools
import gc
import linecache
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from tsr_lsp.debounce import Debounce


class Droppable(Protocol):
    """Something holding pages it can give back and fault in again on use."""

    def drop_pages(self) -> None: ...


_droppers: weakref.WeakSet[Droppable] = weakref.WeakSet()
QUIET_S = 2.0  # a release waits until no other release was asked for this long


def register(owner: Droppable) -> None:
    """Drop ``owner``'s pages on every release; held weakly (no lifetime change)."""
    _droppers.add(owner)


MADV_PAGEOUT = 21  # Linux 5.4+; older kernels answer EINVAL and nothing happens


def page_out(folder: Path) -> int:
    """Ask the kernel to reclaim this process's pages of files under ``folder`` that a
    library mapped (Tantivy maps its segments; we never see those mappings). MADV_PAGEOUT
    is only a hint: clean file pages leave RSS and fault back in from the page cache or
    disk on use, and unlike MADV_DONTNEED it never discards data, so a range that was
    unmapped and reused since /proc/self/maps was read comes to no harm. Returns how many
    mappings were advised."""
    prefix = f"{folder}{os.sep}"
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            ranges = [
                line.split(None, 1)[0]
                for line in fh
                if line.rstrip("\n").split(None, 5)[-1].startswith(prefix)
            ]
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0  # not Linux
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    done = 0
    for span in ranges:
        start, end = (int(x, 16) for x in span.split("-"))
        done += madvise(start, end - start, MADV_PAGEOUT) == 0
    return done


def rss_mb(pid: int | None = None) -> float:
    """Resident set size from /proc (Linux); 0 where unavailable."""
    try:
        with open(f"/proc/{pid or 'self'}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """glibc, loaded once: malloc's tuning, statistics and trim (None elsewhere)."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_MALLINFO2 = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2.split(" ")]


ARENA_ALIGN = 64 * 2**20  # glibc maps a thread arena's heap at a multiple of its 64 MB maximum


def arena_rss_kb(smaps: Iterable[str]) -> int:
    """Resident KB of malloc's arenas in ``/proc/PID/smaps`` lines: the main heap
    (``[heap]``) and each thread arena's heap (anonymous, read-write, starting at a multiple
    of ``ARENA_ALIGN``). Blocks malloc maps on their own are left out: they go back whole
    when freed, and llama.cpp's, allocated but partly untouched, would hide the rest."""
    total, counted = 0, False
    for line in smaps:
        head = line.split(None, 5)
        if "-" in head[0] and len(head) >= 5:  # a mapping: range perms offset dev inode [name]
            name = head[5].strip() if len(head) > 5 else ""
            start = int(head[0].split("-", 1)[0], 16)
            thread_heap = not name and head[1].startswith("rw") and start % ARENA_ALIGN == 0
            counted = name == "[heap]" or thread_heap
        elif counted and head[0] == "Rss:":
            total += int(head[1])
    return total


def stranded_mb() -> float | None:
    """Memory of malloc's arenas that is resident but not handed out: after
    ``malloc_trim``, the pages that free chunks still pin (a free chunk keeps its partial
    first and last pages, and a burst leaves thousands of them between small survivors;
    docs/RELIABILITY.md, stop 23). None where glibc's ``mallinfo2`` or /proc is missing."""
    libc = glibc()
    if libc is None or not hasattr(libc, "mallinfo2"):  # glibc before 2.33
        return None
    try:
        with open("/proc/self/smaps") as fh:
            resident_kb = arena_rss_kb(fh)
    except (OSError, ValueError):
        return None
    libc.mallinfo2.restype = _MallInfo2
    return max(0.0, resident_kb / 1024 - libc.mallinfo2().uordblks / 2**20)


IDLE_S = 10.0  # no request for this long since the last release: release once more
_released_at = 0.0  # time.monotonic() of the last release


def should_release(quiet_s: float, last_end: float, released_at: float) -> bool:
    """Whether the idle check releases: no request for ``IDLE_S`` and no release since
    then (once per quiet spell, not every second; the release a burst asked for ran
    earlier, while threads of closed connections still held their memory)."""
    return quiet_s >= IDLE_S and released_at < last_end + IDLE_S


def release_if_idle() -> bool:
    """The daemon's once-a-second idle check. A release runs when work asks for it, but
    memory freed after that (a closed connection's lint still running in a thread, its
    template analyses dropped later) stayed in glibc's free lists: after the reliability
    bench's clients without the big imports the daemon idled at 287 MB, 178 MB after a
    trim (docs/RELIABILITY.md, stop 22). Nobody waits on a reply by then, so the full
    collection delays no one. True when it released."""
    if not should_release(activity.quiet_s(), activity.last_end, _released_at):
        return False
    release_memory()
    return True


def last_release() -> float:
    """time.monotonic() of the last release (0 before the first)."""
    return _released_at


def release_memory() -> None:
    global _released_at
    _released_at = time.monotonic()
    gc.collect()
    linecache.clearcache()
    for owner in list(_droppers):
        try:
            owner.drop_pages()
        except (OSError, ValueError):
            pass  # a closed mapping: nothing resident to drop
    libc = glibc()
    if libc is not None:  # not glibc: nothing to trim
        libc.malloc_trim(0)


class Activity:
    """Requests running in this process (every connection's), and when the last one ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.last_end = time.monotonic()

    def begin(self) -> None:
        with self._lock:
            self.running += 1

    def end(self) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)
            self.last_end = time.monotonic()

    def quiet_s(self) -> float:
        """How long no request has been running (0 while one is)."""
        with self._lock:
            return 0.0 if self.running else time.monotonic() - self.last_end


activity = Activity()


def _release_when_quiet() -> None:
    quiet = activity.quiet_s()
    if quiet >= QUIET_S:
        release_memory()
    else:  # someone waits on a reply: look again once it could be quiet
        _release(QUIET_S - quiet)


_release = Debounce(_release_when_quiet)


SLOW_GC_S = 0.25  # a collection that long shows as a stall to every client: logged


def watch_collections(log: logging.Logger) -> None:
    """Log each garbage collection that holds the interpreter over ``SLOW_GC_S``: the trace
    that found template lint results filling the heap (docs/RELIABILITY.md, stop 20)."""
    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            took = time.perf_counter() - started.pop()
            if took > SLOW_GC_S:
                log.warning(
                    "garbage collection of generation %d held the interpreter %.0f ms "
                    "(%d objects freed)",
                    info["generation"],
                    took * 1000,
                    info["collected"],
                )

    gc.callbacks.append(callback)


def release_later(delay_s: float = QUIET_S) -> None:
    """``release_memory()`` once ``delay_s`` passed without another call (debounced: a busy
    daemon releases once, when the burst ends) and no request has run for ``QUIET_S``."""
    _release(delay_s)
