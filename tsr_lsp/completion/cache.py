"""An LRU cache of suggestions with type-through reuse (llama.vim's idea).

The key is the text around the cursor: hashes of the window above and below the cursor's
line, plus the line split at the cursor. When the user types the first characters of the
suggestion on screen, the new request's line prefix is the old one plus those characters:
``lookup`` walks back over them and answers with the rest of the old suggestion, without
touching the model.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from tsr_lsp.completion.context import Cursor

MAX_TYPED = 128  # characters typed through a suggestion that can still reuse it
WINDOW_LINES = 64  # lines above/below the cursor that are part of the key


@dataclass(frozen=True)
class Key:
    above: str  # digest of the lines above the cursor's line (the window)
    line_prefix: str
    line_suffix: str
    below: str  # digest of the lines below
    scope: str = ""  # model profile + settings that change the answer


@dataclass(frozen=True)
class Entry:
    texts: tuple[str, ...]  # cleaned suggestions, best first
    completion_id: str = ""  # the id of the completion that produced them
    speculative: bool = False  # computed ahead for the line after an accepted suggestion, unused


def _digest(lines: tuple[str, ...]) -> str:
    return hashlib.blake2b("\n".join(lines).encode("utf-8", "replace"), digest_size=12).hexdigest()


def make_key(cur: Cursor, scope: str = "") -> Key:
    return Key(
        _digest(cur.before[-WINDOW_LINES:]),
        cur.line_prefix,
        cur.line_suffix,
        _digest(cur.after[:WINDOW_LINES]),
        scope,
    )


class SuggestionCache:
    def __init__(self, capacity: int = 250):
        self.capacity = capacity
        self._items: OrderedDict[Key, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def put(self, key: Key, entry: Entry) -> None:
        self._items[key] = entry
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, key: Key) -> Entry | None:
        entry = self._items.get(key)
        if entry is not None:
            self._items.move_to_end(key)
        return entry

    def lookup(self, key: Key) -> tuple[Entry, int] | None:
        """An entry for ``key``: an exact hit (typed = 0), or an older suggestion that the
        characters typed since (``typed`` > 0, on the same line) are the start of; its
        texts are then cut after what was typed. Suggestions that would be used up are
        skipped."""
        exact = self.get(key)
        if exact is not None:
            return exact, 0
        prefix = key.line_prefix
        for typed in range(1, min(MAX_TYPED, len(prefix)) + 1):
            old = Key(key.above, prefix[:-typed], key.line_suffix, key.below, key.scope)
            entry = self._items.get(old)
            if entry is None:
                continue
            head = prefix[-typed:]
            rest = tuple(t[typed:] for t in entry.texts if t.startswith(head) and len(t) > typed)
            if rest:
                self._items.move_to_end(old)
                return Entry(rest, entry.completion_id), typed
        return None
