"""The demo's two questions with a memory full of earlier, unrelated work: the real server
and the default models still answer each correctly, and memory stays out of both prompts
(the issue: "Say hello to my friend Anna" got "Hi, welcome to the world of data analysis!")."""

from __future__ import annotations

from pathlib import Path

from tsr_lsp.bench.answers import SuiteRunner
from tsr_lsp.bench.answers.bench import unrelated_episodes
from tsr_lsp.prompts.program import evaluate, extract, format_number

CSV = "Write a Python function that parses a CSV file into a list of dicts"
ANNA = "Say hello to my friend Anna in one sentence"
# `make demo`-style arithmetic the coder got wrong in steps (53.33) before maths by program
TRAIN = "A train travels 120 km in 1.5 hours. What is its average speed in km/h?"


async def test_demo_questions_with_memory_full(models_dir: Path) -> None:
    async with SuiteRunner(memory=True, record=True) as runner:
        filler = unrelated_episodes(runner.project_id, per_category=1)
        imported = await runner.request("tsr/memory/import", {"episodes": filler})
        assert imported["imported"] == len(filler)
        code, _ms = await runner.generate(CSV, max_tokens=200)
        greeting, _ms = await runner.generate(ANNA, max_tokens=48)
    assert code["decision"]["model"] in ("coder", "fim")  # a code model
    assert "def " in code["text"] and "csv" in code["text"].lower()
    assert "Anna" in greeting["text"]
    # the CSV question (and the imported work) stayed out of the greeting's prompt
    assert greeting["memory"]["episodes"] == []


async def test_a_word_problem_is_answered_by_the_value_its_program_computes(
    models_dir: Path,
) -> None:
    async with SuiteRunner() as runner:
        out, _ms = await runner.generate(TRAIN)
    decision = out["decision"]
    assert (decision["category"], decision["method"]) == ("math", "program")
    assert decision["model"] in ("coder", "fim")  # a code model writes the program
    assert out["reasoning"].startswith("```python"), out
    assert out["text"] == format_number(evaluate(extract(out["reasoning"])))
    assert out["text"] == "80"
