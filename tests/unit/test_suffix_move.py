"""When may cached FIM cells be moved instead of evaluated again (``suffix_move``,
``window_reuse``)?
Tokens here are characters (their text is themselves); the model run is in
tests/e2e/test_backends_llama.py."""

from __future__ import annotations

from tsr_lsp.backends.kv_reuse import (
    MIN_SUFFIX_MOVE,
    SUFFIX_FRESH_HEAD,
    Run,
    suffix_move,
    window_reuse,
)

PRE, SUF, MID = 1, 2, 3
BELOW = "    return total\n" * 5  # 85 tokens: more than the fresh head and the minimum


def prompt(prefix: str, suffix: str) -> list[int]:
    return [PRE, *map(ord, prefix), SUF, *map(ord, suffix), MID]


def text(tokens: list[int]) -> str:
    return "".join(chr(t) for t in tokens if t > MID)


def common(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def plan(old: list[int], new: list[int], min_length: int = MIN_SUFFIX_MOVE):  # type: ignore[no-untyped-def]
    return suffix_move(old, new, common(old, new), SUF, text, min_length)


def test_typing_forward_moves_the_suffix_but_its_head_and_the_middle_token() -> None:
    old = prompt("def f(items):\n    total = 0", "\n" + BELOW)
    new = prompt("def f(items):\n    total = 0\n    ", "\n" + BELOW)
    move = plan(old, new)
    assert move is not None
    assert move.old == old.index(SUF) + SUFFIX_FRESH_HEAD
    assert move.new == new.index(SUF) + SUFFIX_FRESH_HEAD
    assert move.new - move.old == 5  # "\n    " typed
    # everything up to the middle token is moved; the middle token is evaluated
    assert move.new + move.length == len(new) - 1
    assert new[move.new : move.new + move.length] == old[move.old : move.old + move.length]


def test_the_generated_answer_after_the_old_prompt_is_not_moved() -> None:
    old = [*prompt("x = 1", "\n" + BELOW), *map(ord, "y = 2")]  # the cache holds the answer
    new = prompt("x = 1\n", "\n" + BELOW)
    move = plan(old, new)
    assert move is not None and move.new + move.length == len(new) - 1


def test_a_rewritten_or_deleted_line_is_never_moved() -> None:
    # the line the cursor left was masked (HumanEval's next line): the old suffix cells saw
    # text that is gone, so nothing may be moved
    old = prompt("def f(x):\n    a = 1\n    ", "\n    b = 2\n" + BELOW)
    new = prompt("def f(x):\n    a = 1\n    b = 2\n    ", "\n" + BELOW)
    assert plan(old, new, min_length=1) is None
    # the end of the prefix was rewritten, the suffix unchanged
    old = prompt("def f(x):\n    a = 1", "\n" + BELOW)
    new = prompt("def f(x):\n    a = 2", "\n" + BELOW)
    assert plan(old, new) is None


def test_a_suffix_that_changed_early_or_is_short_is_evaluated_again() -> None:
    old = prompt("x = 1", "\nshort\n")
    new = prompt("x = 1\n", "\nshort\n")
    assert plan(old, new) is None
    # only a run shared from the marker on is moved: a suffix whose first line changed
    # (the same lines below it) is evaluated again
    old = prompt("x = 1", "\n    y = 2\n" + BELOW)
    new = prompt("x = 1\n", "\n    z = 3\n" + BELOW)
    assert plan(old, new, min_length=1) is None


def test_no_marker_or_suffix_first_order_moves_nothing() -> None:
    old = [PRE, *map(ord, "x = 1" + BELOW)]
    new = [PRE, *map(ord, "x = 12" + BELOW)]
    assert plan(old, new) is None
    # SPM: the suffix comes first, so the prompts part after it (plain prefix reuse)
    old = [SUF, *map(ord, BELOW), PRE, *map(ord, "x = 1"), MID]
    new = [SUF, *map(ord, BELOW), PRE, *map(ord, "x = 12"), MID]
    assert plan(old, new) is None


# --------------------------------------------------------------- window reuse (file prewarm)
FILE = "".join(f"def f{i}(x):\n    y = x * {i}\n    return y + {i}\n\n" for i in range(12))
LINES = FILE.split("\n")


def windows(cached: list[int], new: list[int]) -> Run | None:
    return window_reuse(cached, new, common(cached, new), (PRE, SUF, MID))


def at_line(n: int) -> int:
    """Character offset of line ``n`` in FILE."""
    return sum(len(x) + 1 for x in LINES[:n])


def cursor_prompt(doc: str, first: int, line: int, column: int) -> list[int]:
    """The server's shape: prefix window from line ``first`` to the cursor, then the rest."""
    cut = sum(len(x) + 1 for x in doc.split("\n")[:line]) + column
    start = sum(len(x) + 1 for x in doc.split("\n")[:first])
    return prompt(doc[start:cut], doc[cut:])


def test_a_file_prewarmed_whole_gives_any_window_but_not_its_suffix() -> None:
    cached = prompt(FILE, "")  # what the server prewarms when a file opens
    line = 30  # "    y = x * 7": the cursor after its indentation
    new = cursor_prompt(FILE, 16, line, 4)
    window = windows(cached, new)
    assert window is not None
    # the whole window (lines 16 .. the cursor) is moved back by the file's offset of line
    # 16 (but the tokens the two prompts share by chance at the start: "def f")
    assert window.old - window.new == at_line(16)
    assert window.new == common(cached, new) and window.new + window.length == new.index(SUF)
    assert cached[window.old : window.old + window.length] == new[window.new : new.index(SUF)]


def test_a_window_absent_or_only_behind_a_marker_is_not_moved() -> None:
    cached = prompt(FILE, "")
    other = FILE.replace("y", "z")
    assert windows(cached, cursor_prompt(other, 16, 30, 4)) is None
    # the last request's prompt: cells after its marker saw that marker and an old cursor,
    # so a window found only there (the cursor moved down past it) is not taken
    cut = at_line(20)
    cached = prompt(FILE[:cut], FILE[cut:])
    assert windows(cached, cursor_prompt(FILE, 32, 40, 4)) is None
    # but the part of a new window that the last prefix holds is
    window = windows(cached, cursor_prompt(FILE, 16, 30, 4))
    assert window is not None and window.old + window.length == cached.index(SUF)


def test_a_partly_prewarmed_file_gives_what_it_holds() -> None:
    # the prewarm was stopped at line 24: the window's first lines (16 .. 23) are there
    cached = [PRE, *map(ord, FILE[: at_line(24)])]
    window = windows(cached, cursor_prompt(FILE, 16, 30, 4))
    assert window is not None and window.old + window.length == len(cached)
