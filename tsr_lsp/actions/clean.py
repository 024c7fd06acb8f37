"""The model's answer -> code: fences and chat text stripped, indentation fitted.

A small Instruct model answers like a chat: "Here is the refactored code:", a fenced block
(sometimes cut off by the token limit), then "This version uses ...". Only the code may
reach the document, at the selection's indentation.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable

from tsr_lsp.actions.target import PYTHON

_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*$", re.M)
_SPECIAL = re.compile(r"<\|(?:im_end|im_start|endoftext|end|eot_id|assistant)\|>")
# a line of chat around code: a sentence, not a statement
_PROSE = re.compile(
    r"^(?:sure|certainly|of course|here|this|the|note|in this|i |i'|explanation|above|below|"
    r"changes?|output|example|hope)\b[^=(){}\[\];]*[.:!]?$",
    re.I,
)
_LANG_ALIASES = {
    "python": {"python", "py", "python3"},
    "javascript": {"javascript", "js", "jsx"},
    "typescript": {"typescript", "ts", "tsx"},
    "shellscript": {"sh", "bash", "shell", "zsh"},
}


def _blocks(answer: str) -> list[tuple[str, str, bool]]:
    """``(language tag, code, closed)`` of each fenced block, in order; an unclosed last
    fence (the token limit, or a stream still running) runs to the end of the answer. A
    closing fence counts once its line has ended."""
    out: list[tuple[str, str, bool]] = []
    fences = list(_FENCE.finditer(answer))
    i = 0
    while i < len(fences):
        opener = fences[i]
        close = next(
            (f for f in fences[i + 1 :] if f.group(1)[0] == opener.group(1)[0] and not f.group(2)),
            None,
        )
        body_start = opener.end() + 1
        if close is None:
            out.append((opener.group(2).lower(), answer[body_start:], False))
            break
        done = close.end() < len(answer)
        out.append((opener.group(2).lower(), answer[body_start : close.start()], done))
        i = fences.index(close) + 1
    return out


def fenced_blocks(answer: str) -> list[tuple[str, str]]:
    """``(language tag, code)`` of each fenced block, in order; an unclosed last fence (the
    token limit) runs to the end of the answer."""
    return [(tag, code) for tag, code, _ in _blocks(answer)]


def _fits(tag: str, language: str) -> bool:
    return not tag or tag in _LANG_ALIASES.get(language, {language})


def code_block_written(partial: str, language: str) -> bool:
    """Has a streaming answer closed the block ``extract_code`` takes (no ``prefer``): the
    first one in the document's language, or untagged? A fix or refactor uses that block
    only, not the sentences after it, so the generation can stop there."""
    blocks = _blocks(_plain(partial))
    return next((done for tag, _, done in blocks if _fits(tag, language)), False)


def _plain(answer: str) -> str:
    """The answer without chat-template tokens, with ``\\n`` line ends."""
    return _SPECIAL.sub("", answer).replace("\r\n", "\n")


def extract_code(
    answer: str,
    language: str,
    prefer: Callable[[str], bool] | None = None,
) -> str:
    """The code of an answer ('' when there is none): the first fenced block in the
    document's language (or untagged) that ``prefer`` accepts, else the first such block,
    else the answer without its chat lines."""
    answer = _plain(answer)
    blocks = fenced_blocks(answer)
    if blocks:
        fitting = [code for tag, code in blocks if _fits(tag, language)] or [
            code for _, code in blocks
        ]
        chosen = next((c for c in fitting if prefer is None or prefer(c)), fitting[0])
        return _trim_blank(chosen)
    return _trim_blank(_strip_prose(answer, language))


def _trim_blank(code: str) -> str:
    lines = code.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)


def _strip_prose(answer: str, language: str) -> str:
    """Drop chat lines before and after the code. For Python, also drop leading/trailing
    lines until the rest parses (at most a few)."""
    lines = answer.split("\n")
    while lines and (not lines[0].strip() or _PROSE.match(lines[0].strip())):
        lines.pop(0)
    while lines and (not lines[-1].strip() or _PROSE.match(lines[-1].strip())):
        lines.pop()
    if language == PYTHON and lines and python_error("\n".join(lines)):
        for cut_head in range(0, min(4, len(lines))):
            for cut_tail in range(0, min(4, len(lines) - cut_head)):
                part = lines[cut_head : len(lines) - cut_tail]
                if part and not python_error("\n".join(part)):
                    return "\n".join(part)
    return "\n".join(lines)


def python_error(code: str) -> str:
    """'' when ``code`` (dedented) parses as Python, else ``line N: message``."""
    try:
        ast.parse(textwrap.dedent(code))
    except SyntaxError as exc:
        return f"line {exc.lineno or 0}: {exc.msg}"
    except ValueError as exc:  # null bytes
        return str(exc)
    return ""


def reindent(code: str, indent: str) -> str:
    """``code`` dedented, then every non-blank line prefixed with ``indent``; ends with a
    newline (it replaces whole lines)."""
    body = textwrap.dedent(code.expandtabs(4) if "\t" in code and " " in indent else code)
    out = [(indent + line if line.strip() else "") for line in body.split("\n")]
    return "\n".join(out).rstrip("\n") + "\n"
