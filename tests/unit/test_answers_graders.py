"""Graders of the answer-quality suite: right answers score 1, wrong ones 0, in the forms
small models really produce; the code sandbox enforces its limits."""

from __future__ import annotations

import time

import pytest

from tsr_lsp.bench.answers import graders
from tsr_lsp.bench.answers.codeexec import run_tests
from tsr_lsp.bench.answers.graders import (
    chosen_option,
    code_blocks,
    final_number,
    first_label,
    grade_code_tests,
    grade_fields,
    grade_instructions,
    json_object,
)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("She pays 3 * 4 = 12 dollars, so the answer is 12.", 12.0),
        ("Step 1: 5 + 7 = 12\nStep 2: 12 * 2 = 24\n#### 24", 24.0),
        ("The total is $1,250.50 in the end.", 1250.5),
        ("Final answer: -3", -3.0),
        ("He has 4 apples and eats 1. Answer: 3 apples, one fewer than 4", 3.0),
        ("\\boxed{42}", 42.0),
        ("no number here", None),
    ],
)
def test_final_number(text: str, want: float | None) -> None:
    assert final_number(text) == want


def test_numeric_grade_is_strict_about_the_value() -> None:
    assert graders.grade_numeric("so 600 dollars", {"answer": 600.0}) == 1.0
    assert graders.grade_numeric("so 601 dollars", {"answer": 600.0}) == 0.0
    assert graders.grade_numeric("", {"answer": 600.0}) == 0.0


CHOICES = ["hot and dry.", "hot and wet.", "cold and dry.", "cold and wet."]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("B", 1),
        ("**C**", 2),
        ("The answer is D.", 3),
        ("Answer: (A)", 0),
        ("B. hot and wet.", 1),
        ("Cacti like it cold and dry.", 2),
        ("A cactus grows where it is cold and dry.", 2),  # the article "A" is not option A
        ("A. hot and dry.\nB. hot and wet.\nC. cold and dry.", None),  # echoes the options
        ("I am not sure.", None),
        ("It could be hot and dry or hot and wet.", None),  # two options: no pick
    ],
)
def test_chosen_option(text: str, want: int | None) -> None:
    assert chosen_option(text, CHOICES) == want


def test_label_is_the_first_one_stated() -> None:
    assert first_label("No, it does not. Yes would be wrong.", ["yes", "no"]) == "no"
    assert first_label("Yes.", ["yes", "no"]) == "yes"
    assert first_label("Nobody knows; yesterday it rained.", ["yes", "no"]) is None
    assert graders.grade_label("yes", {"labels": ["yes", "no"], "label": "no"}) == 0.0


def test_alias_needs_an_accepted_name_early_as_whole_words() -> None:
    want = {"aliases": ["Onion", "Allium cepa", "Bulb onion"]}
    assert graders.grade_alias("It is the onion.", want) == 1.0
    assert graders.grade_alias("Allium  Cepa (the common onion)", want) == 1.0
    assert graders.grade_alias("Onions? No: the leek.", want) == 0.0  # whole words only
    assert graders.grade_alias("Garlic.", want) == 0.0
    late = " ".join(["word"] * 40) + " onion"
    assert graders.grade_alias(late, want) == 0.0


def test_fields_need_exact_values() -> None:
    want = {"fields": {"name": "Ines Novak", "order_id": "R17984", "amount": 205}}
    assert (
        grade_fields(
            '```json\n{"name": "Ines Novak", "order_id": "R17984", "amount": 205}\n```', want
        )
        == 1.0
    )
    assert grade_fields(
        'JSON: {"Name": "ines novak", "order_id": 12345, "amount": "205"}', want
    ) == pytest.approx(2 / 3)
    assert grade_fields("name: Ines Novak", want) == 0.0
    assert json_object('x {bad} then {"a": 1}') == {"a": 1}


def test_instruction_checks() -> None:
    checks = [
        {"type": "max_words", "value": 12},
        {"type": "include", "value": ["cloud", "orange"]},
        {"type": "name", "value": "Anna"},
    ]
    good = "Hello Anna, an orange cloud drifts over the harbour tonight."
    assert grade_instructions(good, {"checks": checks}) == 1.0
    assert grade_instructions("Hello there, friend!", {"checks": checks}) == pytest.approx(1 / 3)
    assert graders.check_instruction("- a\n- b\n- c", {"type": "bullets", "value": 3})
    assert not graders.check_instruction("- a\n- b", {"type": "bullets", "value": 3})
    assert graders.check_instruction("<<My day>>\ntext", {"type": "title", "value": True})
    assert graders.check_instruction("all lower here", {"type": "lowercase", "value": True})
    assert not graders.check_instruction("Not lower", {"type": "lowercase", "value": True})
    assert graders.check_instruction("One. Two.", {"type": "max_sentences", "value": 2})
    assert not graders.check_instruction("One. Two. Three.", {"type": "max_sentences", "value": 2})
    assert graders.check_instruction(
        "Nice text. See you next time.", {"type": "ends_with", "value": "See you next time."}
    )
    # "Annabel" is not "Anna"
    assert not graders.check_instruction("Hi Annabel!", {"type": "name", "value": "Anna"})


def test_code_blocks_take_fences_or_the_code_part() -> None:
    fenced = "Here you go:\n```python\ndef f():\n    return 1\n```\nDone."
    assert code_blocks(fenced) == "def f():\n    return 1"
    bare = "Sure! Below is the code.\ndef f():\n    return 1"
    assert code_blocks(bare).startswith("def f()")


TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"]


def test_code_passes_only_when_every_test_passes() -> None:
    right = "```python\ndef add(a, b):\n    return a + b\n```"
    wrong = "```python\ndef add(a, b):\n    return a - b\n```"
    assert grade_code_tests(right, {"tests": TESTS}) == 1.0
    assert grade_code_tests(wrong, {"tests": TESTS}) == 0.0
    assert grade_code_tests("I cannot do that.", {"tests": TESTS}) == 0.0


def test_a_demo_that_crashes_after_the_definition_still_counts() -> None:
    answer = "def add(a, b):\n    return a + b\n\nprint(add(undefined_name, 2))"
    assert grade_code_tests(answer, {"tests": TESTS}) == 1.0


def test_main_blocks_and_stdin_do_not_block_the_sandbox() -> None:
    answer = "def add(a, b):\n    return a + b\nif __name__ == '__main__':\n    input()\n"
    assert grade_code_tests(answer, {"tests": TESTS}) == 1.0
    run = run_tests("x = input()\ndef add(a, b): return a + b", TESTS)
    assert run.passed == 0 and "EOFError" in run.error


def test_sandbox_time_limit() -> None:
    start = time.monotonic()
    run = run_tests("while True:\n    pass", TESTS, timeout_s=2)
    assert run.passed == 0 and "timed out" in run.error
    assert time.monotonic() - start < 10


def test_sandbox_memory_limit() -> None:
    run = run_tests("big = bytearray(2 * 1024 ** 3)\ndef add(a, b): return a + b", TESTS)
    assert run.passed == 0 and "MemoryError" in run.error


def test_sandbox_cannot_forge_its_report() -> None:
    fake = 'import json, os\nos.write(1, b\'{"passed": 2, "error": ""}\\n\')\nos._exit(0)'
    run = run_tests(fake, TESTS)
    assert run.passed == 0 and "died" in run.error


def test_sandbox_runs_in_an_empty_folder_with_an_empty_environment() -> None:
    code = "import os\nFILES = os.listdir('.')\nENV = dict(os.environ)"
    tests = ["assert FILES == ['job.json']", "assert 'TSR_LSP_HOME' not in ENV"]
    assert run_tests(code, tests).passed == 2
