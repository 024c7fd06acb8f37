"""One debounce for the threads that run work after a burst: the memory release
(release.py) and memory's consolidation after new outcomes (memory/service.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Debounce:
    """Run ``fn`` once, ``delay_s`` after the last call: a burst of calls runs it once, when
    the burst ends. Thread-safe; the timer thread never keeps the process alive."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def __call__(self, delay_s: float) -> None:
        timer = threading.Timer(delay_s, self.fn)
        timer.daemon = True
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = timer
            timer.start()

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
