"""docs/LINT.md stays true: every code is documented, and every example triggers it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tsr_lsp.jinja_lint import CODES, FileIndex, lint_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "LINT.md"
SECTION = re.compile(r"^### (JL\d{3}) ([\w-]+)\n(.*?)(?=^### |^## |\Z)", re.S | re.M)
EXAMPLE = re.compile(r"```jinja\n(.*?)```", re.S)


def sections() -> dict[str, tuple[str, str]]:
    return {m.group(1): (m.group(2), m.group(3)) for m in SECTION.finditer(DOC.read_text())}


def test_every_code_is_documented_with_its_slug() -> None:
    documented = sections()
    assert set(documented) == set(CODES)
    for code, (slug, _) in documented.items():
        assert slug == CODES[code][0], code


@pytest.mark.parametrize("code", sorted(CODES))
def test_documented_example_triggers_its_code(code: str, tmp_path: Path) -> None:
    _, body = sections()[code]
    example = EXAMPLE.search(body)
    assert example is not None, f"{code} has no ```jinja example"
    (tmp_path / "forms.html").write_text("{% macro field(name) %}{{ name }}{% endmacro %}")
    page = tmp_path / "page.jinja"
    result = lint_text(example.group(1), str(page), None, FileIndex([tmp_path]))
    assert code in {d.code for d in result.diagnostics}, [
        (d.code, d.message) for d in result.diagnostics
    ]
