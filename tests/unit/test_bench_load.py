"""The clients section's stall attribution: which heavy actions ran while a victim waited."""

from __future__ import annotations

from tsr_lsp.bench.load import overlapping


def test_a_stall_names_the_actions_that_overlap_it() -> None:
    stall = [100.0, 1500.0, "tsr/route", "socket"]  # waited 100.0 .. 101.5
    spans = [
        ["big_open", 99.0, 100.2],  # ends inside
        ["huge_route", 101.4, 103.0],  # starts inside
        ["consolidate", 98.0, 99.9],  # over before it started
        ["big_import", 101.6, 102.0],  # started after it was answered
        ["big_open", 100.5, 100.6],  # the same action twice: named once
    ]
    assert overlapping(stall, spans) == ["big_open", "huge_route"]


def test_a_stall_with_nothing_heavy_running_names_nothing() -> None:
    assert overlapping([10.0, 1200.0, "tsr/status", "stdio"], [["deep_json", 0.0, 9.0]]) == []
