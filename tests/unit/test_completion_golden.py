"""Golden cases for completion post-processing (tests/unit/completion_golden/*.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tsr_lsp.completion.context import build_prompt, locate, wants_multiline
from tsr_lsp.completion.postprocess import postprocess
from tsr_lsp.config import CompletionSettings

GOLDEN = Path(__file__).parent / "completion_golden"
CASES = sorted(GOLDEN.glob("*.toml"))
MARK = "┃"


def load(path: Path) -> dict:
    case = tomllib.loads(path.read_text())
    doc = case["document"]
    assert doc.count(MARK) == 1, f"{path.name}: mark the cursor with one {MARK}"
    offset = doc.index(MARK)
    line = doc.count("\n", 0, offset)
    character = offset - (doc.rfind("\n", 0, offset) + 1)
    case["text"] = doc.replace(MARK, "")
    case["position"] = (line, character)
    return case


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden(path: Path) -> None:
    case = load(path)
    cur = locate(case["text"], *case["position"])
    assert cur is not None
    multiline = case.get("multiline", wants_multiline(cur))
    heal = case.get("heal", CompletionSettings().heal)  # the server's default unless the case says
    prompt = build_prompt(cur, prefix_tokens=512, suffix_tokens=128, heal=heal)
    out = postprocess(case["raw"], cur, multiline=multiline, healed=prompt.healed)
    assert out.text == case["expected"], case["description"]
    assert out.replace_rest == case.get("replace_rest", False), case["description"]
    if out.text:  # what the user ends up with never carries trailing spaces
        assert all(line == line.rstrip() for line in out.text.split("\n"))
