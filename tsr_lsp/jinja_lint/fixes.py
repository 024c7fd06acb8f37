"""Quick fixes for diagnostics, as text edits on the source (offsets, ``end`` exclusive).

Pure: the server turns a :class:`Fix` into an LSP WorkspaceEdit, the CLI could apply it.
A fix may also ask for a file to be created (``create``: a template name); where to put
it is the caller's decision (it knows the search paths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tsr_lsp.jinja_lint.model import Diagnostic, LineIndex

Edit = tuple[int, int, str]

_VARIABLES_TABLE = re.compile(r"^[ \t]*\[variables\][ \t]*$", re.M)
_ANY_TABLE = re.compile(r"^[ \t]*\[[^\]]*\][ \t]*$", re.M)
_FRONT_END = re.compile(r"^[ \t]*---[ \t]*-?#\}", re.M)


@dataclass
class Fix:
    title: str
    edits: list[Edit] = field(default_factory=list)
    preferred: bool = False
    create: str | None = None  # a template name to create (relative, as written)


def fixes_for(source: str, d: Diagnostic, lines: LineIndex | None = None) -> list[Fix]:
    lines = lines or LineIndex(source)
    data = d.data
    out: list[Fix] = []
    code = d.code
    for i, hint in enumerate(data.get("suggestions") or []):
        span = (d.start, d.start + len(str(data.get("name", ""))))
        if source[span[0] : span[1]] == data.get("name"):
            out.append(Fix(f"Change to '{hint}'", [(span[0], span[1], hint)], preferred=i == 0))
    if code == "JL010" and data.get("declare"):
        fix = declare_variable(source, str(data["name"]))
        if fix is not None:
            out.append(fix)
    elif code in ("JL003", "JL004") and data.get("end_tag") and "insert_at" in data:
        out.append(_close_block(source, d, lines))
    elif code == "JL002" and data.get("closer"):
        out.extend(_add_closer(source, d, lines))
    elif code == "JL005" and data.get("remove"):
        start, end = data["remove"]
        out.append(Fix("Remove this tag", [_line_aware_delete(source, lines, start, end)]))
    elif code == "JL011":
        out.append(
            Fix(f"Remove the declaration of '{data['name']}'", [_delete_line(lines, d.start)])
        )
    elif code in ("JL012", "JL014"):
        found = _enclosing_tag(source, d.start)
        if found is not None and _single_target(source[found[0] : found[1]]):
            what = "assignment" if code == "JL012" else "import"
            edit = _line_aware_delete(source, lines, *found)
            out.append(Fix(f"Remove the unused {what} of '{data['name']}'", [edit]))
    elif code == "JL013":
        macro = _macro_span(source, d.start)
        if macro is not None:
            out.append(
                Fix(
                    f"Remove the unused macro '{data['name']}'",
                    [_line_aware_delete(source, lines, *macro)],
                )
            )
    elif code == "JL040" and data.get("name"):
        out.append(Fix(f"Create template '{data['name']}'", [], create=str(data["name"])))
    return out


def declare_variable(source: str, name: str, vtype: str = "str") -> Fix | None:
    """Add ``name = "str"`` to the front matter's [variables] table (creating it)."""
    from tsr_lsp.jinja_lint.context import FRONT_OPEN

    if not FRONT_OPEN.match(source):
        return None
    end = _FRONT_END.search(source)
    if end is None:
        return None
    front = source[: end.start()]
    table = _VARIABLES_TABLE.search(front)
    line = f'{name} = "{vtype}"\n'
    if table is None:
        return Fix(
            f"Declare '{name}' in the front matter",
            [(end.start(), end.start(), "[variables]\n" + line)],
            True,
        )
    nxt = _ANY_TABLE.search(front, table.end())
    at = nxt.start() if nxt else end.start()
    # after the table's last non-blank line
    while at > table.end() and source[at - 1] == "\n" and source[at - 2 : at] == "\n\n":
        at -= 1
    return Fix(f"Declare '{name}' in the front matter", [(at, at, line)], True)


def _close_block(source: str, d: Diagnostic, lines: LineIndex) -> Fix:
    at = int(d.data["insert_at"])
    tag = _end_tag_like(source, d.data.get("opener"), str(d.data["end_tag"]))
    line = lines.line_of(at)
    at_line_start = lines.starts[line] == at and at < len(source)
    if at_line_start or (at == len(source) and source.endswith("\n")):
        text = f"{d.data.get('indent', '')}{tag}\n"
    elif at == len(source):
        text = f"\n{tag}"
    else:
        text = tag
    label = str(d.data["end_tag"])[3:] or "block"
    return Fix(
        f"Close the '{label}' block with {tag}", [(at, at, text)], preferred=d.severity != "info"
    )


# what is left of a half-typed closer where it belongs: "}" of "}}", "%" of "%}", "#" of "#}"
_FRAGMENT = {"}}": r"(-?)\}(?!\})", "%}": r"([-+]?)[%}](?!\})", "#}": r"(-?)#(?!\})"}


def _add_closer(source: str, d: Diagnostic, lines: LineIndex) -> list[Fix]:
    """Candidates, best first (the fix check keeps the first that passes): complete what
    is left of a half-typed closer (the linter's ``half_closer``, else one just after or
    just before where the closer belongs, or at the end of the opener's line:
    ``{{ name }`` -> ``{{ name }}``, ``{% else %`` -> ``{% else %}``); else insert it."""
    closer = str(d.data["closer"])
    line_end = lines.line_end(lines.line_of(d.start))
    inner = d.start + 2
    # an unclosed comment has no insert_at: the end of its first line
    at = int(d.data.get("insert_at", len(source[:line_end].rstrip(" \t"))))
    fragment = _FRAGMENT[closer]
    title = f"Add the missing '{closer}'"
    spans: list[tuple[int, int]] = []
    if "half_closer" in d.data:
        spans.append(tuple(d.data["half_closer"]))
    after = re.compile(r"[ \t]*" + fragment).match(source, at, line_end)
    if after is not None:
        spans.append((after.start(1), after.end()))
    before = re.compile(fragment + r"[ \t]*\Z").search(source, inner, max(at, inner))
    if before is not None:
        spans.append((before.start(), before.end(1) + 1))
    last = re.compile(fragment + r"[ \t]*\Z").search(source, max(at, inner), line_end)
    if last is not None:
        spans.append((last.start(), last.end(1) + 1))
    out = [Fix(title, [(a, b, _complete(source[a:b], closer))], True) for a, b in spans]
    gap = at + 1 if at < line_end and source[at] in " \t" else at  # '{{ x </p>': after the space
    space = "" if gap > 0 and source[gap - 1] in " \t" else " "
    out.append(Fix(title, [(gap, gap, space + closer)], True))
    return out


def _complete(fragment: str, closer: str) -> str:
    """``-}`` -> ``-}}``, ``%`` -> ``%}``, ``}`` (of ``%}``) -> ``%}``, ``#`` -> ``#}``:
    the author's whitespace control and spacing stay."""
    if fragment.endswith(closer[0]):
        return fragment + closer[1:]
    return fragment[:-1] + closer


def _end_tag_like(source: str, opener: int | None, end_tag: str) -> str:
    """``{% endfor %}`` with the opener's whitespace control mirrored, as authors write
    pairs: the inner side strips alike (``{% macro m() -%}`` -> ``{%- endmacro %}``),
    and so does the outer side."""
    inner = outer = ""
    if opener is not None and source.startswith("{%", opener):
        mark = source[opener + 2 : opener + 3]
        outer = mark if mark and mark in "-+" else ""
        close = source.find("%}", opener)
        if close > 0 and source[close - 1] in "-+" and "\n" not in source[opener:close]:
            inner = source[close - 1]
    return "{%" + inner + " " + end_tag + " " + outer + "%}"


def _delete_line(lines: LineIndex, offset: int) -> Edit:
    line = lines.line_of(offset)
    end = lines.starts[line + 1] if line + 1 < lines.line_count else len(lines.text)
    return (lines.starts[line], end, "")


def _line_aware_delete(source: str, lines: LineIndex, start: int, end: int) -> Edit:
    """Delete a span; when it is alone on its line(s), delete those lines too."""
    line_start = lines.starts[lines.line_of(start)]
    last = lines.line_of(max(start, end - 1))
    line_end = lines.line_end(last)
    if not source[line_start:start].strip() and not source[end:line_end].strip():
        nxt = lines.starts[last + 1] if last + 1 < lines.line_count else len(source)
        return (line_start, nxt, "")
    return (start, end, "")


def _enclosing_tag(source: str, offset: int) -> tuple[int, int] | None:
    start = source.rfind("{%", 0, offset + 1)
    if start == -1:
        return None
    end = source.find("%}", offset)
    return (start, end + 2) if end != -1 else None


def _single_target(tag_text: str) -> bool:
    """A ``set x = ...``, ``import ... as x`` or ``from ... import x`` with one name."""
    inner = tag_text.strip("{%-+ }")
    if inner.startswith("set "):
        head = inner[4:].split("=", 1)[0]
        return "," not in head and "=" in inner
    if inner.startswith("import "):
        return True
    if inner.startswith("from "):
        names = inner.split(" import ", 1)[-1]
        names = re.sub(r"\s+with(out)?\s+context\s*$", "", names)
        return "," not in names
    return False


def _macro_span(source: str, offset: int) -> tuple[int, int] | None:
    start = source.rfind("{%", 0, offset + 1)
    if start == -1:
        return None
    depth = 0
    for m in re.finditer(r"\{%[-+]?\s*(macro|endmacro)\b[^%]*%\}", source[start:]):
        depth += 1 if m.group(1) == "macro" else -1
        if depth == 0:
            return start, start + m.end()
    return None
