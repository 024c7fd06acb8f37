"""The linter on real templates: silent on clean files, and catching injected faults.

Corpus: ../shared/data/jinja (real chat templates and cfgov's Jinja HTML templates) plus
the shipped prompt templates. The mutation suite injects single faults (deleted end tags,
misspelt filters/tests/variables, a lost '}}', broken front matter, wrong macro arity)
with a fixed seed and requires >= 95% of them reported on the right line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tsr_lsp.bench.lint import CORPUS_OPTIONS, corpus_dir, corpus_files
from tsr_lsp.jinja_lint import FileIndex, LintOptions, lint_text
from tsr_lsp.jinja_lint.mutate import FAULTS, evaluate

SHIPPED = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    root = corpus_dir()
    if not root.is_dir():
        pytest.fail(f"Jinja corpus missing at {root}; set TSR_LSP_JINJA_CORPUS")
    files = corpus_files(root)
    assert len(files) >= 200
    return files


@pytest.fixture(scope="module")
def index() -> FileIndex:
    return FileIndex([corpus_dir()])


def test_no_errors_on_clean_real_templates(corpus: list[tuple[str, str]], index: FileIndex) -> None:
    options = LintOptions(**CORPUS_OPTIONS)  # type: ignore[arg-type]
    errors = []
    for path, text in corpus:
        for d in lint_text(text, path, options, index).diagnostics:
            if d.severity == "error":
                errors.append((path, d.code, d.message))
    assert errors == []


def test_chat_templates_are_recognised_and_clean(corpus: list[tuple[str, str]]) -> None:
    chats = [(p, t) for p, t in corpus if p.endswith(".jinja")]
    assert len(chats) >= 15
    for path, text in chats:
        result = lint_text(text, path)
        assert result.analysis is not None and result.analysis.kind == "chat", path
        assert result.diagnostics == [], (path, result.diagnostics)


def test_shipped_prompt_templates_are_clean() -> None:
    for path in sorted(SHIPPED.glob("*.jinja")):
        result = lint_text(path.read_text(), str(path))
        assert result.analysis is not None and result.analysis.kind == "prompt"
        assert [d for d in result.diagnostics if d.severity != "info"] == [], path


def test_mutation_detection_rate(
    corpus: list[tuple[str, str]], index: FileIndex, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = [(str(p), p.read_text()) for p in sorted(SHIPPED.glob("*.jinja"))]
    options = LintOptions(**CORPUS_OPTIONS)  # type: ignore[arg-type]
    report = evaluate(corpus + shipped, options, index, seed=6, per_fault=2)
    lines = [
        f"{f:22} {report.found[f]:4}/{report.total[f]:<4} {report.rate(f):.1%}" for f in FAULTS
    ]
    deleted = report.total["deleted_end_tag"]
    lines.append(
        f"{'all':22} {sum(report.found.values()):4}/{sum(report.total.values()):<4} "
        f"{report.rate():.1%}"
    )
    lines.append(
        "deleted end tags reported on the deletion line itself: "
        f"{report.found_at_fault_line / deleted:.1%}"
    )
    with capsys.disabled():
        print("\nmutation detection (seed 6):\n  " + "\n  ".join(lines))
    assert all(report.total[f] >= 10 for f in FAULTS), report.total
    assert report.rate() >= 0.95, report.misses[:20]
    for fault in FAULTS:
        assert report.rate(fault) >= 0.9, (fault, [m for m in report.misses if m[0] == fault][:10])
