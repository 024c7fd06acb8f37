"""The maths-by-program evaluator: what it computes, and what it refuses quickly."""

from __future__ import annotations

import time

import pytest

from tsr_lsp.prompts.program import ProgramError, evaluate, extract, format_number, suits


def test_a_word_problem_program_computes_its_answer() -> None:
    reply = (
        "```python\n# Amy's height\namy_height = 150\nhelen_height = amy_height + 3\n"
        "angela_height = Helen_height + 4\nprint(angela_height)\n```"
    )
    assert evaluate(extract(reply)) == 157  # the name's case slip is forgiven


@pytest.mark.parametrize(
    ("program", "value"),
    [
        ("answer = 120 / 1.5", 80),
        ("a = 3\nb = a * 4\nb += 2", 14),  # no answer, no print: the last value assigned
        ("import math\nx = math.ceil(7 / 2)\nprint(x)", 4),
        ("total = sum([1, 2, 3])\nanswer = max(total, 2) ** 2", 36),
        ("x = 5\nprint(f'It is {x}')\nanswer = x - 1", 4),  # an f-string print is words
        ("cost = 2\nprint('Total:', cost * 3)", 6),
    ],
)
def test_values(program: str, value: float) -> None:
    assert evaluate(program) == value


@pytest.mark.parametrize(
    ("program", "why"),
    [
        ("import os\nos.system('true')", "only assignments"),
        ("answer = __import__('os').getcwd()", "unsupported expression"),
        ("answer = open('/etc/passwd').read()", "unsupported expression"),
        ("answer = 9 ** 9 ** 9", "exponent out of range"),
        ("x = 10 ** 12\nanswer = x * x", "out of range"),
        ("answer = 1 / 0", "division"),
        ("answer = unknown + 1", "'unknown' is not defined"),
        ("while True:\n    pass", "only assignments"),
        ("answer = 'eighty'", "not a number"),
        ("def f(:", "not a program"),
        ("", "no value"),
        ("x = 1\n" * 100, "more than"),
    ],
)
def test_refusals_say_why(program: str, why: str) -> None:
    with pytest.raises(ProgramError, match=why):
        evaluate(program)


def test_a_huge_program_is_refused_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(ProgramError, match="longer than"):
        evaluate("answer = " + "1 + " * 100_000 + "1")
    assert time.perf_counter() - started < 1.0


def test_extract_and_format() -> None:
    assert extract("Here:\n```py\nanswer = 2\n```\nDone.") == "answer = 2"
    assert extract("answer = 2") == "answer = 2"
    assert extract("```python answer = 2 ```") == "answer = 2"
    assert format_number(12500.000000001) == "12500"
    assert format_number(53.333333333333) == "53.33333333"
    assert format_number(-4.0) == "-4"


def test_suits_numeric_requests_only() -> None:
    assert suits("A train travels 120 km in 1.5 hours. What is its speed?")
    assert suits("Solve 3x + 5 = 20")
    assert not suits("Prove that the square root of 2 is irrational")
    assert not suits("What is the derivative of x^2?")
    assert not suits("Explain why 0.999... equals 1")
    assert suits("He buys a pack of twenty each week for a year, then loses half.")
    assert suits("Texas Integrated School has 15 classes")  # not "integrate"
    assert not suits("What is a prime number?")  # nothing to compute with
    assert not suits("Integrate x^2 from 0 to 1")
