"""From the model's answer to the edit an action applies, or a clear reason not to.

Every edit replaces whole lines. For Python the result is parsed before it is offered: a
refactor, fix or docstring that would leave the file unparseable (when it parsed before)
is reported, never applied.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass

from tsr_lsp.actions.clean import extract_code, python_error, reindent
from tsr_lsp.actions.target import PYTHON, Target, first_line, indent_of, split_lines


class PlanError(ValueError):
    """Why the answer cannot become an edit; the message is for the user."""


@dataclass(frozen=True)
class LineEdit:
    start: int  # replace lines [start, end) of the document (start == end: insert)
    end: int
    text: str  # whole lines, each ending with a newline


def apply_line_edits(text: str, edits: list[LineEdit]) -> str:
    lines = split_lines(text)
    for e in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        lines[e.start : e.end] = split_lines(e.text)
    return "".join(lines)


def _check_python(before: str, after: str, what: str) -> None:
    if python_error(before):
        return  # it did not parse before either: nothing to protect
    err = python_error(after)
    if err:
        raise PlanError(f"the {what} does not parse as Python ({err}); nothing was changed")


# ---------------------------------------------------------------------- fix, refactor
def plan_replace(doc: str, target: Target, answer: str, language: str, what: str) -> LineEdit:
    """The target's lines replaced by the answer's code (``what``: "fix" / "refactor").
    For a Python function or class, only the definition of that name is taken from the
    answer (models add usage examples after it)."""
    code = extract_code(answer, language)
    if not code.strip():
        raise PlanError(f"the model's answer held no code for the {what}; nothing was changed")
    if language == PYTHON and target.name:
        code = _definition(code, target.name) or code
    new = reindent(code, target.indent)
    if new == target.text:
        raise PlanError(f"the model suggested no change for the {what}")
    edit = LineEdit(target.start, target.end, new)
    if language == PYTHON:
        done = {"fix": "fixed code", "refactor": "refactored code"}.get(what, what)
        _check_python(doc, apply_line_edits(doc, [edit]), done)
    return edit


def _definition(code: str, name: str) -> str | None:
    """The source of the top-level def/class ``name`` (with decorators) in ``code``."""
    code = textwrap.dedent(code)
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    lines = code.split("\n")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
            node.name == name
        ):
            return "\n".join(lines[first_line(node) : node.end_lineno or node.lineno])
    return None


# ---------------------------------------------------------------------- docstring
def plan_docstring(
    doc: str, target: Target, answer: str, language: str, summary: bool = False
) -> LineEdit:
    """Insert (or replace) the target's docstring with the one the answer wrote (with
    ``summary``, its first sentence: the one-line summary the prompt asks for); the code
    itself is never touched."""
    if language != PYTHON:
        return _comment_docstring(target, answer, language, summary)
    if summary:
        opened = _opened_docstring(answer, target.name)
        text = summary_sentence(opened[0]) if opened else ""
        text = text or summary_sentence(answer_docstring(answer, target.name))
    else:
        text = answer_docstring(answer, target.name)
    if not text:
        raise PlanError("the model's answer held no docstring; nothing was changed")
    node = _node_at(doc, target)
    if node is None:
        raise PlanError("put the cursor in a function or class to add a docstring")
    lines = split_lines(doc)
    first = node.body[0]
    if first.lineno == node.lineno:
        raise PlanError(f"'{node.name}' is written on one line: no room for a docstring")
    indent = indent_of(lines[first.lineno - 1])
    new = format_docstring(text, indent)
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        edit = LineEdit(first.lineno - 1, first.end_lineno or first.lineno, new)
    else:
        edit = LineEdit(first.lineno - 1, first.lineno - 1, new)
    _check_python(doc, apply_line_edits(doc, [edit]), "docstring")
    return edit


def _node_at(
    doc: str, target: Target
) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | None:
    try:
        tree = ast.parse(doc)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and target.start < node.lineno <= target.end
            and (not target.name or node.name == target.name)
        ):
            return node
    return None


_TRIPLE = re.compile(r'("""|\'\'\')(.*?)(\1|$)', re.S)


def answer_docstring(answer: str, name: str = "") -> str:
    """The docstring the model wrote: that of the def/class ``name`` (or the first one) in
    its code, else the first triple-quoted string, else ''."""
    code = extract_code(answer, PYTHON)
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        tree = None
    if tree is not None:
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        defs.sort(key=lambda n: n.name != name)
        for node in defs:
            found = ast.get_docstring(node)
            if found:
                return found.strip()
        module_doc = ast.get_docstring(tree)
        if module_doc:
            return module_doc.strip()
    m = _TRIPLE.search(answer)
    return inspect.cleandoc(m.group(2)).strip() if m and m.group(2).strip() else ""


# the end of a docstring's first sentence (not "e.g. "), or of its first paragraph
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)[.!?](?=\s)|\n[ \t]*\n")
# a signature's end, then blank or comment lines, then the quotes that open a docstring
_SIGNATURE_END = re.compile(r":[ \t]*(?:#[^\n]*)?\n")
_DOCSTRING_OPEN = re.compile(r'(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]*[rRuU]?("""|\'\'\')')


def summary_sentence(text: str) -> str:
    """A docstring's first sentence on one line (PEP 257's summary line); its first
    paragraph when no sentence ends in it."""
    text = text.strip()
    m = _SENTENCE_END.search(text)
    if m is not None:
        text = text[: m.start() + (m.group()[0] in ".!?")]
    return " ".join(text.split())


def _opened_docstring(answer: str, name: str = "") -> tuple[str, bool] | None:
    """The text of the docstring that opens the def/class ``name`` (the first one without a
    name) in the answer's code, up to its closing quotes or, still being written, to the
    end, and whether it is closed; None when that definition's first statement is no
    docstring (yet)."""
    code = extract_code(answer, PYTHON)
    who = re.escape(name) if name else r"\w+"
    at = re.search(rf"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+{who}\b", code, re.M)
    header = _SIGNATURE_END.search(code, at.end()) if at else None
    opened = _DOCSTRING_OPEN.match(code, header.end()) if header else None
    if opened is None:
        return None
    body = code[opened.end() :]
    closing = body.find(opened.group(1))
    return (body, False) if closing < 0 else (body[:closing], True)


def docstring_written(partial: str, language: str, name: str = "", summary: bool = False) -> bool:
    """Does a streaming answer already hold what ``plan_docstring`` takes? The model answers
    with the whole definition, but the edit uses only its docstring (or doc comment), so
    the generation can stop once that is complete: in Python the def/class ``name`` (the
    first one without a name) whose first statement is a closed docstring (with
    ``summary``, once its first sentence has ended); elsewhere a comment block followed by
    a line of code (or, with ``summary``, its first sentence)."""
    if language == PYTHON and summary:
        opened = _opened_docstring(partial, name)
        return opened is not None and (opened[1] or bool(_SENTENCE_END.search(opened[0].lstrip())))
    if language != PYTHON:
        block, ended = _comment_block(extract_code(partial, language))
        if summary and block and not ended:  # the first sentence has ended
            return bool(_SENTENCE_END.search(_comment_text(block)))
        return bool(block) and ended
    if partial.count('"""') + partial.count("'''") < 2:
        return False  # no docstring closed yet: skip the parse
    try:
        tree = ast.parse(textwrap.dedent(extract_code(partial, PYTHON)))
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
            not name or node.name == name
        ):
            return bool(ast.get_docstring(node))
    return False


def docstring_answer_start(code: str, language: str) -> str:
    """The start of a docstring answer that the model need not write: the code fence and
    the definition's header (decorators and signature, as ``code`` has them), up to its
    first statement. The model otherwise copies those tokens before it writes the
    docstring, the only part the edit takes; given them, it starts at the docstring. ""
    where the header cannot be told (other languages, code that does not parse, a
    one-line definition)."""
    if language != PYTHON:
        return ""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return ""
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return ""
    header = node.body[0].lineno - 1  # lines before the first statement
    if header < node.lineno:  # the body starts on the signature's line
        return ""
    lines = code.split("\n")[:header]
    return "```python\n" + "".join(line.rstrip() + "\n" for line in lines)


def format_docstring(text: str, indent: str) -> str:
    """PEP 257: one line when it fits, else summary, blank line, body, closing quotes."""
    text = text.replace('"""', r"\"\"\"")
    body = text.strip().split("\n")
    if len(body) == 1 and len(indent) + len(body[0]) + 6 <= 100:
        return f'{indent}"""{body[0]}"""\n'
    out = [f'{indent}"""{body[0]}']
    out += [(indent + line).rstrip() for line in body[1:]]
    out.append(f'{indent}"""')
    return "\n".join(out) + "\n"


_COMMENT = re.compile(r"^\s*(//|/\*|\*|#|--|;)")


def _comment_block(code: str) -> tuple[list[str], bool]:
    """The comment block ``code`` starts with (blank lines before it skipped), and whether
    a line came after it (so a streamed answer has written all of it)."""
    block: list[str] = []
    for line in code.split("\n"):
        if _COMMENT.match(line) or (block and line.strip() == "*/"):
            block.append(line.rstrip())
        elif block or line.strip():
            return block, True
    return block, False


# a comment line's markers: what is left is its text
_COMMENT_MARKS = re.compile(r"^\s*(?:/\*+|\*+/|\*|//+!?|#+|--+|;+)\s?|\s*\*+/\s*$")


def _comment_text(block: list[str]) -> str:
    return "\n".join(_COMMENT_MARKS.sub("", line) for line in block).strip()


def _summary_comment(block: list[str]) -> list[str]:
    """A doc comment's first sentence as one comment line in the block's own style."""
    text = summary_sentence(_comment_text(block))
    first = block[0].strip()
    if first.startswith("/*"):
        return [f"{'/**' if first.startswith('/**') else '/*'} {text} */"]
    mark = re.match(r"(//+!?|#+|--+|;+)", first)
    return [f"{mark.group(1) if mark else '//'} {text}"]


def _comment_docstring(
    target: Target, answer: str, language: str, summary: bool = False
) -> LineEdit:
    """Other languages: the comment block the answer put before the definition (with
    ``summary``, its first sentence on one line), inserted above the target at its
    indentation."""
    block, _ = _comment_block(extract_code(answer, language))
    if not block or not _comment_text(block):
        raise PlanError("the model's answer held no doc comment; nothing was changed")
    block = _summary_comment(block) if summary else block
    block = textwrap.dedent("\n".join(block)).split("\n")
    text = "".join(f"{target.indent}{line}\n" for line in block)
    return LineEdit(target.start, target.start, text)


# ---------------------------------------------------------------------- tests
@dataclass(frozen=True)
class TestsPlan:
    text: str  # the whole new file, or what to append at the end of the existing one
    append: bool  # True: the file exists and ``text`` goes at its end
    full: str  # the test file after the edit


def plan_tests(
    answer: str,
    language: str,
    module: str,
    names: list[str],
    existing: str | None,
    prelude: str = "",
) -> TestsPlan:
    """The tests of the answer as a test file: the code under test imported from its
    module (never a copy of it), test names kept apart from the file's existing ones.
    ``existing``: the test file's text when it exists. ``prelude``: lines put first in a
    new file (e.g. making the project importable)."""

    def has_tests(code: str) -> bool:
        return bool(re.search(r"^\s*(def test|class Test|it\(|test\(|func Test)", code, re.M))

    code = extract_code(answer, language, prefer=has_tests)
    if not has_tests(code):
        raise PlanError("the model's answer held no tests; nothing was changed")
    if language == PYTHON:
        code = _python_tests(code, module, names, existing or "")
    code = code.rstrip("\n") + "\n"
    if existing is None:
        plan = TestsPlan(prelude + code, False, prelude + code)
    else:
        trailing = len(existing) - len(existing.rstrip("\n"))
        sep = "\n" * max(0, 3 - trailing) if existing.strip() else ""  # two blank lines
        plan = TestsPlan(sep + code, True, existing + sep + code)
    if language == PYTHON:
        err = python_error(plan.full)
        if err:
            raise PlanError(f"the tests do not parse as Python ({err}); nothing was changed")
    return plan


def imports_answer_start(language: str, module: str, names: list[str]) -> str:
    """The start of a Python tests answer: the code fence, the imports the prompt asks for
    (pytest, the code under test from its module), which the model would otherwise write
    first, and ``def``, so it starts at its first test's name (given the imports alone,
    the 1.5B went on importing). "" elsewhere, or without a module to import from."""
    if language != PYTHON or not module:
        return ""
    imports = f"from {module} import {', '.join(names)}" if names else f"import {module}"
    return f"```python\nimport pytest\n{imports}\n\n\ndef"


def _python_tests(code: str, module: str, names: list[str], existing: str) -> str:
    code = _complete_tests(textwrap.dedent(code))
    err = python_error(code)
    if err:
        raise PlanError(f"the tests do not parse as Python ({err}); nothing was changed")
    tree = ast.parse(code)
    lines = code.split("\n")
    drop: set[int] = set()
    for node in tree.body:  # copies of the code under test: test the real module instead
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
            node.name in names
        ):
            drop.update(range(first_line(node), node.end_lineno or node.lineno))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module != module
            and node.level == 0
            and any(a.name in names for a in node.names)  # "from solution import f"
        ):
            drop.update(range(node.lineno - 1, node.end_lineno or node.lineno))
    kept = [line for i, line in enumerate(lines) if i not in drop]
    body = "\n".join(kept).strip("\n")
    head = []
    imported = re.search(
        rf"^\s*(from\s+{re.escape(module)}\s+import|import\s+{re.escape(module)}\b)", body, re.M
    )
    if module and not imported:
        head.append(f"from {module} import {', '.join(names)}" if names else f"import {module}")
    if re.search(r"\bpytest\.", body) and not re.search(r"^\s*import pytest\b", body, re.M):
        head.insert(0, "import pytest")
    if existing:
        head = [h for h in head if h not in existing.split("\n")]
        body = _rename_clashes(body, existing)
    return ("\n".join(head) + "\n\n\n" if head else "") + body


def _complete_tests(code: str) -> str:
    """Drop what the token limit cut off: trailing lines that keep the code from parsing,
    as long as a test remains (``assert f(2) ==`` at the end of the last test)."""
    lines = code.rstrip().split("\n")
    while len(lines) > 1 and python_error("\n".join(lines)):
        if not re.search(r"^\s*(def test|class Test)", "\n".join(lines[:-1]), re.M):
            break
        lines.pop()
    return "\n".join(lines) + "\n"


def _rename_clashes(body: str, existing: str) -> str:
    taken = set(re.findall(r"^\s*(?:async\s+)?def\s+(test\w*)", existing, re.M))

    def rename(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in taken:
            taken.add(name)
            return m.group(0)
        n = 2
        while f"{name}_{n}" in taken:
            n += 1
        taken.add(f"{name}_{n}")
        return f"{m.group(1)}{name}_{n}"

    return re.sub(r"^(\s*(?:async\s+)?def\s+)(test\w*)", rename, body, flags=re.M)
