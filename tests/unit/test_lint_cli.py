"""`tsr-lsp lint`: formats, exit codes, selection, folders, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tsr_lsp.cli import main


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "ok.jinja").write_text("{% for x in items %}{{ x | upper }}{% endfor %}\n")
    (tmp_path / "bad.j2").write_text("line one\n{% if a %}\n  {{ b | upperr }}\n")
    (tmp_path / "page.html").write_text("{% if x %}")  # not linted unless --ext .html
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "p.json").write_text('{"template": "{{ text | nope }}"}')
    (tmp_path / "data.json").write_text('{"not": "a template"}')
    return tmp_path


def test_json_output_is_one_based_and_exit_code_is_one_on_errors(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["lint", "--format", "json", str(tree)])
    records = json.loads(capsys.readouterr().out)
    assert code == 1
    keys = {"path", "line", "column", "end_line", "end_column", "code", "severity", "message"}
    assert all(set(r) == keys for r in records)
    got = {(Path(r["path"]).name, r["line"], r["column"], r["code"]) for r in records}
    assert ("bad.j2", 2, 1, "JL003") in got  # {% if a %} never closed
    assert ("bad.j2", 3, 10, "JL020") in got  # 'upperr' starts at column 10
    assert not any(name in ("page.html", "data.json") for name, *_ in got)
    assert any(name == "p.json" for name, *_ in got)  # seed-style JSON prompt template
    upperr = next(r for r in records if r["code"] == "JL020" and r["path"].endswith("bad.j2"))
    assert (upperr["end_line"], upperr["end_column"]) == (3, 16)


def test_text_output_select_and_clean_exit(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--select", "JL02", str(tree / "bad.j2")]) == 0  # only a warning
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"{tree / 'bad.j2'}:3:10: JL020 warning: unknown filter 'upperr'; did you mean 'upper'?"
    ]
    assert main(["lint", str(tree / "ok.jinja")]) == 0
    assert main(["lint", "--ext", ".html", str(tree)]) == 1
    assert "page.html" in capsys.readouterr().out


def test_bad_input_is_a_clear_error(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tree / "missing.jinja")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["lint", "--select", "E501", str(tree)]) == 2
    assert "unknown code(s) E501" in capsys.readouterr().err
    (tree / "binary.jinja").write_bytes(b"\xff\xfe\x00{{")
    assert main(["lint", str(tree / "binary.jinja"), str(tree / "ok.jinja")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "UTF-8" in err


def test_project_config_configures_custom_tags(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "custom.jinja").write_text("{% include_block page.body %}{{ x | richtext }}\n")
    assert main(["lint", str(tree / "custom.jinja")]) == 0
    assert "JL006" in capsys.readouterr().out
    (tree / ".tsr").mkdir()
    (tree / ".tsr" / "config.toml").write_text(
        '[lint]\ncustom_tags = ["include_block"]\nextra_filters = ["richtext"]\n'
    )
    assert main(["lint", str(tree / "custom.jinja")]) == 0
    assert capsys.readouterr().out == ""


def test_console_script_runs(tree: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tsr_lsp", "lint", "--format", "json", str(tree / "bad.j2")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert {r["code"] for r in json.loads(proc.stdout)} == {"JL003", "JL020"}
