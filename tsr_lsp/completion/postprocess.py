"""Clean what the model answered before it reaches the editor (golden cases in
tests/unit/completion_golden/).

The model sees only a window of the file and happily continues past the hole: it repeats
the lines below the cursor, closes brackets the rest of the line already closes, wraps code
in fences, or leaves the block. Each step here removes one such failure; the order matters
(special tokens and fences first, then healing, then the line structure, then brackets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tsr_lsp.completion.context import (
    CLOSERS,
    OPENERS,
    Cursor,
    indent_width,
    line_above,
    opens_block,
)

MAX_LINES = 12
_SPECIAL = re.compile(r"<\|[a-z_]+\|>|<fim_[a-z]+>|<file_sep>|<repo_name>|<\uff5cfim")
_CHAT = re.compile(r"^(sure|certainly|of course|here('s| is| are)|the (missing|completed) )", re.I)
_PAIRS = {")": "(", "]": "[", "}": "{"}
_QUOTES = "\"'`"
_ONLY_CLOSERS = re.compile(r"""^[)\]}'"`;:,.]+$""")
SCAN_LINES = 30  # brackets of statements longer than this are not tracked


@dataclass(frozen=True)
class Cleaned:
    text: str  # what to insert at the cursor
    replace_rest: bool = False  # True: the text replaces the rest of the line (closers)
    reason: str = ""  # why the text was cut or dropped (for logs and golden tests)


def _strip_special(text: str) -> str:
    match = _SPECIAL.search(text)
    return text[: match.start()] if match else text


def _strip_chat(text: str) -> str:
    """Fences and chat phrases (an Instruct model sometimes answers like a chat)."""
    lines = text.split("\n")
    while lines and (_CHAT.match(lines[0].strip()) and lines[0].rstrip().endswith(":")):
        lines.pop(0)
    if lines and lines[0].strip().startswith("```"):
        lines.pop(0)
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            lines = lines[:i]
            break
    return "\n".join(lines)


def _heal(text: str, healed: str, cur: Cursor) -> str:
    """Remove the whitespace the prompt left out (see context.build_prompt), and on a
    blank line the indentation the model wrote again in front of the cursor's."""
    blank_line = not cur.line_prefix.strip()
    if blank_line:
        lines = text.split("\n")
        while len(lines) > 1 and not lines[0].strip():
            lines.pop(0)  # the model started with an empty line: complete the cursor's line
        text = "\n".join(lines)
    if healed and text.startswith(healed):
        return text[len(healed) :]
    if not healed and not (blank_line and indent_width(text) and not _body_below_opener(cur)):
        return text
    first, nl, rest = text.partition("\n")
    return first.lstrip(" \t") + nl + rest


def _body_below_opener(cur: Cursor) -> bool:
    """The cursor is not yet indented below a line that opens a block: more indentation
    from the model is the block's body, not a repeat of the cursor's indentation."""
    above = line_above(cur)
    return opens_block(above) and len(cur.line_prefix) <= indent_width(above)


def _first_below(cur: Cursor) -> str:
    return next((x.strip() for x in cur.after if x.strip()), "")


def _cut_lines(text: str, cur: Cursor, multiline: bool) -> tuple[str, str]:
    """Single line, or the lines up to the end of the cursor's block and before the model
    starts repeating the code below the cursor."""
    lines = [x.rstrip() for x in text.split("\n")]
    if not multiline:
        return lines[0], "one line" if len(lines) > 1 else ""
    block = cur.depth
    below = _first_below(cur)
    below_lines = [x.strip() for x in cur.after if x.strip()][:3]
    kept = [lines[0]]
    reason = ""
    for i, line in enumerate(lines[1:], 1):
        if line.strip() and indent_width(line) < block:
            reason = "end of block"
            break
        if below and line.strip() == below and len(below) > 1:
            stripped = [x.strip() for x in lines[i : i + len(below_lines)] if x.strip()]
            if stripped == below_lines[: len(stripped)]:
                reason = "repeats the lines below"
                break
        if len(kept) >= MAX_LINES:
            reason = "line limit"
            break
        kept.append(line)
    while len(kept) > 1 and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept), reason


def _open_stack(cur: Cursor) -> list[str]:
    """Brackets still open at the cursor, from the statement's last lines (strings and
    '#'/'//' comments skipped, roughly: good enough for the lines next to the cursor)."""
    stack: list[str] = []
    for line in [*cur.before[-SCAN_LINES:], cur.line_prefix]:
        _scan(line, stack)
    return stack


def _scan(line: str, stack: list[str], cut_excess: bool = False) -> int:
    """Push openers, pop closers; returns the index of the first closer with nothing to
    close (when ``cut_excess``), else -1."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in _QUOTES:
            quote = ch
        elif ch == "#" or line.startswith("//", i):
            break
        elif ch in OPENERS:
            stack.append(ch)
        elif ch in CLOSERS:
            if stack and stack[-1] == _PAIRS[ch]:
                stack.pop()
            elif cut_excess:
                return i
        i += 1
    return -1


def _fits(stack: list[str], text: str) -> bool:
    """No closer in ``text`` lacks its opener (given the brackets open before it)."""
    return _scan(text, list(stack), cut_excess=True) < 0


def _brackets(text: str, cur: Cursor) -> tuple[str, bool, str]:
    """Close only brackets the completion opened or the prefix left open, and do not
    close again what the rest of the line already closes."""
    stack = _open_stack(cur)
    probe = list(stack)
    lines = text.split("\n")
    for n, line in enumerate(lines):
        cut = _scan(line, probe, cut_excess=True)
        if cut >= 0:
            kept = [*lines[:n], line[:cut].rstrip()]
            return "\n".join(kept).rstrip(), False, "closer with nothing to close"
    rest = cur.line_suffix.strip()
    if not rest or "\n" in text:
        return text, False, ""
    body = text.rstrip()
    overlap = body.endswith(rest)
    if overlap and not any(ch in CLOSERS for ch in rest):
        return body[: -len(rest)], False, "overlap with the rest of the line"
    if _fits(stack, text + cur.line_suffix):
        return text, False, ""
    if overlap and _fits(stack, body[: -len(rest)] + cur.line_suffix):
        return body[: -len(rest)], False, "overlap with the rest of the line"
    if _ONLY_CLOSERS.match(rest) and _fits(stack, text):
        return text, True, "replaces the closers right of the cursor"
    return text, False, ""


def _contains_in_order(text: str, chars: str) -> bool:
    pos = 0
    for ch in chars:
        pos = text.find(ch, pos)
        if pos < 0:
            return False
        pos += 1
    return True


def postprocess(raw: str, cur: Cursor, *, multiline: bool, healed: str = "") -> Cleaned:
    """The text to insert at the cursor (possibly empty), from the model's raw answer."""
    text = _strip_chat(_strip_special(raw))
    text = _heal(text, healed, cur)
    text, reason = _cut_lines(text, cur, multiline)
    if not text.strip():
        return Cleaned("", reason="empty")
    first = text.split("\n", 1)[0].strip()
    below = _first_below(cur)
    if len(first) >= 6 and first == below and not cur.line_prefix.strip():
        return Cleaned("", reason="repeats the line below")
    text, replace, why = _brackets(text, cur)
    text = "\n".join(x.rstrip() for x in text.split("\n")).rstrip()
    if not text.strip():
        return Cleaned("", reason=why or "empty")
    return Cleaned(text, replace, why or reason)
