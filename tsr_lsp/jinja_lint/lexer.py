"""An error-tolerant scanner with Jinja's token rules.

Jinja's own lexer raises at the first problem; this one records the problem and carries
on, so one file yields every error. It mirrors ``jinja2.lexer`` (same token regexes,
whitespace-control markers, bracket balancing before end delimiters, raw blocks) and adds
recovery: a ``{{``/``{%``/``{#`` met inside an open tag means the tag was never closed; it
is reported at its opener and scanning resumes at the new opener.

Tokens are ``(type, value, offset)`` tuples: types ``name``, ``string``, ``integer``,
``float``, ``op`` and a final ``end`` sentinel. One pass, one regex match per token.
"""

from __future__ import annotations

import re

VAR = "var"
BLOCK = "block"
COMMENT = "comment"
RAW = "raw"

Token = tuple[str, str, int]

_OPEN = re.compile(r"\{([{%#])")
_BODY = r"""
    |(\{[{%\#])
    |((?<!\.)(?:\d+_)*\d+(?:(?:\.(?:\d+_)*\d+)?[eE][+\-]?(?:\d+_)*\d+|\.(?:\d+_)*\d+))
    |(0[bB](?:_?[01])+|0[oO](?:_?[0-7])+|0[xX](?:_?[\da-fA-F])+|[1-9](?:_?\d)*|0(?:_?0)*)
    |([^\W\d]\w*)
    |('[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*")
    |(//|\*\*|==|!=|>=|<=|[+\-/*%~\[\](){}<>=.:|,;])
    )"""
# One match per token, whitespace skipped in the same match. Group 1 is the end
# delimiter, 2 a new opener (the tag was never closed), then Jinja's token rules.
_VAR_TOKEN = re.compile(r"\s*(?:(-?\}\})" + _BODY, re.S | re.X)
_BLOCK_TOKEN = re.compile(r"\s*(?:([-+]?%\})" + _BODY, re.S | re.X)
_PLAIN_TOKEN = re.compile(r"\s*(?:((?!))" + _BODY, re.S | re.X)
_TYPES = (None, None, None, "float", "integer", "name", "string", "op")
_WS = re.compile(r"\s*")
_ENDRAW = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_CLOSERS = {")": "(", "]": "[", "}": "{"}


class Tag:
    """One ``{{ }}``, ``{% %}``, ``{# #}`` or raw section, with its tokens."""

    __slots__ = ("closed", "end", "error", "inner", "kind", "start", "tokens")

    def __init__(self, kind: str, start: int) -> None:
        self.kind = kind
        self.start = start  # offset of the opening delimiter
        self.end = start  # offset just after the closing delimiter (or where it stops)
        self.inner = start + 2  # offset of the content
        self.tokens: list[Token] = []
        self.closed = True
        self.error: tuple[str, int] | None = None  # first lexical error (message, offset)

    @property
    def name(self) -> str:
        """The tag name of a ``{% %}`` (its first token), or ''."""
        toks = self.tokens
        return toks[0][1] if toks and toks[0][0] == "name" else ""

    def __repr__(self) -> str:  # debugging aid
        return f"Tag({self.kind}, {self.start}-{self.end}, {self.tokens[:3]!r})"


def scan(source: str) -> list[Tag]:
    """All tags of a template, in order, never raising."""
    tags: list[Tag] = []
    n = len(source)
    pos = 0
    search = _OPEN.search
    while True:
        m = search(source, pos)
        if m is None:
            return tags
        start = m.start()
        kind_char = m.group(1)
        if kind_char == "#":
            tag = Tag(COMMENT, start)
            close = source.find("#}", start + 2)
            if close == -1:
                tag.closed = False
                tag.end = n
                tag.error = ("comment is never closed (missing '#}')", start)
                tags.append(tag)
                pos = start + 2
                continue
            tag.end = close + 2
            tags.append(tag)
            pos = tag.end
            continue
        tag = _lex_tag(source, start, VAR if kind_char == "{" else BLOCK, n)
        tags.append(tag)
        pos = tag.end
        if tag.kind == BLOCK and tag.closed and tag.name == "raw" and len(tag.tokens) == 2:
            raw_end = _ENDRAW.search(source, pos)
            raw = Tag(RAW, pos)
            raw.inner = pos
            if raw_end is None:
                raw.error = ("'raw' block is never closed (missing '{% endraw %}')", start)
                raw.closed = False
                raw.end = pos
            else:
                raw.end = raw_end.end()
                pos = raw.end
            tags.append(raw)


def _lex_tag(source: str, start: int, kind: str, n: int) -> Tag:
    tag = Tag(kind, start)
    pos = start + 2
    if pos < n and source[pos] in "-+":
        pos += 1
    tag.inner = pos
    tokens = tag.tokens
    append = tokens.append
    with_end = (_VAR_TOKEN if kind == VAR else _BLOCK_TOKEN).match
    plain = _PLAIN_TOKEN.match
    stack: list[str] = []
    while True:
        m = with_end(source, pos) if not stack else plain(source, pos)
        if m is None:
            pos = _WS.match(source, pos).end()  # type: ignore[union-attr]
            if pos >= n:
                tag.closed = False
                tag.end = n
                break
            if tag.error is None:
                ch = source[pos]
                if ch in "'\"":
                    tag.error = ("string is never closed", pos)
                elif kind == BLOCK and source.startswith("}}", pos):
                    tag.error = ("'{%' closed with '}}' (use '%}')", pos)
                elif kind == VAR and source.startswith("%}", pos):
                    tag.error = ("'{{' closed with '%}' (use '}}')", pos)
                else:
                    tag.error = (f"unexpected character {ch!r}", pos)
            pos += 1
            continue
        idx = m.lastindex
        if idx == 1:
            tag.end = m.end()
            break
        tok_start = m.start(idx)  # type: ignore[arg-type]
        if idx == 2:
            tag.closed = False  # a new tag opens: this one was never closed
            tag.end = tok_start
            break
        value = m.group(idx)  # type: ignore[arg-type]
        if idx == 7:
            if value in "([{":
                stack.append(value)
            elif value in ")]}":
                want = _CLOSERS[value]
                if stack and stack[-1] == want:
                    stack.pop()
                elif tag.error is None:
                    tag.error = (f"unexpected {value!r}", tok_start)
            append(("op", value, tok_start))
        else:
            append((_TYPES[idx], value, tok_start))  # type: ignore[arg-type,index]
        pos = m.end()
    if stack and tag.closed and tag.error is None:
        tag.error = (f"{stack[-1]!r} is never closed", tag.end - 2)
    append(("end", "", tag.end - (2 if tag.closed else 0)))
    return tag


def comment_text(source: str, tag: Tag) -> str:
    end = tag.end - 2 if tag.closed else tag.end
    return source[tag.start + 2 : end]
