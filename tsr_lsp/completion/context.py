"""The text around the cursor and the fill-in-the-middle prompt built from it.

Prompt layout, stable part first (llama-cpp-python reuses only the longest common token
prefix of consecutive prompts): repository name, chunks of other files, the file's path,
then ``<|fim_prefix|>`` prefix ``<|fim_suffix|>`` suffix ``<|fim_middle|>``. The prefix
window starts on an anchor line (a multiple of ANCHOR_LINES) so it keeps its first token
while the cursor moves down: the next completion re-evaluates only what changed near the
cursor plus the suffix, which is why the suffix budget is the smaller one.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

ANCHOR_LINES = 16
CHARS_PER_TOKEN = 3.2  # Qwen2.5-Coder on Python source: ~3.2-3.6 characters a token
MAX_RIGHT_CHARS = 4  # more code than this right of the cursor: no automatic completion
CLOSERS = ")]}"
OPENERS = "([{"
_WORD = re.compile(r"\w")
# the rest of a line that a suggestion may end in front of: closing brackets, quotes and
# the punctuation that follows them
_TAIL_OK = re.compile(r"""^[\s)\]}'"`;:,.]*$""")

TokenCount = Callable[[str], int]
QWEN_FIM = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: budgets are soft, and a pure estimate keeps the window
    (and so the KV cache) stable between requests."""
    return int(len(text) / CHARS_PER_TOKEN) + 1


@dataclass(frozen=True)
class Cursor:
    """The cursor in a document: its line split in two, and the lines around it."""

    line: int
    line_prefix: str  # text of the cursor's line before the cursor
    line_suffix: str  # text of the cursor's line after the cursor
    before: tuple[str, ...] = ()  # lines above the cursor's line (all of them)
    after: tuple[str, ...] = ()  # lines below it

    @property
    def at_line_end(self) -> bool:
        return not self.line_suffix.strip()

    @property
    def indent(self) -> str:
        """The indentation of the cursor's line (what the user typed before the code)."""
        text = self.line_prefix + self.line_suffix
        return text[: indent_width(text)]

    @property
    def depth(self) -> int:
        """The indentation the cursor's code is at: its line's, or on a blank line the
        cursor's column (the indentation typed so far)."""
        text = self.line_prefix + self.line_suffix
        return indent_width(text) if text.strip() else len(self.line_prefix)


def indent_width(line: str) -> int:
    """Leading spaces and tabs, one column each."""
    return len(line) - len(line.lstrip(" \t"))


MAX_VIRTUAL_INDENT = 256


def from_client_units(line: str, column: int, units: Callable[[str], int]) -> int:
    """A client's column, counted in its position encoding's code units (``units`` of a
    character: 2 for one outside the BMP in UTF-16), in Python characters. Past the line's
    end the surplus is kept: ``locate`` decides what it means."""
    count = 0
    for i, char in enumerate(line):
        if count >= column:
            return i
        count += units(char)
    return len(line) + max(0, column - count)


def locate(
    text: str, line: int, character: int, units: Callable[[str], int] | None = None
) -> Cursor | None:
    """Split ``text`` at (line, character): Python characters, or a client's code units
    when ``units`` is given. Lines are split at "\n" only, as LSP counts them (pygls's
    ``lines`` also splits at form feeds and other separators). A line past the end gives
    None; a column past the end of a blank line keeps the virtual indentation (the cursor
    "after the indentation" on an empty line) up to ``MAX_VIRTUAL_INDENT`` columns, elsewhere
    it is clamped to the line's end. The cap matters: a client's column is any integer."""
    lines = text.split("\n")
    if line < 0 or character < 0 or line >= len(lines):
        return None
    current = lines[line].rstrip("\r")
    if units is not None:
        character = from_client_units(current, character, units)
    if character > len(current):
        virtual = not current.strip() and character <= MAX_VIRTUAL_INDENT
        pad = " " * (character - len(current)) if virtual else ""
        head, tail = current + pad, ""
    else:
        head, tail = current[:character], current[character:]
    return Cursor(
        line=line,
        line_prefix=head,
        line_suffix=tail,
        before=tuple(x.rstrip("\r") for x in lines[:line]),
        after=tuple(x.rstrip("\r") for x in lines[line + 1 :]),
    )


def skip_reason(cur: Cursor, invoked: bool = False) -> str | None:
    """Why an automatic request should not reach the model (None: ask it). Invoked
    requests (the user pressed the key) are only refused mid-word."""
    before = cur.line_prefix[-1:]
    after = cur.line_suffix[:1]
    if before and after and _WORD.match(before) and _WORD.match(after):
        return "mid-word"
    if invoked:
        return None
    rest = cur.line_suffix.strip()
    if len(rest) > MAX_RIGHT_CHARS and not _TAIL_OK.match(rest):
        return "text right of the cursor"
    if after and _WORD.match(after):
        return "a word right of the cursor"
    return None


def wants_multiline(cur: Cursor, setting: str = "auto") -> bool:
    """Multi-line only at the end of a line. In "auto": only on a blank line that opens a
    block (the line above ends with ':' or an opening bracket, or the cursor's line is
    indented deeper than it), like Copilot and Tabby; a line with code gets its own end."""
    if setting == "never" or not cur.at_line_end:
        return False
    if setting == "always":
        return True
    if cur.line_prefix.strip():
        return False
    above = line_above(cur)
    if not above:
        return True  # an empty file or the top of one
    if opens_block(above):
        return True
    above_indent = len(above) - len(above.lstrip())
    return len(cur.line_prefix) > above_indent


def line_above(cur: Cursor) -> str:
    """The last non-blank line above the cursor's line ("" at the top of a file)."""
    return next((x for x in reversed(cur.before) if x.strip()), "")


def opens_block(line: str) -> bool:
    """Does ``line`` open a block (Python's ':', braces, brackets, arrows, do/then)?"""
    stripped = line.rstrip()
    return stripped.endswith((":", "{", "(", "[", "=>", "->")) or stripped.endswith(("do", "then"))


# After these a Python line ends its block: editors (VS Code's Python support, Neovim's
# python indent) take one level off the next line.
_ENDS_BLOCK = re.compile(r"^\s*(?:return|raise|pass|break|continue)\b")


def indent_unit(lines: Sequence[str]) -> str:
    """One level of indentation as the file writes it: a tab, or the commonest step by which
    a line is indented deeper than the code line above it (4 spaces when none is seen).
    The commonest, not the smallest: continuation lines aligned under a bracket step by any
    width."""
    if any(x.startswith("\t") for x in lines):
        return "\t"
    widths = [indent_width(x) for x in lines if x.strip()]
    steps = Counter(b - a for a, b in itertools.pairwise(widths) if b > a)
    return " " * (steps.most_common(1)[0][0] if steps else 4)


def after_accept(cur: Cursor, text: str, replaces_rest: bool, language: str) -> Cursor | None:
    """The cursor after the user accepts ``text`` at ``cur`` and presses Enter: on a new
    line below, indented as editors indent it (as the last accepted line; a level deeper
    after a line that opens a block; a level less after a Python ``return``, ``raise``,
    ``pass``, ``break`` or ``continue``). None when code would stay right of the cursor
    (Enter would split the line) or the suggestion is empty.

    Why: the speculative completion asks for that line while the user reads the shown one,
    so the request after Enter finds its answer in the cache (docs/COMPLETION.md)."""
    rest = "" if replaces_rest else cur.line_suffix
    if not text.strip() or rest.strip():
        return None
    lines = (cur.line_prefix + text + rest).split("\n")
    last = lines[-1].rstrip()
    indent = last[: indent_width(last)]
    unit = indent_unit(cur.before[-64:] + tuple(lines))
    if opens_block(last):
        indent += unit
    elif language == "python" and _ENDS_BLOCK.match(last) and indent.endswith(unit):
        indent = indent[: -len(unit)]
    return Cursor(cur.line + len(lines), indent, "", cur.before + tuple(lines), cur.after)


_DEFINITION = re.compile(
    r"^\s*(?:(?:async\s+)?def|class|(?:export\s+)?(?:async\s+)?function|func|fn|pub\s+fn|sub)\b"
)
_CLOSING_LINE = re.compile(r"^\s*(?:[)\]}]+[;,]?|end)\s*$")


def definition_end(cur: Cursor, within: int | None = None) -> int | None:
    """How many lines below the cursor finish the definition it is in: up to the first
    non-blank line at or left of its header's indentation (the next ``def``), a closing
    brace or ``end`` included. None outside a definition or when it runs to the file's end
    (or past ``within`` lines: a caller that can use no more need not scan a long file).

    Why: the suffix's value is showing where the body ends (with ~6 lines the model took the
    cut for the end); code past it cost prefill on every request and, on the development
    set, exact matches too (docs/COMPLETION.md, "The suffix stops at the definition's end").
    Python's next header is left out: shown, the model wrote it as the completion.
    """
    width = cur.depth
    header = None
    for above in reversed(cur.before):
        if not above.strip():
            continue
        indent = indent_width(above)
        if indent < width:
            if _DEFINITION.match(above):
                header = indent
                break
            if indent == 0:
                return None
            width = indent
    if header is None:
        return None
    for n, below in enumerate(cur.after[:within]):
        if below.strip() and indent_width(below) <= header:
            return n + 1 if _CLOSING_LINE.match(below) else n
    return None


@dataclass(frozen=True)
class Chunk:
    """A piece of another file given as context (llama.vim's ring of chunks)."""

    path: str
    text: str


@dataclass(frozen=True)
class FimPrompt:
    prefix: str
    suffix: str
    path: str = ""
    repo: str = ""
    chunks: tuple[Chunk, ...] = ()
    healed: str = ""  # whitespace cut off the end of the prefix (the answer must add it)
    first_line: int = 0  # the document line the prefix window starts at
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def uses_repo_format(self) -> bool:
        """Only when other files' chunks are given: a repository header around a lone file
        makes Qwen2.5-Coder end the function early ("return ..." instead of the masked
        line; docs/COMPLETION.md, Measured), so a single file gets the plain FIM form."""
        return bool(self.chunks)

    def text(self, tokens: tuple[str, str, str] = QWEN_FIM) -> str:
        """The prompt as plain text (for endpoints that take a string; Qwen's markers)."""
        head = ""
        if self.uses_repo_format:
            head = f"<|repo_name|>{self.repo}\n"
            for chunk in self.chunks:
                head += f"<|file_sep|>{chunk.path}\n{chunk.text}\n"
            head += f"<|file_sep|>{self.path}\n"
        pre, suf, mid = tokens
        return f"{head}{pre}{self.prefix}{suf}{self.suffix}{mid}"


def _window_start(lines: Sequence[str], end: int, budget: int, count: TokenCount) -> int:
    """The first line of a window that ends before line ``end`` and fits ``budget``,
    moved forward to an anchor line unless the window reaches the file's start."""
    used = 0
    start = end
    while start > 0:
        cost = count(lines[start - 1] + "\n")
        if used + cost > budget:
            break
        used += cost
        start -= 1
    if start == 0:
        return 0
    anchored = -(-start // ANCHOR_LINES) * ANCHOR_LINES
    return min(anchored, end)


def build_prompt(
    cur: Cursor,
    *,
    prefix_tokens: int,
    suffix_tokens: int,
    path: str = "",
    repo: str = "",
    chunks: Sequence[Chunk] = (),
    chunk_tokens: int = 0,
    heal: bool = True,
    count: TokenCount = approx_tokens,
    definition_suffix: bool = False,
) -> FimPrompt:
    """The FIM prompt for a cursor: the prefix window (anchored, within ``prefix_tokens``),
    the suffix (the rest of the line, then following lines within ``suffix_tokens``; with
    ``definition_suffix`` no further than the end of the definition around the cursor) and
    as many chunks of other files as fit ``chunk_tokens`` (most recent kept).

    ``heal``: trailing spaces of the cursor's line are left out of the prompt (a prefix that
    ends in indentation is unlike anything the model saw in training: code tokenizes as
    "   " + " return"); the completion then starts with them and ``postprocess`` removes
    them again.
    """
    budget = max(0, prefix_tokens - count(cur.line_prefix))
    start = _window_start(cur.before, len(cur.before), budget, count)
    head = "".join(x + "\n" for x in cur.before[start:])
    line_prefix = cur.line_prefix
    healed = ""
    if heal:
        trimmed = line_prefix.rstrip(" \t")
        healed = line_prefix[len(trimmed) :]
        line_prefix = trimmed
    included: list[str] = []
    used = count(cur.line_suffix)
    after = cur.after
    if definition_suffix:
        end = definition_end(cur, within=suffix_tokens)  # every line costs a token or more
        if end is not None:
            after = after[:end]
    for line in after:
        cost = count(line + "\n")
        if used + cost > suffix_tokens:
            break
        included.append(line)
        used += cost
    suffix = cur.line_suffix + "".join("\n" + line for line in included)
    if included and len(included) < len(cur.after):
        suffix += "\n"
    picked: list[Chunk] = []
    spent = 0
    for chunk in reversed(chunks):
        cost = count(chunk.text) + count(chunk.path) + 2
        if spent + cost > chunk_tokens:
            break
        picked.append(chunk)
        spent += cost
    return FimPrompt(
        prefix=head + line_prefix,
        suffix=suffix,
        path=path,
        repo=repo,
        chunks=tuple(reversed(picked)),
        healed=healed,
        first_line=start,
        extra={"chunk_tokens": spent, "suffix_tokens": used},
    )


def file_prompt(
    lines: Sequence[str],
    *,
    prefix_tokens: int,
    path: str = "",
    repo: str = "",
    chunks: Sequence[Chunk] = (),
    chunk_tokens: int = 0,
    count: TokenCount = approx_tokens,
) -> FimPrompt:
    """What to prefill when a file opens and the cursor is unknown: the file from its top,
    as much as ``prefix_tokens`` holds, as the prefix. A later prompt whose window starts
    at line 0 shares these tokens up to its cursor; the llama.cpp backend moves any other
    window out of them (``window_reuse``; the suffix is evaluated)."""
    used = 0
    end = 0
    while end < len(lines):
        cost = count(lines[end] + "\n")
        if used + cost > prefix_tokens:
            break
        used += cost
        end += 1
    cur = Cursor(line=end, line_prefix="", line_suffix="", before=tuple(lines[:end]))
    return build_prompt(
        cur,
        prefix_tokens=prefix_tokens + 1,
        suffix_tokens=0,
        path=path,
        repo=repo,
        chunks=chunks,
        chunk_tokens=chunk_tokens,
        heal=False,
        count=count,
    )
