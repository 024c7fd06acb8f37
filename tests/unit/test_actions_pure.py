"""AI code actions, the pure part (tsr_lsp/actions): targets, cleaning, edits, outcomes."""

from __future__ import annotations

from typing import Any

import pytest

from tsr_lsp.actions import catalog, document, outcome
from tsr_lsp.actions.clean import (
    code_block_written,
    extract_code,
    fenced_blocks,
    python_error,
    reindent,
)
from tsr_lsp.actions.edits import (
    PlanError,
    apply_line_edits,
    docstring_answer_start,
    docstring_written,
    format_docstring,
    imports_answer_start,
    plan_docstring,
    plan_replace,
    plan_tests,
    summary_sentence,
)
from tsr_lsp.actions.shape import AnswerShape, answer_shape
from tsr_lsp.actions.target import (
    file_for_tests,
    find_target,
    importable_names,
    module_name,
)

MODULE = """import csv


def mean(xs):
    return sum(xs) / len(xs)


class Stats:
    @staticmethod
    def spread(xs):
        lo = min(xs)
        return max(xs) - lo
"""


def test_kinds_filter_like_lsp_and_fix_titles_are_short() -> None:
    assert catalog.FIX.matches(["quickfix"]) and not catalog.FIX.matches(["refactor"])
    assert catalog.DOCSTRING.matches(["refactor.rewrite"]) and catalog.TESTS.matches(None)
    assert not catalog.EXPLAIN.matches(["refactor"]) and catalog.EXPLAIN.matches(["tsr"])
    assert catalog.fix_title("undefined name 'x'\nmore") == "Fix with AI: undefined name 'x'"
    long = catalog.fix_title("y" * 200)
    assert long.startswith("Fix with AI: y") and long.endswith("…") and len(long) < 80


def test_targets_widen_to_lines_and_find_the_enclosing_definition() -> None:
    # an empty selection inside a method: the method, with its decorator
    t = find_target(MODULE, "python", 11, 4, 11, 4)
    assert t is not None and (t.what, t.name) == ("function", "spread")
    assert t.text.startswith("    @staticmethod\n") and t.indent == "    "
    t = find_target(MODULE, "python", 4, 0, 4, 0)
    assert t is not None and t.name == "mean" and t.text.endswith("len(xs)\n")
    # a selection ending at column 0 of the next line stops before it
    t = find_target(MODULE, "python", 3, 2, 5, 0)
    assert t is not None and (t.start, t.end, t.what, t.name) == (3, 5, "function", "mean")
    assert find_target(MODULE, "python", 0, 0, 0, 3).what == "selection"  # type: ignore[union-attr]
    # other languages: header + deeper lines + closing brace
    js = "function f(a) {\n  if (a) {\n    return 1;\n  }\n  return 2;\n}\nf(1);\n"
    t = find_target(js, "javascript", 2, 0, 2, 0)
    assert t is not None and t.text == "  if (a) {\n    return 1;\n  }\n"
    t = find_target(js, "javascript", 0, 3, 0, 3)
    assert t is not None and t.text == js[: js.index("f(1)")]
    assert find_target("", "python", 0, 0, 0, 0) is None
    assert find_target("\n\n", "python", 5, 0, 9, 9) is None  # past the end, blank


def test_module_names_and_test_files() -> None:
    assert module_name("/p/src/pkg/mod.py", "/p") == "pkg.mod"
    assert module_name("/p/pkg/__init__.py", "/p") == "pkg"
    assert module_name("/elsewhere/tool.py", "/p") == "tool"
    assert file_for_tests("/p/pkg/mod.py", "python") == "test_mod.py"
    assert file_for_tests("/p/web/app.ts", "typescript") == "app.test.ts"
    assert file_for_tests("/p/main.go", "go") == "main_test.go"
    t = find_target(MODULE, "python", 11, 0, 11, 0)
    assert t is not None and importable_names(MODULE, t) == ["Stats"]


def test_code_is_extracted_from_chat_answers() -> None:
    answer = (
        "Sure! Here is the refactored code:\n\n```python\ndef f(x):\n    return x * 2\n```\n\n"
        "This version is shorter.\n"
    )
    assert extract_code(answer, "python") == "def f(x):\n    return x * 2"
    cut = "```py\ndef f():\n    return 1\n"  # the token limit cut the fence
    assert extract_code(cut, "python") == "def f():\n    return 1"
    two = "```bash\npip install x\n```\n```python\nimport x\n```"
    assert extract_code(two, "python") == "import x"
    prefer = "```python\ndef f(): pass\n```\n```python\ndef test_f(): f()\n```"
    assert extract_code(prefer, "python", lambda c: "def test" in c) == "def test_f(): f()"
    bare = "Here is the code:\ndef f(x):\n    return x\nThis returns x.\n<|im_end|>"
    assert extract_code(bare, "python") == "def f(x):\n    return x"
    assert fenced_blocks("no fences") == []
    assert reindent("def g():\n    pass", "    ") == "    def g():\n        pass\n"
    assert python_error("def f(:\n").startswith("line 1")


def test_replace_takes_only_the_definition_and_refuses_broken_python() -> None:
    t = find_target(MODULE, "python", 4, 0, 4, 0)
    assert t is not None
    answer = (
        "```python\ndef mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)"
        "\n\nprint(mean([1, 2]))\n```"
    )
    edit = plan_replace(MODULE, t, answer, "python", "refactor")
    out = apply_line_edits(MODULE, [edit])
    assert "if not xs:" in out and "print(" not in out and python_error(out) == ""
    # a method keeps its indentation
    m = find_target(MODULE, "python", 11, 0, 11, 0)
    assert m is not None
    fixed = "```python\n@staticmethod\ndef spread(xs):\n    return max(xs) - min(xs)\n```"
    out = apply_line_edits(MODULE, [plan_replace(MODULE, m, fixed, "python", "fix")])
    assert "    @staticmethod\n    def spread(xs):\n        return max(xs) - min(xs)\n" in out
    with pytest.raises(PlanError, match="does not parse as Python"):
        plan_replace(MODULE, t, "```python\ndef mean(xs)\n    return 1\n```", "python", "refactor")
    with pytest.raises(PlanError, match="no change"):
        plan_replace(MODULE, t, f"```python\n{t.text}```", "python", "refactor")
    with pytest.raises(PlanError, match="held no code"):
        plan_replace(MODULE, t, "I cannot help with that.", "python", "fix")


def test_docstrings_are_inserted_or_replaced_without_touching_code() -> None:
    t = find_target(MODULE, "python", 4, 0, 4, 0)
    assert t is not None
    answer = (
        '```python\ndef mean(values):\n    """Return the arithmetic mean of xs."""\n'
        "    return sum(values)/len(values)\n```"
    )
    out = apply_line_edits(MODULE, [plan_docstring(MODULE, t, answer, "python")])
    assert (
        'def mean(xs):\n    """Return the arithmetic mean of xs."""\n    return sum(xs) / len(xs)'
        in out
    )
    again = find_target(out, "python", 4, 0, 4, 0)
    assert again is not None
    longer = '```python\ndef mean(xs):\n    """Mean of xs.\n\n    Raises ZeroDivisionError."""\n```'
    out2 = apply_line_edits(out, [plan_docstring(out, again, longer, "python")])
    assert out2.count('"""') == 2 and '    Raises ZeroDivisionError.\n    """\n' in out2
    assert format_docstring("one", "  ") == '  """one"""\n'
    with pytest.raises(PlanError, match="no docstring"):
        plan_docstring(MODULE, t, "```python\ndef mean(xs): pass\n```", "python")
    js = "function add(a, b) {\n  return a + b;\n}\n"
    jt = find_target(js, "javascript", 0, 0, 0, 0)
    assert jt is not None
    doc = "```js\n/**\n * Add two numbers.\n */\nfunction add(a, b) {\n  return a + b;\n}\n```"
    assert apply_line_edits(js, [plan_docstring(js, jt, doc, "javascript")]).startswith(
        "/**\n * Add two numbers.\n */\nfunction add"
    )


@pytest.mark.parametrize(
    ("language", "name", "answer"),
    [
        (
            "python",
            "mean",
            'Sure:\n```python\ndef mean(xs):\n    """Return the mean.\n\n    Raises on [].\n'
            '    """\n'
            "    total = sum(xs)\n    return total / len(xs)\n```\nThis adds a docstring.",
        ),
        (
            "python",
            "mean",
            '```python\ndef helper():\n    """Not this one."""\n\n\n'
            'def mean(xs):\n    """Return the mean."""\n    return sum(xs) / len(xs)\n```',
        ),
        (
            "javascript",
            "",
            "```js\n/**\n * Add two numbers.\n */\nfunction add(a, b) {\n  return a + b;\n}\n```",
        ),
    ],
)
def test_a_docstring_answer_can_stop_once_the_docstring_is_written(
    language: str, name: str, answer: str
) -> None:
    """The edit made from the answer cut where ``docstring_written`` first says so is the
    edit made from the whole answer: the rest of the generation was not needed."""
    doc = MODULE if language == "python" else "function add(a, b) {\n  return a + b;\n}\n"
    t = find_target(doc, language, 4, 0, 4, 0) if language == "python" else None
    t = t or find_target(doc, language, 0, 0, 0, 0)
    assert t is not None and t.name == (name or t.name)
    cut = next(i for i in range(len(answer) + 1) if docstring_written(answer[:i], language, name))
    assert cut < len(answer) - 20  # it stopped well before the end
    assert not docstring_written(answer[: cut - 1], language, name)
    whole = plan_docstring(doc, t, answer, language)
    assert plan_docstring(doc, t, answer[:cut], language) == whole


@pytest.mark.parametrize(
    "answer",
    [
        "Here you go:\n```python\ndef mean(xs):\n    if not xs:\n        return 0.0\n"
        "    return sum(xs) / len(xs)\n```\nThis version handles an empty list and says so "
        "in two sentences that the edit never uses.",
        "Install nothing:\n```bash\necho hi\n```\n\n```\ndef mean(xs):\n"
        "    return sum(xs) / max(1, len(xs))\n```\nDone, with a longer tail of chat text.",
    ],
)
def test_a_fix_or_refactor_answer_can_stop_once_its_code_block_is_closed(answer: str) -> None:
    t = find_target(MODULE, "python", 4, 0, 4, 0)
    assert t is not None
    cut = next(i for i in range(len(answer) + 1) if code_block_written(answer[:i], "python"))
    assert cut < len(answer) - 20 and answer[:cut].endswith("```\n")
    whole = plan_replace(MODULE, t, answer, "python", "refactor")
    assert plan_replace(MODULE, t, answer[:cut], "python", "refactor") == whole
    assert not code_block_written("```python\ndef mean(xs):\n    return 1\n", "python")
    assert not code_block_written("```js\nlet a = 1;\n```\n", "python")  # not its block


def test_a_docstring_answer_starts_with_the_header_the_model_need_not_write() -> None:
    """The start given to the model is the fence and the definition up to its body
    (decorators, a signature over several lines, a method's indentation); a docstring the
    model writes after it makes the same edit as a whole answer that wrote them itself."""
    t = find_target(MODULE, "python", 10, 0, 10, 0)  # Stats.spread: decorated, indented
    assert t is not None and t.name == "spread"
    start = docstring_answer_start(t.text, "python")
    assert start == "```python\n    @staticmethod\n    def spread(xs):\n"
    answer = start + '        """Return the range of xs."""\n        lo = min(xs)\n```'
    assert docstring_written(answer[: answer.index("lo =")], "python", "spread")
    edit = plan_docstring(MODULE, t, answer, "python")
    assert '        """Return the range of xs."""\n        lo = min(xs)' in apply_line_edits(
        MODULE, [edit]
    )
    wide = "def f(\n    a,\n    b,\n):  # two\n    # a comment\n    return a\n"
    assert docstring_answer_start(wide, "python") == "```python\n" + wide.rsplit("\n", 2)[0] + "\n"
    assert docstring_answer_start("def f(): return 1\n", "python") == ""  # body on its line
    assert docstring_answer_start("x = 1\n", "python") == ""  # not a definition
    assert docstring_answer_start("def f(:\n", "python") == ""  # does not parse
    assert docstring_answer_start("function add(a, b) {\n}\n", "javascript") == ""


SPREAD_ANSWER = (
    '```python\n    @staticmethod\n    def spread(xs):\n        """\n'
    "        Return the range of xs, e.g. 3 for [1, 4]. Raises ValueError\n"
    "        on an empty list.\n\n        Args:\n"
    '            xs: numbers.\n        """\n        lo = min(xs)\n        return max(xs) - lo\n```'
)


def test_a_summary_docstring_stops_after_its_first_sentence() -> None:
    """``actions.docstring = "summary"``: the model is stopped once the docstring's first
    sentence has ended ("e.g. " does not end it), and the edit is that sentence on one
    line, the same as from the whole answer."""
    t = find_target(MODULE, "python", 10, 0, 10, 0)
    assert t is not None
    written = [
        i
        for i in range(len(SPREAD_ANSWER) + 1)
        if docstring_written(SPREAD_ANSWER[:i], "python", "spread", summary=True)
    ]
    cut = written[0]
    assert SPREAD_ANSWER[:cut].endswith("[1, 4]. R")  # the next word began: " Raises"
    edit = plan_docstring(MODULE, t, SPREAD_ANSWER[:cut], "python", summary=True)
    assert edit == plan_docstring(MODULE, t, SPREAD_ANSWER, "python", summary=True)
    assert edit.text == '        """Return the range of xs, e.g. 3 for [1, 4]."""\n'
    full = plan_docstring(MODULE, t, SPREAD_ANSWER, "python")
    assert "Args:" in full.text  # the full style keeps what the model wrote
    assert not docstring_written(SPREAD_ANSWER[:cut], "python", "spread")


def test_a_summary_docstring_is_the_definitions_first_statement() -> None:
    closed = '```python\ndef mean(xs):\n    """Return the mean"""\n'
    assert docstring_written(closed, "python", "mean", summary=True)  # closed, no full stop
    code_first = '```python\ndef mean(xs):\n    x = 1  # a. b\n    """Later. Text"""\n'
    assert not docstring_written(code_first, "python", "mean", summary=True)
    other = '```python\ndef other():\n    """Not this one. At all."""\n'
    assert not docstring_written(other, "python", "mean", summary=True)
    wide = '```python\ndef mean(\n    xs: list,\n):  # why\n    # note\n    """One. Two'
    assert docstring_written(wide, "python", "mean", summary=True)
    assert summary_sentence("Return the mean\n    of xs\n\n    Args:") == "Return the mean of xs"


def test_a_summary_doc_comment_is_its_first_sentence_in_the_blocks_style() -> None:
    js = "function add(a, b) {\n  return a + b;\n}\n"
    jt = find_target(js, "javascript", 0, 0, 0, 0)
    assert jt is not None
    answer = (
        "```js\n/**\n * Add two numbers, e.g. 1 and 2. Returns\n * their sum.\n"
        " * @param {number} a\n */\nfunction add(a, b) {\n  return a + b;\n}\n```"
    )
    cut = next(
        i
        for i in range(len(answer) + 1)
        if docstring_written(answer[:i], "javascript", summary=True)
    )
    assert answer[:cut].endswith("2. R")
    edit = plan_docstring(js, jt, answer[:cut], "javascript", summary=True)
    assert edit == plan_docstring(js, jt, answer, "javascript", summary=True)
    assert apply_line_edits(js, [edit]) == "/** Add two numbers, e.g. 1 and 2. */\n" + js
    rust = "fn add(a: i32) -> i32 {\n    a\n}\n"
    rt = find_target(rust, "rust", 0, 0, 0, 0)
    assert rt is not None
    lines = "```rust\n/// Adds one.\n/// More text.\nfn add(a: i32) -> i32 {\n    a\n}\n```"
    edit = plan_docstring(rust, rt, lines, "rust", summary=True)
    assert apply_line_edits(rust, [edit]) == "/// Adds one.\n" + rust
    with pytest.raises(PlanError, match="no doc comment"):
        plan_docstring(js, jt, "```js\n/**\n */\nfunction add() {}\n```", "javascript")


def test_a_docstring_answer_without_one_runs_to_the_end() -> None:
    assert not docstring_written("```python\ndef mean(xs):\n    return 1\n```", "python", "mean")
    assert not docstring_written('```python\ndef other():\n    """Doc."""\n', "python", "mean")
    assert not docstring_written('```python\ndef mean(xs):\n    """Doc.', "python", "mean")
    assert not docstring_written("```js\n// one\n// two\n", "javascript")


def test_a_tests_answer_starts_with_its_imports_and_def() -> None:
    """The imports the prompt asks for are given, then ``def``: the model writes a test's
    name next (given the imports alone, the 1.5B went on importing)."""
    start = imports_answer_start("python", "pkg.stats", ["mean", "Stats"])
    assert start == "```python\nimport pytest\nfrom pkg.stats import mean, Stats\n\n\ndef"
    answer = start + " test_mean():\n    assert mean([1, 3]) == 2\n```"
    plan = plan_tests(answer, "python", "pkg.stats", ["mean", "Stats"], None)
    assert plan.full.count("import pytest") == 1 and "def test_mean():" in plan.full
    assert imports_answer_start("python", "stats", []).startswith(
        "```python\nimport pytest\nimport stats\n"
    )
    assert imports_answer_start("python", "", ["mean"]) == ""  # nothing to import from
    assert imports_answer_start("javascript", "stats", ["mean"]) == ""


def test_each_action_stops_and_starts_where_its_edit_needs() -> None:
    t = find_target(MODULE, "python", 4, 0, 4, 0)
    assert t is not None
    doc = answer_shape(catalog.DOCSTRING, "python", t, {})
    assert doc.summary and doc.start == "```python\ndef mean(xs):\n" and doc.enough is not None
    full = answer_shape(catalog.DOCSTRING, "python", t, {"style": "full"})
    assert not full.summary and full.enough is not None
    assert not full.enough('```python\ndef mean(xs):\n    """One. Two')
    assert answer_shape(catalog.REFACTOR, "python", t, {}).enough is not None
    assert not answer_shape(catalog.REFACTOR, "python", t, {}).start
    tests = answer_shape(catalog.TESTS, "python", t, {"module": "m", "names": ["mean"]})
    assert tests.enough is None and tests.start.endswith("from m import mean\n\n\ndef")
    assert answer_shape(catalog.EXPLAIN, "python", t, {}) == AnswerShape()


def test_tests_import_the_real_module_and_never_clash() -> None:
    answer = (
        "```python\nfrom solution import mean\nimport unittest\n\ndef mean(xs):\n    return 0\n\n"
        "def test_mean():\n    assert mean([1, 3]) == 2\n\ndef test_empty():\n"
        "    with pytest.raises(ZeroDivisionError):\n        mean([])\n```"
    )
    plan = plan_tests(answer, "python", "pkg.stats", ["mean"], None)
    assert not plan.append and plan.text == plan.full
    assert plan.full.startswith("import pytest\nfrom pkg.stats import mean\n\n\n")
    assert "solution" not in plan.full and "return 0" not in plan.full
    existing = "from pkg.stats import mean\n\n\ndef test_mean():\n    assert mean([2]) == 2\n"
    more = plan_tests(answer, "python", "pkg.stats", ["mean"], existing)
    assert more.append and more.full == existing + more.text
    assert more.text.startswith("\n\nimport pytest\n") and "from pkg.stats" not in more.text
    assert "def test_mean_2():" in more.text and python_error(more.full) == ""
    with pytest.raises(PlanError, match="no tests"):
        plan_tests("```python\nprint(1)\n```", "python", "m", [], None)


def test_outcome_of_an_applied_edit_follows_the_text() -> None:
    a = outcome.Applied("file:///x.py", "ep1", old="return 1\n", new="return 2  # fixed\n")
    assert outcome.update(a, "def f():\n    return 2  # fixed\n") is None  # still accepted
    assert outcome.update(a, "def f():\n    return 2 + 0  # by hand\n") == outcome.EDITED
    assert outcome.update(a, "def f():\n    return 1\n") == outcome.REJECTED  # undone
    assert outcome.update(a, "def f():\n    return 1\n") is None  # no change, no write
    ins = outcome.Applied("u", "ep2", old="", new='    """Long enough docstring."""\n')
    assert outcome.judge(ins, "def f():\n    pass\n") == outcome.REJECTED


def test_markdown_document_shows_route_question_code_answer() -> None:
    t = find_target(MODULE, "python", 4, 0, 4, 0)
    assert t is not None
    md = document.markdown(
        "Explain with AI",
        "/p/stats.py",
        t,
        "python",
        "It averages.",
        "code (0.93) -> coder",
        "Why?",
    )
    assert md.startswith("# Explain with AI: `stats.py:4-5`")
    assert "*code (0.93) -> coder*" in md and "> Why?" in md
    assert "```python\ndef mean(xs):" in md and md.rstrip().endswith("It averages.")
    assert document.file_name("explain", "/p/my stats.py", 0).endswith("-explain-my_stats.md")


def test_tests_cut_by_the_token_limit_keep_the_complete_ones() -> None:
    answer = (
        "```python\nfrom m import f\n\ndef test_one():\n    assert f(1) == 1\n\n"
        "def test_two():\n    assert f(2) == [1,\n"
    )
    plan = plan_tests(answer, "python", "m", ["f"], None)
    assert "def test_one():" in plan.full and "assert f(2)" not in plan.full
    cut = "```python\ndef test_one():\n    assert f(1) == 1\n    assert f(2) ==\n"
    assert plan_tests(cut, "python", "m", ["f"], None).full.endswith("assert f(1) == 1\n")
    with pytest.raises(PlanError, match="do not parse"):
        plan_tests("```python\ndef test_one():\n    assert f(1) == [1,\n", "python", "m", [], None)


def test_answer_files_are_private_and_bounded(home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tsr_lsp.server import actions

    monkeypatch.setattr(actions, "KEEP_ANSWERS", 3)
    written = [actions._write_answer("explain", "/p/geo.py", f"# {i}\n") for i in range(5)]
    kept = sorted(written[0].parent.glob("*.md"), key=lambda p: p.stat().st_mtime_ns)
    assert [p.read_text() for p in kept] == ["# 2\n", "# 3\n", "# 4\n"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in kept)
    assert written[0].parent.stat().st_mode & 0o777 == 0o700
