"""Every quick fix passes one check before the editor sees it: the fixed template parses
with Jinja2 and its other diagnostics are unchanged (tsr_lsp/jinja_lint/verify.py).

Corpus: ../shared/data/jinja plus the shipped prompt templates, with single faults injected
(tsr_lsp/jinja_lint/mutate.py: the detection faults and the quick-fix faults), then repaired
with the offered fixes only. The oracle is independent of the check: a repaired template
must give back the clean file (blank lines aside) and parse whenever the clean one did.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tsr_lsp.bench.lint import CORPUS_OPTIONS, corpus_dir, corpus_files
from tsr_lsp.jinja_lint import FileIndex, LintOptions, lint_text
from tsr_lsp.jinja_lint.fixes import Fix, fixes_for
from tsr_lsp.jinja_lint.mutate import FIXABLE, FixReport, evaluate_fixes
from tsr_lsp.jinja_lint.verify import apply_edits, check_fix, parse_error, verified_fixes

SHIPPED = Path(__file__).resolve().parents[2] / "templates"
# every kind of fix fixes_for() can propose
KINDS = {
    "Add the missing",
    "Change to",
    "Close the block with",
    "Create template",
    "Declare in the front matter",
    "Remove the declaration of",
    "Remove the unused assignment of",
    "Remove the unused import of",
    "Remove the unused macro",
    "Remove this tag",
}
REPAIRABLE = set(FIXABLE)


@pytest.fixture(scope="module")
def report() -> FixReport:
    root = corpus_dir()
    if not root.is_dir():
        pytest.fail(f"Jinja corpus missing at {root}; set TSR_LSP_JINJA_CORPUS")
    files = corpus_files(root) + [(str(p), p.read_text()) for p in sorted(SHIPPED.glob("*.jinja"))]
    options = LintOptions(**CORPUS_OPTIONS)  # type: ignore[arg-type]
    return evaluate_fixes(files, options, FileIndex([root]), seed=6, per_fault=1)


def test_every_fix_kind_is_offered_and_sound(
    report: FixReport, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{k:34} offered {report.offered.get(k, 0):4}/{report.proposed[k]}" for k in KINDS]
    rows += [
        f"{f:34} repaired {report.repaired.get(f, 0):4}/{report.faults[f]:<4} "
        f"restored {report.restored.get(f, 0):4}"
        for f in sorted(REPAIRABLE & set(report.faults))
    ]
    with capsys.disabled():
        print("\nquick fixes on injected faults (seed 6):\n  " + "\n  ".join(rows))
    assert set(report.proposed) == KINDS
    for kind in KINDS:
        assert report.offered.get(kind, 0) >= 5, (kind, report.proposed[kind])
    assert report.broke_parse == []  # no offered fix left a template Jinja2 rejects
    for fault in REPAIRABLE:
        total = report.faults.get(fault, 0)
        assert total >= 5, (fault, report.faults)
        assert report.repaired.get(fault, 0) >= 0.85 * total, fault
        # where a lost end tag belonged is a guess (indentation); the rest is determined
        least = 0.6 if fault == "deleted_end_tag" else 0.8
        assert report.restored.get(fault, 0) >= least * total, fault


def test_half_typed_closers_are_completed_not_duplicated() -> None:
    cases = {
        "Hello {{ name }": "Hello {{ name }}",
        "Hello {{ name }\n{{ x }}": "Hello {{ name }}\n{{ x }}",
        "{{ a -}\nb": "{{ a -}}\nb",
        "{% if x %\nhi{% endif %}": "{% if x %}\nhi{% endif %}",
        "{% if x }y{% endif %}": "{% if x %}y{% endif %}",
        "{% if x %}{% else %\n{% endif %}": "{% if x %}{% else %}\n{% endif %}",
        "{%- set el = 1 -%\n{{ el }}": "{%- set el = 1 -%}\n{{ el }}",
        "{# note #\n{{ x }}": "{# note #}\n{{ x }}",
        "<p>{{ name </p>\n{{ x }}": "<p>{{ name }}</p>\n{{ x }}",
        "{{ x \n{{ y }}": "{{ x }}\n{{ y }}",
    }
    for broken, want in cases.items():
        result = lint_text(broken)
        d = next(d for d in result.diagnostics if d.code == "JL002")
        fixes = verified_fixes(broken, result, d)
        assert [f.title for f in fixes] == [f"Add the missing '{d.data['closer']}'"], broken
        assert apply_edits(broken, fixes[0].edits) == want
        assert parse_error(want) is None


def test_a_fix_that_fails_the_check_is_not_offered() -> None:
    # the old fix of '{{ name }': Jinja2 parses 'Hello {{ name }} }' and the linter is silent
    src = "Hello {{ name }"
    result = lint_text(src)
    verdict = check_fix(src, result, result.diagnostics[0], Fix("Add", [(13, 13, " }}")]))
    assert not verdict.ok and "remains of the old closer" in verdict.reason
    # a fix Jinja2 rejects, where the linter is told to be silent (noqa)
    src = "{# noqa: JL001 #}{{ x | upperr }}"
    result = lint_text(src)
    (d,) = result.diagnostics
    at = src.index("upperr")
    verdict = check_fix(src, result, d, Fix("Change", [(at, at + 6, "upper +")]))
    assert not verdict.ok and "does not parse: line 1" in verdict.reason
    # a fix that adds a problem elsewhere
    src = "{{ x | upperr }}{{ y }}"
    result = lint_text(src)
    d = next(d for d in result.diagnostics if d.code == "JL020")
    bad = Fix("Change to 'upper'", [(6, 12, "upper"), (19, 20, "y | lowerr")])
    verdict = check_fix(src, result, d, bad)
    assert not verdict.ok and "new diagnostic JL020" in verdict.reason
    # a fix that leaves the problem
    verdict = check_fix(src, result, d, Fix("noop", [(0, 0, "")]))
    assert not verdict.ok and "still reported" in verdict.reason


def test_fixes_into_a_broken_front_matter_are_held_back() -> None:
    """Declaring a variable in a front matter that no longer parses would duplicate a key
    and could not help: the linter proposes it, the check holds it back."""
    src = '{#---\nname = "t"\n[variables\ntext = "str"\n---#}\n{{ text }}{{ tone }}'
    result = lint_text(src)
    d = next(d for d in result.diagnostics if d.code == "JL010" and d.data["name"] == "tone")
    assert any(f.title.startswith("Declare") for f in fixes_for(src, d, result.lines))
    assert not any(f.title.startswith("Declare") for f in verified_fixes(src, result, d))


def test_other_errors_in_the_file_do_not_block_a_fix() -> None:
    """Two faults: each fix is offered even though the file only parses after both."""
    src = "{{ x | upperr }}\n{% for a in b %}\n{{ a }}\n"
    result = lint_text(src)
    d = next(d for d in result.diagnostics if d.code == "JL020")
    (fix,) = verified_fixes(src, result, d)
    assert apply_edits(src, fix.edits).startswith("{{ x | upper }}")
    d = next(d for d in result.diagnostics if d.code == "JL003" and d.severity == "error")
    assert any(f.title.startswith("Close the 'for'") for f in verified_fixes(src, result, d))


def test_parse_error_knows_the_linters_extensions_and_custom_tags() -> None:
    assert parse_error("{% for x in y %}{% break %}{% endfor %}{% do y.append(1) %}") is None
    assert parse_error("{% generation %}x{% endgeneration %}") is None
    assert parse_error("{% trans %}hi{% endtrans %}") is None
    assert parse_error("{% include_block b %}") is not None
    options = LintOptions(custom_tags=["include_block", "cache/endcache"])
    assert parse_error("{% include_block b with context %}", None, options) is None
    assert parse_error("{% cache 1 %}{{ x }}{% endcache %}", None, options) is None
    assert parse_error("{% cache 1 %}{{ x }", None, options) is not None
    line, message = parse_error("a\nb {{ x }") or (0, "")
    assert line == 1 and "'}'" in message
    assert parse_error('{"template": "{{ x }}"}', "t.json") is None
    assert parse_error('{"template": "{{ x }"}', "t.json") is not None
