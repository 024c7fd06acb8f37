"""8-word shingle overlap: the project's check that text we write (or train on) does not
copy or mirror public test items. Pure.

Two texts overlap when they share any run of ``n`` consecutive words after normalisation
(lower case, punctuation dropped). Eight words is long enough that shared boilerplate
("write a python function that") does not count, short enough to catch a paraphrase that
keeps a clause.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set

SHINGLE_WORDS = 8
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    """Every run of ``n`` consecutive words (a text shorter than ``n`` words is one run)."""
    ws = words(text)
    if not ws:
        return set()
    if len(ws) < n:
        return {tuple(ws)}
    return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}


def shingle_index(texts: Iterable[str], n: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for text in texts:
        out |= shingles(text, n)
    return out


def overlaps(text: str, index: Set[tuple[str, ...]], n: int = SHINGLE_WORDS) -> bool:
    """True when ``text`` shares an ``n``-word run with any text of the index. A text shorter
    than ``n`` words overlaps only when it occurs whole as a shingle of the index (rare)."""
    return any(s in index for s in shingles(text, n))
