"""A least-recently-used map bounded by the total weight of its values, not their number.

Why: a connection's template lint results hold the parsed template (100,000-240,000 Python
objects for a 20,000-50,000 line file). Kept for every open document, a client that opens
many big templates made the daemon's heap millions of objects, and each automatic full
garbage collection then held the interpreter 1.2 s, stalling every other client
(docs/RELIABILITY.md, stop 20). Bounded by weight, what is evicted is recomputed on use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class WeightedLru(Generic[K, V]):
    """``put`` evicts the least recently used entries while the total weight is over
    ``budget``; the newest entry always stays, however heavy. Safe to share between
    threads (one lock)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.total = 0
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: K, value: V, weight: int) -> None:
        with self._lock:
            self._pop(key)
            self._items[key] = (value, weight)
            self.total += weight
            while self.total > self.budget and len(self._items) > 1:
                _, (_, old) = self._items.popitem(last=False)
                self.total -= old

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._pop(key)

    def _pop(self, key: K) -> V | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self.total -= item[1]
        return item[0]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[K]:
        with self._lock:
            return iter(list(self._items))
