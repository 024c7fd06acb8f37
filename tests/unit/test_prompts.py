from __future__ import annotations

from pathlib import Path

import pytest

from tsr_lsp.prompts.builder import answer_instruction
from tsr_lsp.prompts.cot import CODE_ONLY, cot_instruction, split_answer
from tsr_lsp.prompts.frontmatter import parse_front_matter
from tsr_lsp.prompts.library import available_templates, load_template, parse_template
from tsr_lsp.prompts.sandbox import RenderError, render_string
from tsr_lsp.router.decision import Decision


def test_front_matter_is_parsed_and_body_separated() -> None:
    src = '{#---\nname = "x"\n[variables]\ntext = "str"\n---#}\nHello {{ text }}\n'
    fm = parse_front_matter(src)
    assert fm.present and fm.meta["name"] == "x"
    assert fm.variables == {"text": "str"}
    assert fm.body == "Hello {{ text }}\n" and fm.body_line == 5


def test_broken_front_matter_reports_its_line() -> None:
    fm = parse_front_matter('{#---\nname = "x"\nbroken = \n---#}\nbody')
    assert fm.error and fm.error_line == 2


def test_json_template_form_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    tpl = parse_template("s", '{"system": "Be nice.", "template": "Text: {{ text }}"}', path)
    assert tpl.system == "Be nice."
    assert tpl.render({"text": "hi"}) == "Text: hi"


def test_project_templates_override_shipped_ones(tmp_path: Path, home: Path) -> None:
    assert "ask" in available_templates(None)
    (tmp_path / ".tsr" / "templates").mkdir(parents=True)
    (tmp_path / ".tsr" / "templates" / "ask.jinja").write_text("mine: {{ text }}")
    tpl = load_template("ask", tmp_path)
    assert tpl.render({"text": "q"}) == "mine: q"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ range(10**9) | list | length }}",
        "{{ 'x' * 10 }}{% for i in range(9000) %}{{ 'y' * 100 }}{% endfor %}",
    ],
)
def test_sandbox_blocks_injection_and_runaway_output(payload: str) -> None:
    with pytest.raises(RenderError):
        render_string(payload, {"cycler": object()}, max_chars=100_000)


def test_cot_instruction_and_answer_split() -> None:
    assert cot_instruction(0) == ""
    # a form with one line per step, then the answer line split_answer looks for
    three = cot_instruction(3)
    assert "'Step 3: <one sentence>'" in three and "Step 4" not in three
    assert "Reply in 4 lines" in three and "'Answer: <the final answer only>'" in three
    reasoning, answer = split_answer("Step 1: 2+2.\nStep 2: =4\nAnswer: 4", 2)
    assert reasoning.startswith("Step 1") and answer == "4"
    assert split_answer("just text", 2) == ("", "just text")
    assert split_answer("Answer: 4", 0) == ("", "Answer: 4")
    # the small models bold the marker either way
    assert split_answer("2+2\n**Answer:** 4", 1) == ("2+2", "4")
    assert split_answer("2+2\n**Final answer**: 4", 1) == ("2+2", "4")


def test_code_cot_asks_for_the_code_as_the_answer() -> None:
    text = cot_instruction(3, "code")
    assert "at most 3" in text and "complete code in one fenced code block" in text
    # maths keeps free-form steps too: its arithmetic does not fit one sentence a step
    maths = cot_instruction(2, "math")
    assert "at most 2 short numbered steps" in maths and "final answer only" in maths
    assert "<one sentence>" not in text + maths


def test_code_without_steps_asks_for_the_code_and_little_else() -> None:
    def line(text: str, template: str = "ask", cot: int = 0, category: str = "code") -> str:
        d = Decision(category, "coder", cot, 0.2, 0.95, 512, template, 1.0, "")
        return answer_instruction(d, text)

    assert line("Write a function to reverse a string") == CODE_ONLY
    assert line("please implement a Python class for a stack") == CODE_ONLY
    assert line("What does this regex do: ^a.*b$") == ""  # a question about code
    assert line("Explain Python decorators") == ""
    assert line("Write a function to reverse a string", template="refactor") == ""
    assert line("Write a function to reverse a string", cot=2).startswith("Before writing")
    assert line("Write a poem about the sea", category="writing") == ""
