"""What an action acts on: whole lines of the document.

A selection is widened to whole lines (an edit that replaces whole lines needs no column
arithmetic and keeps the indentation right). An empty selection means the innermost
function or class around the cursor (Python: from its syntax tree; other languages: from
indentation and braces), else the cursor's line.
"""

from __future__ import annotations

import ast
import hashlib
import textwrap
from dataclasses import dataclass
from pathlib import PurePosixPath

PYTHON = "python"


@dataclass(frozen=True)
class Target:
    start: int  # first line, 0-based
    end: int  # one past the last line
    text: str  # the lines, each ending with a newline
    indent: str  # indentation of the first non-blank line
    what: str  # "selection" | "function" | "class" | "block" | "line"
    name: str = ""  # the function or class name, when known

    @property
    def digest(self) -> str:
        return digest(self.text)

    def label(self) -> str:
        """For titles and episode text: ``function parse_csv``, ``lines 3-7``."""
        if self.name:
            return f"{self.what} {self.name}"
        return (
            f"line {self.start + 1}"
            if self.end - self.start == 1
            else (f"lines {self.start + 1}-{self.end}")
        )


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def split_lines(text: str) -> list[str]:
    """Lines with their endings; a missing final newline is added to the last line."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    return lines


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def lines_target(lines: list[str], start: int, end: int, what: str, name: str = "") -> Target:
    start = max(0, min(start, len(lines)))
    end = max(start, min(end, len(lines)))
    chunk = lines[start:end]
    first = next((x for x in chunk if x.strip()), "")
    return Target(start, end, "".join(chunk), indent_of(first), what, name)


@dataclass(frozen=True)
class Scope:
    """A Python function or class: its lines (decorators included), kind and name."""

    first: int  # 0-based
    end: int  # one past the last line
    what: str  # "function" | "class"
    name: str


def python_scopes(text: str) -> list[Scope] | None:
    """Every function and class of a module, outermost first; None when it does not
    parse. The server caches this per document version: parsing a 3,500-line module takes
    tens of milliseconds, and editors ask for code actions on every cursor move."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            what = "class" if isinstance(node, ast.ClassDef) else "function"
            out.append(Scope(first_line(node), node.end_lineno or node.lineno, what, node.name))
    return out


def find_target(
    text: str,
    language: str,
    start_line: int,
    start_char: int,
    end_line: int,
    end_char: int,
    scopes: list[Scope] | None = None,
) -> Target | None:
    """The lines an action on this range acts on; None for an empty or blank document.
    ``scopes``: :func:`python_scopes` of ``text`` when the caller has them."""
    lines = split_lines(text)
    if not lines:
        return None
    start_line = max(0, min(start_line, len(lines) - 1))
    end_line = max(start_line, min(end_line, len(lines)))
    if (end_line, end_char) != (start_line, start_char):  # a selection
        last = end_line if end_char > 0 or end_line == start_line else end_line - 1
        target = lines_target(lines, start_line, max(last, start_line) + 1, "selection")
        names = defined_names(target.text) if language == PYTHON else []
        if len(names) == 1 and target.text.lstrip().startswith(("def ", "async def ", "class ")):
            target = lines_target(lines, target.start, target.end, names[0][1], names[0][0])
        return target if target.text.strip() else None
    found = None
    if language == PYTHON:
        scopes = scopes if scopes is not None else python_scopes(text)
        inside = [s for s in scopes or [] if s.first <= start_line < s.end]
        if inside:
            best = max(inside, key=lambda s: s.first)  # the innermost
            found = lines_target(lines, best.first, best.end, best.what, best.name)
    if found is None:
        found = _indented_block(lines, start_line)
    return found if found is not None and found.text.strip() else None


def first_line(node: ast.AST) -> int:
    """0-based first line of a definition, its decorators included."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]) - 1  # type: ignore[attr-defined]


def _indented_block(lines: list[str], line: int) -> Target:
    """The block whose header is the cursor's line or the nearest less-indented line
    above it: the header plus every following line indented deeper (and a closing brace
    line at the header's indentation)."""
    if not lines[line].strip():
        return lines_target(lines, line, line + 1, "line")
    header = line
    depth = len(indent_of(lines[line]))
    nxt = next((i for i in range(line + 1, len(lines)) if lines[i].strip()), None)
    if nxt is None or len(indent_of(lines[nxt])) <= depth:  # not a header: look up
        for i in range(line - 1, -1, -1):
            if lines[i].strip() and len(indent_of(lines[i])) < depth:
                header = i
                break
        else:
            return lines_target(lines, line, line + 1, "line")
    base = len(indent_of(lines[header]))
    end = header + 1
    for i in range(header + 1, len(lines)):
        if not lines[i].strip():
            continue
        width = len(indent_of(lines[i]))
        if width > base:
            end = i + 1
            continue
        if width == base and lines[i].strip()[0] in ")]}":  # the block's closing brace
            end = i + 1
        break
    return lines_target(lines, header, end, "block")


def defined_names(code: str) -> list[tuple[str, str]]:
    """Top-level ``(name, "function"|"class")`` defined by a piece of Python (dedented);
    [] when it does not parse."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((node.name, "function"))
        elif isinstance(node, ast.ClassDef):
            out.append((node.name, "class"))
    return out


def importable_names(text: str, target: Target) -> list[str]:
    """The module-level names a test of ``target`` imports: the functions and classes of
    the module that overlap the target's lines (a method's class), public ones first."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return [name for name, _ in defined_names(target.text)]
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first, last = first_line(node), (node.end_lineno or node.lineno) - 1
            if first < target.end and last >= target.start:
                out.append(node.name)
    return out


def module_name(path: str, root: str | None) -> str:
    """``src/pkg/mod.py`` under the root -> ``pkg.mod``; a file outside the root -> its stem."""
    p = PurePosixPath(path)
    if root:
        try:
            p = p.relative_to(PurePosixPath(root))
        except ValueError:
            p = PurePosixPath(p.name)
    else:
        p = PurePosixPath(p.name)
    parts = list(p.with_suffix("").parts)
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1] or [PurePosixPath(path).parent.name]
    return ".".join(parts)


def file_for_tests(path: str, language: str) -> str:
    """``test_<module>.py`` for Python; ``<stem>.test<ext>`` for JavaScript/TypeScript;
    ``<stem>_test<ext>`` elsewhere (Go's convention)."""
    p = PurePosixPath(path)
    stem = p.stem if p.stem != "__init__" else p.parent.name
    if language == PYTHON or p.suffix == ".py":
        return f"test_{stem}.py"
    if p.suffix in (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs"):
        return f"{stem}.test{p.suffix}"
    return f"{stem}_test{p.suffix}"


def path_prelude(levels: int, sub: str = "") -> str:
    """First lines of a new Python test file that make the project importable when pytest
    would not (no conftest.py at the root, no package ``tests/``): the folder ``levels``
    above the test file, plus ``sub`` (``src`` layouts)."""
    where = f"Path(__file__).resolve().parents[{levels}]" + (f' / "{sub}"' if sub else "")
    return (
        "import sys\nfrom pathlib import Path\n\n"
        f"sys.path.insert(0, str({where}))  # the code under test\n\n"
    )
