"""The weight-bounded LRU that keeps template lint results from filling the heap."""

from __future__ import annotations

from tsr_lsp.lru import WeightedLru


def test_the_least_recently_used_go_first_once_over_budget() -> None:
    lru: WeightedLru[str, int] = WeightedLru(budget=10)
    lru.put("a", 1, 4)
    lru.put("b", 2, 4)
    assert lru.get("a") == 1  # a is now the most recent
    lru.put("c", 3, 4)  # 12 > 10: b, the least recent, goes
    assert list(lru) == ["a", "c"]
    assert lru.get("b") is None
    assert lru.total == 8


def test_the_newest_entry_stays_however_heavy() -> None:
    lru: WeightedLru[str, int] = WeightedLru(budget=10)
    lru.put("a", 1, 3)
    lru.put("huge", 2, 50)
    assert list(lru) == ["huge"]
    assert lru.total == 50


def test_replacing_and_popping_keep_the_total_right() -> None:
    lru: WeightedLru[str, int] = WeightedLru(budget=100)
    lru.put("a", 1, 30)
    lru.put("a", 2, 10)
    assert lru.get("a") == 2 and lru.total == 10
    assert lru.pop("a") == 2 and lru.total == 0 and "a" not in lru
    assert lru.pop("a") is None
