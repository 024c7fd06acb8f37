"""Idle unload: models nobody used for `daemon.idle_unload_s` leave the pool (pinned ones
too), busy ones stay, and a later request loads them again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.unit.test_pool import ask, fake, settings_with
from tsr_lsp.backends.fake import FakeBackend
from tsr_lsp.backends.pool import ModelPool
from tsr_lsp.release import release_memory


def test_idle_models_unload_and_come_back(home: Path) -> None:
    s = settings_with(a=fake(), b=fake(pin=True))
    s.daemon.idle_unload_s = 0.2
    pool = ModelPool(s)
    pool.generate("a", ask())
    pool.generate("b", ask())
    assert sorted(pool.loaded()) == ["a", "b"]
    deadline = time.monotonic() + 5
    while pool.loaded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.loaded() == []
    assert sorted(pool.idle_unloads) == ["a", "b"]  # pinned means "never evicted", not forever
    before = FakeBackend.loads
    assert pool.generate("a", ask()).text
    assert FakeBackend.loads == before + 1
    pool.close()


def test_busy_or_recent_models_stay(home: Path) -> None:
    s = settings_with(a=fake(delay="0.05"), b=fake())
    s.daemon.idle_unload_s = 0  # no background thread: the test calls unload_idle itself
    pool = ModelPool(s)
    pool.get("a").last_used -= 100  # long unused ...
    pool.get("b")
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (pool.generate("a", ask("w " * 10, 10)), done.set()), daemon=True
    )
    worker.start()
    time.sleep(0.1)  # ... but generating right now
    assert pool.unload_idle(50) == []  # a busy, b recent
    worker.join(5)
    assert done.is_set()
    pool.get("a").last_used -= 100
    assert pool.unload_idle(50) == ["a"]
    assert pool.loaded() == ["b"]
    pool.close()


def test_release_memory_is_safe_to_call() -> None:
    release_memory()
