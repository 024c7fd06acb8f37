"""The one check every quick fix passes before the editor sees it.

A fix is offered only when, applied to the source,

1. it leaves no remains of a half-typed closer as text after the closer it writes, and
   the fixed template still parses with Jinja2 (the same extensions the linter knows, the
   configured custom tags), or the parse error left is one the user already sees: a
   problem the linter still reports on that line, or the very error Jinja2 raised before;
2. the diagnostic it fixes is gone, with its siblings (every use of one undefined name; the
   opener, guessed end and mismatched closer of one unclosed block), and no other
   diagnostic appears or changes (same code, severity and message at the same place,
   shifted by the edit). Others may vanish when the fix makes them moot: the cascade of
   a lost closer, the "unused" report of the name a typo hid, a macro that an unclosed
   block swallowed.

Pure apart from re-linting the fixed text (the template index is only read).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tsr_lsp.jinja_lint.api import lint_text
from tsr_lsp.jinja_lint.fixes import Edit, Fix, fixes_for
from tsr_lsp.jinja_lint.model import Diagnostic, LineIndex, LintOptions

if TYPE_CHECKING:
    import jinja2

    from tsr_lsp.jinja_lint.api import LintResult
    from tsr_lsp.jinja_lint.index import TemplateIndex

_LINE_NO = re.compile(r"\bline \d+")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    after: LintResult | None = None  # the fixed template's lint, when it got that far


def apply_edits(source: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping ``(start, end, text)`` edits (offsets into ``source``)."""
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        source = source[:start] + text + source[end:]
    return source


@dataclass
class Checked:
    """The outcome for one fix title: the first candidate that passed, or why none did."""

    title: str
    fix: Fix | None
    reasons: list[str]
    after: LintResult | None = None  # the fixed template's lint


def verified_fixes(
    source: str,
    result: LintResult,
    d: Diagnostic,
    path: str | None = None,
    options: LintOptions | None = None,
    index: TemplateIndex | None = None,
) -> list[Fix]:
    """The fixes of ``d`` that pass :func:`check_fix` (what the editor is offered)."""
    return [c.fix for c in checked_fixes(source, result, d, path, options, index) if c.fix]


def checked_fixes(
    source: str,
    result: LintResult,
    d: Diagnostic,
    path: str | None = None,
    options: LintOptions | None = None,
    index: TemplateIndex | None = None,
) -> list[Checked]:
    """Every fix title of ``d`` with its verdict; of several candidates with one title
    (alternative repairs of one fault) the first that passes is kept."""
    out: dict[str, Checked] = {}
    for fix in fixes_for(source, d, result.lines):
        checked = out.setdefault(fix.title, Checked(fix.title, None, []))
        if checked.fix is not None:
            continue
        verdict = check_fix(source, result, d, fix, path, options, index)
        if verdict.ok:
            checked.fix, checked.after = fix, verdict.after
        else:
            checked.reasons.append(verdict.reason)
    return list(out.values())


def check_fix(
    source: str,
    result: LintResult,
    target: Diagnostic,
    fix: Fix,
    path: str | None = None,
    options: LintOptions | None = None,
    index: TemplateIndex | None = None,
) -> Verdict:
    if not fix.edits:  # creating a file changes no text; the index decides after it exists
        return Verdict(fix.create is not None, "" if fix.create else "no edit")
    options = options or LintOptions()
    fixed = apply_edits(source, fix.edits)
    leftover = _closer_remains(source, fix.edits)
    if leftover:
        return Verdict(False, f"the remains of the old closer would become text: {leftover!r}")
    after = lint_text(fixed, path, options, index)
    why = _diagnostics_changed(result.diagnostics, after.diagnostics, target, fix.edits)
    if why:
        return Verdict(False, why, after)
    err = parse_error(fixed, path, options)
    if err is None:
        return Verdict(True, "", after)
    line, message = err
    if any(after.lines.line_of(d.start) == line for d in after.diagnostics):
        return Verdict(True, "", after)  # blocked by a problem the user still sees there
    before = parse_error(source, path, options)
    if before is not None and before[1] == message and _map_line(before[0], source, fix) == line:
        return Verdict(True, "", after)
    return Verdict(False, f"the fixed template does not parse: line {line + 1}: {message}", after)


_REMAINS = {
    "}}": re.compile(r"[ \t]*-?\}"),
    "%}": re.compile(r"[ \t]*[-+]?[%}]"),
    "#}": re.compile(r"[ \t]*-?#"),
}


def _closer_remains(source: str, edits: list[Edit]) -> str:
    """What is left of a half-typed closer right after a closer the fix wrote: the bug
    of ``{{ name }`` -> ``{{ name }} }``, where Jinja2 sees text and the linter nothing."""
    for _, end, text in edits:
        closer = text[-2:]
        if closer in _REMAINS:
            m = _REMAINS[closer].match(source, end)
            if m is not None:
                return m.group(0)
    return ""


def _diagnostics_changed(
    before: list[Diagnostic], after: list[Diagnostic], target: Diagnostic, edits: list[Edit]
) -> str:
    """'' when every diagnostic of ``after`` was in ``before`` (not the target or its
    siblings) at the mapped place, else why not."""
    problem = _problem(target)
    left: list[tuple[tuple[str, str, str], set[int]]] = []
    for d in before:
        if d is target or (problem is not None and _problem(d) == problem):
            continue
        where = _mapped(d.start, edits)
        if where:
            left.append((_key(d), where))
    if any(_key(d) == _key(target) and d.start in _mapped(target.start, edits) for d in after):
        return f"{target.code} is still reported"
    for d in after:
        for i, (key, where) in enumerate(left):
            if key == _key(d) and d.start in where:
                del left[i]
                break
        else:
            return f"new diagnostic {d.code}: {d.message}"
    return ""  # what is left in ``left`` the fix made moot (a cascade of the same fault)


def _problem(d: Diagnostic) -> tuple[str, object] | None:
    """What a diagnostic is about, shared by the reports of one fault: every use of one
    undefined name, or the opener, guessed end and mismatched closer of one block."""
    if "opener" in d.data:
        return "block", d.data["opener"]
    if "name" in d.data:
        return d.code, d.data["name"]
    return None


def _key(d: Diagnostic) -> tuple[str, str, str]:
    return d.code, d.severity, _LINE_NO.sub("line N", d.message)


def _mapped(offset: int, edits: list[Edit]) -> set[int]:
    """Where ``offset`` lands after the edits: both sides of an insertion at it, nothing
    when the edit replaced it."""
    spots = {offset}
    for start, end, text in sorted(edits, reverse=True):
        delta = len(text) - (end - start)
        moved: set[int] = set()
        for o in spots:
            if o > end or (o == end and start < end):
                moved.add(o + delta)
            elif o < start:
                moved.add(o)
            elif start == end:  # an insertion exactly here: either side
                moved |= {o, o + delta}
        spots = moved
    return spots


def _map_line(line: int, source: str, fix: Fix) -> int:
    """A line of ``source`` as a line of the fixed text (lines before the edits stay)."""
    lines = LineIndex(source)
    spots = _mapped(lines.starts[min(line, lines.line_count - 1)], fix.edits)
    if not spots:
        return -1
    return LineIndex(apply_edits(source, fix.edits)).line_of(min(spots))


# ------------------------------------------------------------------ Jinja2 itself
def parse_error(
    source: str, path: str | None = None, options: LintOptions | None = None
) -> tuple[int, str] | None:
    """Jinja2's verdict: None when the template parses, else (0-based line, message).
    Templates in the JSON form are parsed from their "template"/"chat_template" string."""
    json_form = path is not None and path.endswith(".json")
    return _parse_error(source, json_form, tuple((options or LintOptions()).custom_tags))


@lru_cache(maxsize=8)  # the same fixed text is often checked twice in a row
def _parse_error(
    source: str, json_form: bool, custom_tags: tuple[str, ...]
) -> tuple[int, str] | None:
    import jinja2

    if json_form:
        try:
            data = json.loads(source)
        except json.JSONDecodeError as exc:
            return exc.lineno - 1, f"not valid JSON: {exc.msg}"
        body = next(
            (
                data[k]
                for k in ("template", "chat_template")
                if isinstance(data, dict) and isinstance(data.get(k), str)
            ),
            None,
        )
        if body is None:
            return 0, "no template string"
        source = body
    env = _environment(custom_tags)
    try:
        env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return max((exc.lineno or 1) - 1, 0), exc.message or "syntax error"
    return None


@lru_cache(maxsize=16)
def _environment(custom_tags: tuple[str, ...]) -> jinja2.Environment:
    """An environment with the extensions the linter knows (do, loop controls, i18n,
    debug, transformers' ``generation``) and the configured custom tags."""
    import jinja2
    from jinja2 import nodes
    from jinja2.ext import Extension

    pairs = {"generation": "endgeneration"}
    singles: set[str] = set()
    for entry in custom_tags:
        name, _, end = entry.partition("/")
        if end:
            pairs[name.strip()] = end.strip()
        else:
            singles.add(name.strip())

    class Custom(Extension):
        """Custom tags parse their arguments loosely and, for pairs, their body."""

        tags = set(pairs) | singles

        def parse(self, parser: Any) -> Any:
            tag = next(parser.stream)
            while parser.stream.current.type != "block_end":
                next(parser.stream)
            if tag.value in pairs:
                parser.parse_statements((f"name:{pairs[tag.value]}",), drop_needle=True)
            return nodes.Output([], lineno=tag.lineno)

    extensions: list[Any] = [
        "jinja2.ext.do",
        "jinja2.ext.loopcontrols",
        "jinja2.ext.i18n",
        "jinja2.ext.debug",
        Custom,
    ]
    return jinja2.Environment(extensions=extensions)
