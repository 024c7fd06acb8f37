"""When cached KV cells can be moved instead of evaluated again (pure; the llama.cpp
backend does the moving, docs/COMPLETION.md "Latency machinery"):

- ``suffix_move``: typing forward in PSM order changes the end of the prefix; the cached
  suffix's cells are moved to their new positions when the new prefix only extends the
  cached one (they were computed without the text typed since, never with text that is
  gone).
- ``window_reuse``: a file prewarmed whole holds every prefix window's cells; a request's
  window is found in it and moved to the prompt's start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A shared suffix shorter than this is evaluated again rather than moved (moving costs a
# few cache operations; 32 tokens take ~0.2 s to evaluate on 2 cores).
MIN_SUFFIX_MOVE = 32
# The suffix marker and the first tokens after it are evaluated again all the same: they
# tell the model where the gap is. Moved as well, the answer was empty in 10 of 10
# development tasks; with 8 evaluated it matched the fresh answer in 8 (COMPLETION.md).
SUFFIX_FRESH_HEAD = 8
WINDOW_SKIP = 4  # tokens at a window's start that may be evaluated rather than found


@dataclass(frozen=True)
class Run:
    """Cached tokens ``old .. old + length`` are the new prompt's ``new .. new + length``:
    their cells can be moved there instead of evaluated."""

    old: int
    new: int
    length: int

    @property
    def typed(self) -> int:
        """Tokens the moved cells never saw (what was typed since)."""
        return abs(self.new - self.old)


def suffix_move(
    cached: list[int],
    tokens: list[int],
    keep: int,
    suffix_id: int,
    text: Callable[[list[int]], str],
    min_length: int = MIN_SUFFIX_MOVE,
) -> Run | None:
    """Can the cached suffix (but its first ``SUFFIX_FRESH_HEAD`` tokens) be moved rather
    than evaluated again? Only when the prompts part after their first ``keep`` tokens,
    both before the suffix marker, and the old prefix's text is the start of the new one:
    the moved cells then saw part of the new context, never text that was deleted (a
    masked or rewritten line must not leak). The last token of ``tokens`` is always left to
    evaluate (its logits start the answer)."""
    try:
        old = cached.index(suffix_id, keep)
        new = tokens.index(suffix_id, keep)
    except ValueError:
        return None
    if new == keep or not text(tokens[keep:new]).startswith(text(cached[keep:old])):
        return None
    length = matching(cached, old, tokens[: len(tokens) - 1], new)
    head = SUFFIX_FRESH_HEAD
    if length - head < min_length:
        return None
    return Run(old + head, new + head, length - head)


def window_reuse(
    cached: list[int], tokens: list[int], keep: int, fim_ids: tuple[int, int, int]
) -> Run | None:
    """The run of plain cached text (after the common ``keep`` tokens, before any FIM
    marker: a file prewarmed whole, or the last prompt's prefix) that holds the new PSM
    prompt's prefix window; None if the window is not there.

    Its cells saw the text above them in the file, not the prompt's window: like a
    prefix's cells. The suffix is evaluated, never taken from a prewarmed file: those cells
    saw it as text to continue, not as a FIM suffix, and moved in, the model wrote the
    line after the suffix's end (docs/COMPLETION.md, Window reuse)."""
    try:
        marker = tokens.index(fim_ids[1], keep)
    except ValueError:
        return None
    if marker - keep < MIN_SUFFIX_MOVE:
        return None  # the window is (nearly) all shared already: the usual case, kept cheap
    plain_end = min(
        (i for i in range(keep, len(cached)) if cached[i] in fim_ids), default=len(cached)
    )
    for skip in range(WINDOW_SKIP):  # a window's first line may tokenize unlike the file's
        run = _find_run(cached, tokens, keep + skip, marker, keep, plain_end)
        if run is not None:
            return run
    return None


def matching(a: list[int], i: int, b: list[int], j: int) -> int:
    """How many tokens ``a`` from ``i`` and ``b`` from ``j`` have in common."""
    n = 0
    limit = min(len(a) - i, len(b) - j)
    while n < limit and a[i + n] == b[j + n]:
        n += 1
    return n


def _find_run(
    cached: list[int], tokens: list[int], new: int, end: int, lo: int, hi: int
) -> Run | None:
    """The longest run (at least ``MIN_SUFFIX_MOVE`` tokens) of ``tokens[new:end]``'s
    start found in ``cached`` starting in ``lo .. hi``; the first of equal ones."""
    if end - new < MIN_SUFFIX_MOVE:
        return None
    best = None
    first = tokens[new]
    tokens = tokens[:end]
    j = lo
    while True:
        try:
            j = cached.index(first, j, hi)
        except ValueError:
            return best
        length = matching(cached, j, tokens, new)
        if length >= MIN_SUFFIX_MOVE and (best is None or length > best.length):
            best = Run(j, new, length)
        j += 1
