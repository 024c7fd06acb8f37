"""Plain data the linter produces and consumes: diagnostics, options, positions."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITY_RANK = {ERROR: 0, WARNING: 1, INFO: 2}


@dataclass(slots=True)
class Diagnostic:
    """One finding, as character offsets into the source (``end`` exclusive).

    ``data`` carries what quick fixes need (suggestions, the block to close, ...).
    """

    code: str
    severity: str
    message: str
    start: int
    end: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class LintOptions:
    """How to lint one file. Built from ``LintSettings`` by the CLI and the server."""

    custom_tags: list[str] = field(default_factory=list)  # "name" or "name/endname"
    extra_filters: list[str] = field(default_factory=list)
    extra_tests: list[str] = field(default_factory=list)
    extra_globals: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)  # code prefixes; empty = all
    ignore: list[str] = field(default_factory=list)
    # "auto" (decide from the file), "prompt", "chat" or "generic"
    kind: str = "auto"
    # Treat unknown filters/tests/tags as errors even in generic templates.
    strict: bool = False
    max_range: int = 10_000


class LineIndex:
    """Offset <-> (line, column), both 0-based; columns in code points."""

    __slots__ = ("starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        find = text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self.starts = starts

    def line_of(self, offset: int) -> int:
        return bisect_right(self.starts, offset) - 1

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.starts, offset) - 1
        return line, offset - self.starts[line]

    def offset(self, line: int, column: int) -> int:
        if line >= len(self.starts):
            return len(self.text)
        if line < 0:
            return 0
        return min(self.starts[line] + column, self.line_end(line))

    def line_end(self, line: int) -> int:
        """Offset of the end of a line (before its newline)."""
        if line + 1 < len(self.starts):
            end = self.starts[line + 1] - 1
            if end > 0 and self.text[end - 1] == "\r":
                end -= 1
            return end
        return len(self.text)

    def line_text(self, line: int) -> str:
        return self.text[self.starts[line] : self.line_end(line)]

    @property
    def line_count(self) -> int:
        return len(self.starts)


def indent_of(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))
