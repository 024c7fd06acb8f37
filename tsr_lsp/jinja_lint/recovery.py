"""Recovering from broken templates: where a lost delimiter or end tag belonged.

These read the analyzer's state (lines, tags) and add diagnostics; they never raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsr_lsp.jinja_lint.expr import Node, ParseError, Parser
from tsr_lsp.jinja_lint.lexer import BLOCK, COMMENT, VAR, Tag
from tsr_lsp.jinja_lint.model import ERROR, indent_of

if TYPE_CHECKING:
    from tsr_lsp.jinja_lint.analyzer import Analyzer, Frame


def syntax_error(a: Analyzer, tag: Tag, exc: ParseError) -> None:
    a.add(exc.code, ERROR, exc.message, exc.offset, a.token_end(exc.offset))
    lost_closer(a, tag, exc.offset)


def lost_closer(a: Analyzer, tag: Tag, error_at: int) -> None:
    lines = a.lines
    first_line = lines.line_of(tag.start)
    if lines.line_of(error_at) <= first_line or tag.kind == COMMENT:
        return
    # A tag that runs on over several lines and then stops making sense usually lost
    # its closing delimiter on the first line: say so where the fault is.
    line_end = lines.line_end(first_line)
    head = [t for t in tag.tokens if t[2] < line_end and t[0] != "end"]
    if not head:
        return
    head.append(("end", "", line_end))
    try:
        p = Parser(head, NullSink(), 1 if tag.kind == BLOCK else 0)
        if tag.kind == BLOCK and head[0][1] not in ("if", "elif", "print", "do"):
            return
        p.tuple_()
        p.expect_end()
    except ParseError:
        return
    closer = "}}" if tag.kind == VAR else "%}"
    a.add(
        "JL002",
        ERROR,
        f"this tag seems to miss its '{closer}': the expression is complete on this line, "
        f"but the tag runs on to line {lines.line_of(error_at) + 1}",
        tag.start,
        tag.start + 2,
        closer=closer,
        insert_at=line_end,
    )


def unclosed_tag(a: Analyzer, tag: Tag) -> None:
    closer = {VAR: "}}", BLOCK: "%}"}.get(tag.kind, "#}")
    opener = {VAR: "{{", BLOCK: "{%"}.get(tag.kind, "{#")
    a.add(
        "JL002",
        ERROR,
        f"'{opener}' is never closed (missing '{closer}')",
        tag.start,
        tag.start + 2,
        closer=closer,
        insert_at=close_point(a, tag),
        **_half_closer(tag),
    )


def _half_closer(tag: Tag) -> dict[str, list[int]]:
    """``half_closer``: the span of what is left of the closer (``}`` of ``}}``, ``%`` or
    ``}`` of ``%}``, with a ``-`` before it), the first such token outside brackets:
    ``{{ f(\n  x\n) }`` lost its ``}`` on the last line, not after ``f``."""
    depth = 0
    prev: tuple[str, str, int] | None = None
    ends = "}" if tag.kind == VAR else "}%"
    for tok in tag.tokens:
        kind, value, pos = tok
        if kind == "op" and value in "([{" and value:
            depth += 1
        elif kind == "op" and value in ")]" and value:
            depth = max(depth - 1, 0)
        elif kind == "op" and value in ends and value and depth == 0:
            start = pos
            if prev is not None and prev[1] in ("-", "+") and prev[2] == pos - 1:
                start -= 1
            return {"half_closer": [start, pos + 1]}
        elif kind == "op" and value == "}":
            depth = max(depth - 1, 0)
        prev = tok
    return {}


def close_point(a: Analyzer, tag: Tag) -> int:
    """Where the lost closer most likely belonged: after the longest run of tokens on
    the opener's line that still reads as a complete expression (``{{ name </p>``
    -> after ``name``)."""
    line_end = a.lines.line_end(a.lines.line_of(tag.start))
    toks = [t for t in tag.tokens if t[0] != "end" and t[2] < line_end]
    skip = 1 if tag.kind == BLOCK else 0
    for n in range(len(toks), skip, -1):
        head = [*toks[:n], ("end", "", line_end)]
        try:
            p = Parser(head, NullSink(), skip)
            if tag.kind == VAR or (toks and toks[0][1] in ("if", "elif", "print", "do")):
                p.tuple_()
                p.expect_end()
            return toks[n - 1][2] + len(toks[n - 1][1])
        except ParseError:
            continue
    return toks[-1][2] + len(toks[-1][1]) if toks else tag.inner


def guess_end_line(a: Analyzer, frame: Frame, stop: int) -> int | None:
    """Where the missing end tag of ``frame`` probably belonged, from indentation:
    the line after the last line indented deeper than the opener. None when the
    template is not indented (nothing to go by)."""
    lines = a.lines
    open_line = lines.line_of(frame.start)
    stop_line = lines.line_of(stop)
    indent = indent_of(lines.line_text(open_line))
    last = open_line
    deeper = False
    for line in range(open_line + 1, min(stop_line, lines.line_count - 1) + 1):
        text = lines.line_text(line)
        stripped = text.lstrip()
        if not stripped:
            continue
        if len(text) - len(stripped) > indent:
            last = line
            deeper = True
            continue
        if frame.middles and any(stripped.startswith(m) for m in _middle_prefixes(frame)):
            last = line
            continue
        break
    if not deeper:
        return None
    return last + 1


def _middle_prefixes(frame: Frame) -> list[str]:
    return [f"{{%{d} {m}" for m in frame.middles for d in ("", "-", "+")] + [
        f"{{%{d}{m}" for m in frame.middles for d in ("", "-", "+")
    ]


class NullSink:
    def use(self, name: str, pos: int) -> None:
        pass

    def on_filter(
        self, name: str, pos: int, subject: Node, args: list[Node], kwargs: dict[str, Node]
    ) -> None:
        pass

    def on_test(self, name: str, pos: int, subject: Node) -> None:
        pass

    def on_call(self, func: Node, args: list[Node], kwargs: list[str], pos: int, dyn: bool) -> None:
        pass

    def on_attr(self, obj: Node, attr: str, pos: int) -> None:
        pass
