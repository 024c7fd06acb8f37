"""JL054/JL055 and the new escape checks: the linter says what the sandbox will block, and
stays quiet on ordinary templates."""

from __future__ import annotations

import pytest

from tsr_lsp.jinja_lint import LintOptions, lint_text


def codes(source: str, kind: str = "prompt") -> set[str]:
    return {d.code for d in lint_text(source, None, LintOptions(kind=kind)).diagnostics}


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("{{ [text] * 10000 }}", "JL054"),
        ("{{ text|center(200000) }}", "JL054"),
        ("{{ text|indent(width=500000) }}", "JL054"),
        ("{{ items|map('center', 200000)|join }}", "JL054"),
        ("{{ text.ljust(1000000) }}", "JL054"),
        ("{{ (1).to_bytes(10**9, 'big') }}", "JL054"),
        ("{{ lipsum(1000000) }}", "JL054"),
        ("{{ '%0999999d' % 1 }}", "JL054"),
        ("{{ '%*d'|format(5, 1) }}", "JL054"),
        ("{{ '{:>{w}}'.format(1, w=5) }}", "JL054"),
        ("{{ '{:>999999}'.format(1) }}", "JL054"),
        ("{{ items|sum(start=[]) }}", "JL054"),
        (
            "{% set ns = namespace(s='a') %}{% for i in items %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}",
            "JL054",
        ),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "JL054"),
        (
            "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
            "{{ f(3) }}",
            "JL054",
        ),
        ("{% for x in items recursive %}{{ loop(items) }}{% endfor %}", "JL054"),
        ("{{ " + "(" * 150 + "1" + ")" * 150 + " }}", "JL054"),
        ("{{ text.format(1) }}", "JL051"),
        ("{{ text|attr('format')('{0}', 1) }}", "JL051"),
        ("{{ items|map(attribute='__class__')|list }}", "JL050"),
        ("{{ items|selectattr('__class__') }}", "JL050"),
        ("{{ items|sort(attribute='x.__init__')|first }}", "JL050"),
        ("{{ items|groupby('mro') }}", "JL050"),
        ("{% include '../../etc/passwd' %}", "JL055"),
        ("{% include 'other.jinja' %}", "JL055"),
    ],
)
def test_flagged(source: str, code: str) -> None:
    assert code in codes(source), codes(source)


@pytest.mark.parametrize(
    "source",
    [
        "{{ '-' * 80 }}",
        "{{ text|center(80) }}{{ text|indent(4) }}{{ text|wordwrap(72) }}",
        "{{ items|sum }}{{ items|sum(attribute='price') }}",
        "{{ '{0} and {1}'.format(a, b) }}{{ '%5s' % text }}",
        "{% set ns = namespace(s='') %}{% for i in items %}{% set ns.s = ns.s ~ i %}{% endfor %}",
        "{% macro tree(node) %}{% for c in node.children %}{{ tree(c) }}{% endfor %}"
        "{% endmacro %}{{ tree(root) }}",
        "{% for x in items recursive %}{{ loop(x.children) }}{% endfor %}",
        "{{ items|map(attribute='name')|join(', ') }}{{ items|selectattr('done') }}",
    ],
)
def test_ordinary_templates_are_not_flagged(source: str) -> None:
    assert not codes(source, "generic") & {"JL050", "JL051", "JL054", "JL055"}


def test_absolute_include_is_loader_relative_in_generic_templates() -> None:
    assert "JL055" not in codes("{% include '/partials/nav.html' %}", "generic")
    assert "JL055" in codes("{% include '/partials/nav.html' %}", "prompt")
