"""Definitions and scopes, resolved flow-insensitively within a scope.

Jinja scoping, simplified on purpose: ``for``, ``macro``, ``call``, ``with`` and ``block``
open scopes; ``if`` does not. A name is defined in a scope if it is assigned anywhere in
it, so a use before the ``set`` is not flagged (the linter must never cry wolf on valid
templates). Uses that a scope cannot resolve move outwards when the scope closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Signature:
    name: str
    params: list[str]
    required: int  # parameters without a default
    pos: int = 0
    varargs: bool = False  # the body uses ``varargs``: extra positional arguments are fine
    kwargs: bool = False  # the body uses ``kwargs``: unknown keywords are fine
    caller: bool = False

    def label(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


class Def:
    """One definition: ``kind`` is set, loop, param, special, import, from, macro, with,
    declared."""

    __slots__ = ("info", "kind", "name", "pos", "used")

    def __init__(self, name: str, kind: str, pos: int, info: object = None) -> None:
        self.name = name
        self.kind = kind
        self.pos = pos
        self.used = False
        self.info = info

    def __repr__(self) -> str:
        return f"Def({self.name!r}, {self.kind}, {self.pos}, used={self.used})"


class Scope:
    __slots__ = ("defs", "end", "kind", "parent", "pending", "start")

    def __init__(self, kind: str, parent: Scope | None, start: int) -> None:
        self.kind = kind
        self.parent = parent
        self.start = start
        self.end = -1
        self.defs: dict[str, Def] = {}
        self.pending: list[tuple[str, int]] = []

    def define(self, d: Def) -> Def:
        old = self.defs.get(d.name)
        if old is not None:
            # a re-assignment: keep the first position for "where declared", share usage
            d.used = old.used
            if old.kind in ("set", "declared") and d.kind == "set":
                return old
        self.defs[d.name] = d
        return d

    def lookup(self, name: str) -> Def | None:
        scope: Scope | None = self
        while scope is not None:
            d = scope.defs.get(name)
            if d is not None:
                return d
            scope = scope.parent
        return None


@dataclass
class ScopeRecord:
    """A closed scope, kept for completion: which names are visible where."""

    kind: str
    start: int
    end: int
    defs: list[Def] = field(default_factory=list)


def distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (adjacent swaps cost 1), or ``limit + 1``."""
    if a == b:
        return 0
    la, lb = len(a), len(b)
    if abs(la - lb) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(lb + 1))
    for i in range(1, la + 1):
        cur = [i] + [0] * lb
        best = i
        ca = a[i - 1]
        for j in range(1, lb + 1):
            cost = 0 if ca == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
            if v < best:
                best = v
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[lb]


def typo_limit(name: str) -> int:
    return 1 if len(name) <= 4 else 2


class Suggester:
    """Did-you-mean over a fixed word list: a deletion index finds one-edit neighbours
    without comparing against every word; two edits are tried only when one finds none.
    Results are memoised, so a name repeated 100 times costs one lookup."""

    def __init__(self, words: object) -> None:
        self.word_set = set(words)  # type: ignore[call-overload]
        self.words = sorted(self.word_set)
        self._index: dict[str, list[str]] | None = None
        self._memo: dict[tuple[str, int], list[str]] = {}

    def _near(self, name: str) -> set[str]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for w in self.words:
                index.setdefault(w, []).append(w)
                for i in range(len(w)):
                    index.setdefault(w[:i] + w[i + 1 :], []).append(w)
            self._index = index
        found = set(self._index.get(name, ()))
        for i in range(len(name)):
            found.update(self._index.get(name[:i] + name[i + 1 :], ()))
        found.discard(name)
        return found

    def __call__(self, name: str, limit: int | None = None) -> list[str]:
        lim = typo_limit(name) if limit is None else limit
        key = (name, lim)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        one = sorted(w for w in self._near(name) if distance(name, w, 1) <= 1)
        result = one[:3] if one or lim < 2 else suggest(name, self.words, lim)
        self._memo[key] = result
        return result


def suggest(name: str, candidates: object, limit: int | None = None) -> list[str]:
    """Close matches for a misspelt name, best first (at most three)."""
    lim = typo_limit(name) if limit is None else limit
    lower = name.lower()
    chars = set(lower)
    n = len(name)
    scored: list[tuple[int, str]] = []
    for cand in candidates:  # type: ignore[attr-defined]
        if cand == name or not cand or abs(len(cand) - n) > lim:
            continue
        low = cand.lower()
        if len(chars.symmetric_difference(low)) > 2 * lim:  # each edit changes <= 2 chars
            continue
        d = distance(lower, low, lim)
        if d <= lim:
            scored.append((d, cand))
    scored.sort()
    return [c for _, c in scored[:3]]


def is_inflection(a: str, b: str) -> bool:
    """``item``/``items``, ``entry``/``entries``: related names, not typos."""
    if len(a) > len(b):
        a, b = b, a
    if b in (a + "s", a + "es"):
        return True
    return a.endswith("y") and b == a[:-1] + "ies"
