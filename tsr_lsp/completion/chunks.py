"""Context from other files: a ring of chunks (llama.vim's design).

Chunks are picked from files the user opens, edits or saves; a new chunk evicts those it
mostly repeats (line-set similarity), and the oldest when the ring is full. The prompt uses
the chunks of other files in ring order, oldest first, so typing in one file leaves that
part of the prompt (and its KV cache) untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

from tsr_lsp.completion.context import Chunk

CHUNK_LINES = 64
RING_SIZE = 16
SIMILAR = 0.9  # a new chunk replaces ring chunks whose lines it shares at this ratio
MIN_LINES = 4  # chunks with fewer non-blank lines are not worth their tokens


def _line_set(text: str) -> set[str]:
    return {x.strip() for x in text.split("\n") if x.strip()}


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the non-blank lines."""
    sa, sb = _line_set(a), _line_set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def pick(lines: Sequence[str], around: int, size: int = CHUNK_LINES) -> str:
    """``size`` lines of a file centred on line ``around`` (clamped to the file)."""
    start = max(0, min(around - size // 2, len(lines) - size))
    return "\n".join(lines[start : start + size]).rstrip()


class ChunkRing:
    def __init__(self, size: int = RING_SIZE):
        self.size = size
        self.chunks: list[Chunk] = []

    def add(self, path: str, text: str) -> bool:
        """Add a chunk; False when it is too small or nearly a copy of one already there."""
        if len(_line_set(text)) < MIN_LINES:
            return False
        if any(c.path == path and c.text == text for c in self.chunks):
            return False
        self.chunks = [c for c in self.chunks if similarity(c.text, text) < SIMILAR]
        self.chunks.append(Chunk(path, text))
        del self.chunks[: -self.size]
        return True

    def forget(self, path: str) -> None:
        self.chunks = [c for c in self.chunks if c.path != path]

    def for_file(self, path: str) -> list[Chunk]:
        """The ring's chunks usable in a prompt for ``path``: those of other files (the
        window already shows this one), in ring order."""
        return [c for c in self.chunks if c.path != path]
