"""Heavy work shared fairly between the connections of one process.

Each connection has its own worker threads, but they all share one GIL and two cores: a
client that sent 60 memory exports at once ran 8 of them in parallel, and another client's
tsr/status waited up to 8 s behind them while the daemon's RSS rose to 550 MB (eight 5 MB
exports built at once). A `Lane` (a feature's, per connection: memory requests have one,
render previews another) runs one job at a time and at most `SHARED_SLOTS` jobs across
the process, so a queue of one client's work waits its turn instead of starving everyone
else.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")
SHARED_SLOTS = 2  # heavy jobs running at once in the process (the machine has 2 cores)

_shared: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def shared_slots() -> asyncio.Semaphore:
    """The process's slots for heavy jobs (one set per event loop: the daemon has one)."""
    loop = asyncio.get_running_loop()
    slots = _shared.get(loop)
    if slots is None:
        slots = _shared[loop] = asyncio.Semaphore(SHARED_SLOTS)
    return slots


class Lane:
    """One connection's heavy jobs, in order, one at a time."""

    def __init__(self) -> None:
        self.own = asyncio.Semaphore(1)

    async def run(self, executor: Executor, fn: Callable[[], T]) -> T:
        """``fn`` in ``executor`` once this lane and a shared slot are free. The shared slot
        is given back when the thread finishes, even if the request was cancelled meanwhile
        (a running thread cannot be stopped, and still uses the CPU)."""
        async with self.own:
            slots = shared_slots()
            await slots.acquire()
            loop = asyncio.get_running_loop()
            try:
                job = executor.submit(fn)
            except BaseException:
                slots.release()
                raise
            job.add_done_callback(lambda _job: _release_from_thread(loop, slots))
            return await asyncio.wrap_future(job)


def _release_from_thread(loop: asyncio.AbstractEventLoop, slots: asyncio.Semaphore) -> None:
    try:
        loop.call_soon_threadsafe(slots.release)
    except RuntimeError:  # the loop closed (shutdown): nobody waits any more
        pass
