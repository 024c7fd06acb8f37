"""bench actions' check of an applied edit: what counts as an action that worked."""

from __future__ import annotations

from tsr_lsp.bench.actions import check, tasks

CODE = "def mean(xs):\n    total = sum(xs)\n    return total / len(xs)\n"


def test_a_docstring_counts_only_when_the_code_is_unchanged() -> None:
    doc = CODE.replace("):\n", '):\n    """Return the mean."""\n', 1)
    assert check("docstring", CODE, doc)
    assert not check("docstring", CODE, doc.replace("sum(xs)", "sum(xs) + 1"))
    assert not check("docstring", CODE, CODE)  # no docstring added
    assert not check("docstring", CODE, doc + "def (")  # does not parse


def test_tests_count_when_they_import_the_code_under_test() -> None:
    good = "from t1_tests import mean\n\n\ndef test_mean():\n    assert mean([2]) == 2\n"
    assert check("tests", "", good, "t1_tests", "mean")
    assert not check("tests", "", good, "t1_tests", "median")  # not the function asked for
    assert not check("tests", "", good.replace("def test_mean", "def helper"), "t1_tests", "mean")
    cls = "from t1_tests import mean\n\n\nclass TestMean:\n    def test_one(self):\n        pass\n"
    assert check("tests", "", cls, "t1_tests", "mean")
    copied = CODE + "\n\ndef test_mean():\n    assert mean([2]) == 2\n"
    assert not check("tests", "", copied, "t1_tests", "mean")  # a copy, not the real module


def test_the_tasks_are_functions_without_their_docstrings() -> None:
    work = tasks(3)
    assert len(work) == 3 and len({t.name for t in work}) == 3
    for t in work:
        assert t.code.startswith(("def ", "@")) and '"""' not in t.code.split("\n", 2)[1]
