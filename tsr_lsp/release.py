"""Give memory back to the system after big work, so an idle daemon's RSS falls back.

One place for what was two copies (the pool after unloading a model, memory after a big
import): Python's garbage, the source lines ``traceback`` cached while logging errors, the
pages of read-only files mapped by components that registered a dropper (the memory encoder's
table: rows touched by a batch of unusual words stay resident otherwise, +11 MB after the
reliability fuzz), then glibc's free lists (``malloc_trim``: without it a process keeps its
peak heap). Pure apart from those side effects; safe to call from any thread.

Work that frees a lot asks for ``release_later()``, not ``release_memory()``: the full garbage
collection holds the interpreter without a break (over a second after a 2,000-episode import),
so run inside a request it stalled every other client of the daemon; later, once such calls
stop for a moment, it runs once on its own thread.
"""

from __future__ import annotations

import ctypes
import gc
import linecache
import weakref
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


def release_memory() -> None:
    gc.collect()
    linecache.clearcache()
    for owner in list(_droppers):
        try:
            owner.drop_pages()
        except (OSError, ValueError):
            pass  # a closed mapping: nothing resident to drop
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


_release = Debounce(release_memory)


def release_later(delay_s: float = QUIET_S) -> None:
    """``release_memory()`` once ``delay_s`` passed without another call (debounced: a busy
    daemon releases once, when the burst ends)."""
    _release(delay_s)
