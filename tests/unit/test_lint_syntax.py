"""The linter's syntax and structure checks: several errors per file, each with line and
column, and no cascade of follow-up errors."""

from __future__ import annotations

import jinja2
import pytest

from tsr_lsp.jinja_lint import LintOptions, lint_text


def found(src: str, **opts: object) -> list[tuple[int, int, str, str]]:
    """(line, column, code, severity), 1-based."""
    result = lint_text(src, None, LintOptions(**opts))  # type: ignore[arg-type]
    out = []
    for d in result.diagnostics:
        line, col = result.lines.position(d.start)
        out.append((line + 1, col + 1, d.code, d.severity))
    return out


def codes_at(src: str, **opts: object) -> set[tuple[int, str]]:
    return {(line, code) for line, _, code, _ in found(src, **opts)}


def test_several_syntax_errors_each_with_line_and_column() -> None:
    src = "{{ foo bar }}\nok {{ x }}\n{% if %}{% endif %}\n{{ 1 + }}\n{{ a.}}\n"
    got = [(line, col, code) for line, col, code, sev in found(src) if sev == "error"]
    assert (1, 8, "JL001") in got  # 'bar' is where the expression stops making sense
    assert (3, 7, "JL001") in got
    assert (4, 8, "JL001") in got
    assert (5, 6, "JL001") in got
    # Jinja itself stops at the first one and gives no column
    with pytest.raises(jinja2.TemplateSyntaxError) as info:
        jinja2.Environment().parse(src)
    assert info.value.lineno == 1


def test_unclosed_expression_is_reported_at_its_opener_and_scanning_recovers() -> None:
    src = "<p>{{ user.name </p>\n<p>{{ other | upperr }}</p>\n"
    got = found(src)
    assert (1, 4, "JL002", "error") in got
    # the next tag is still analysed (not swallowed by the unclosed one)
    assert any(code == "JL020" and line == 2 for line, _, code, _ in got)


def test_lost_closing_braces_on_a_multiline_tag_points_at_the_first_line() -> None:
    src = '<a href="{{ url\n   ">link</a> text }}\n'
    assert (1, "JL002") in codes_at(src)


def test_unclosed_comment_and_nested_comment_opener() -> None:
    assert (1, "JL002") in codes_at("{# never closed\n{{ x }}")
    got = codes_at("{# a comment missing its end\n{{ x }}\n{# another #}")
    assert (1, "JL002") in got  # '{#' inside the comment: the first one lost its '#}'


def test_unclosed_block_reported_at_opener_with_indentation_guess() -> None:
    src = "{% for x in xs %}\n  {% if x %}\n    {{ x }}\n\n{% endfor %}\n"
    got = found(src)
    assert (2, 3, "JL003", "error") in got  # the if is never closed
    assert (5, 1, "JL004", "error") in got  # endfor met while the if is open
    assert (4, 1, "JL003", "info") in got  # where the endif probably belonged
    assert not any(code == "JL005" for _, _, code, _ in got)  # no cascade


def test_orphan_and_mismatched_tags() -> None:
    got = codes_at("{% endif %}\n{% else %}\n{% if a %}{% endfor %}{% endif %}")
    assert (1, "JL005") in got and (2, "JL005") in got
    assert (3, "JL005") in got  # endfor with no for open
    src = "{% if a %}{% else %}{% else %}{% endif %}\n{% if b %}{% else %}{% elif c %}{% endif %}"
    assert {(1, "JL001"), (2, "JL001")} <= codes_at(src)


def test_misspelt_end_tag_is_a_typo_not_a_cascade() -> None:
    src = "{% for a in b %}\n{{ a }}\n{% endfro %}\n<p>after</p>"
    got = found(src)
    assert (3, 4, "JL006", "error") in got
    assert not any(code in ("JL003", "JL004", "JL005") for _, _, code, _ in got)


def test_unknown_tags_custom_tags_and_inferred_block_tags() -> None:
    assert (1, "JL006") in codes_at("{% frobnicate x %}")
    assert codes_at("{% include_block page.body %}", custom_tags=["include_block"]) == set()
    # an unknown tag with a matching end tag is treated as a block (warning, no cascade)
    got = found("{% cache 600 %}\n{{ x }}\n{% endcache %}")
    assert [(c, s) for _, _, c, s in got] == [("JL006", "warning")]
    assert found("{% cache 600 %}{% endcache %}", custom_tags=["cache/endcache"]) == []
    assert (1, "JL006") in codes_at("{% frobnicate %}", kind="prompt")


def test_raw_blocks_are_not_parsed() -> None:
    assert found("{% raw %}{{ not jinja {% at all %}{% endraw %}{{ 1 }}") == []
    assert (1, "JL003") in codes_at("{% raw %}{{ x }}")


def test_duplicate_blocks_and_loop_controls() -> None:
    assert (2, "JL007") in codes_at("{% block a %}{% endblock %}\n{% block a %}{% endblock %}")
    assert (1, "JL008") in codes_at("{% break %}")
    assert codes_at("{% for x in y %}{% if x %}{% break %}{% endif %}{% endfor %}") == set()


def test_whitespace_control_and_line_endings() -> None:
    src = "{%- if a -%}\r\n  {{- a -}}\r\n{%+ endif +%}\r\n"
    assert found(src, kind="generic") == []


def test_noqa_per_line_and_per_file() -> None:
    src = "{{ a | nope }} {# noqa: JL020 #}\n{{ b | nope }}\n"
    got = codes_at(src)
    assert (1, "JL020") not in got and (2, "JL020") in got
    assert codes_at("{# noqa-file: JL020 #}\n{{ b | nope }}") == set()
    assert codes_at("{{ b | nope }}{# noqa #}") == set()


def test_select_and_ignore_by_prefix() -> None:
    src = "{{ a | nope }}\n{% endif %}"
    assert {c for _, c in codes_at(src, select=["JL02"])} == {"JL020"}
    assert {c for _, c in codes_at(src, ignore=["JL02"])} == {"JL005"}


def test_valid_jinja_features_are_clean() -> None:
    src = """{% extends "base.html" %}
{% import "forms.html" as forms with context %}
{% from "m.html" import a as b, c with context %}
{% block body scoped %}
  {% set ns = namespace(total=0) %}
  {% for k, v in items.items() if v is not none recursive %}
    {% set ns.total = ns.total + v %}{{ loop.index }}{{ loop(v.children) if v.children }}
  {% else %}none
  {% endfor %}
  {% with a = 1, b = [1, 2] %}{{ a }}{{ b[0:1] }}{% endwith %}
  {% filter upper | trim %}x{% endfilter %}
  {% macro m(x, y=2) %}{{ x }}{{ y }}{{ varargs }}{{ caller() if caller }}{% endmacro %}
  {% call(item) m(1, 2, 3) %}{{ item }}{% endcall %}
  {% set block_var %}text{% endset %}{{ block_var }}{{ ns.total }}
  {{ forms.input(b, c) }}{{ super() }}{{ "%s" | format(1) }}{{ x is divisibleby 3 }}
  {% autoescape true %}{{ '<' }}{% endautoescape %}{% do [].append(1) %}
  {{ {'a': {'b': 1}}['a'] }}{{ -1 | abs }}{{ 2 ** 3 // 2 }}{{ a ~ b if a else c }}
{% endblock %}"""
    bad = [f for f in found(src) if f[3] == "error"]
    assert bad == []
