"""Server-side template injection: known payloads are refused at render and flagged by the
linter before anyone renders them."""

from __future__ import annotations

import pytest

from tsr_lsp.jinja_lint import LintOptions, lint_text
from tsr_lsp.prompts.sandbox import RenderError, render_string

# (payload, the linter code that must flag it)
PAYLOADS = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "JL050"),
    ("{{ ''.__class__.mro()[1].__subclasses__()[40]('/etc/passwd').read() }}", "JL050"),
    ("{{ cycler.__init__.__globals__.os.popen('id').read() }}", "JL050"),
    ("{{ lipsum.__globals__['os'].popen('id').read() }}", "JL050"),
    ("{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}", "JL050"),
    ("{{ request['__class__'] }}", "JL050"),
    ("{{ request|attr('__class__') }}", "JL050"),
    ("{{ '{0.__class__.__init__.__globals__}'.format(request) }}", "JL051"),
    ("{{ '{0.__class__}'.format(request) }}", "JL051"),
    ("{{ range(10**9)|list|length }}", "JL052"),
    ("{% for i in range(100000000) %}{% endfor %}", "JL052"),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "JL052"),
    ("{{ 'x' * 10**9 }}", "JL052"),
    ("{{ 9 ** 999999 }}", "JL052"),
]


@pytest.mark.parametrize(("payload", "code"), PAYLOADS)
def test_payload_is_blocked_at_render(payload: str, code: str) -> None:
    values = {"request": object()}  # cycler and lipsum: the real Jinja globals
    with pytest.raises(RenderError, match=r"sandbox|exceeds|recursion|loop"):
        render_string(payload, values, max_chars=100_000)


@pytest.mark.parametrize(("payload", "code"), PAYLOADS)
@pytest.mark.parametrize("kind", ["prompt", "chat", "generic"])
def test_payload_is_flagged_by_the_linter(payload: str, code: str, kind: str) -> None:
    result = lint_text(payload, None, LintOptions(kind=kind))
    flagged = [d for d in result.diagnostics if d.code == code]
    assert flagged, [(d.code, d.message) for d in result.diagnostics]
    if kind != "generic" or code == "JL051":
        assert all(d.severity == "error" for d in flagged)
    elif any(step in payload for step in ("__globals__", "__subclasses__", "__mro__", "mro()")):
        # not every Jinja renders sandboxed, but the escape stepping stones stay errors
        assert any(d.severity == "error" for d in flagged)


def test_walks_are_errors_even_in_unsandboxed_templates_but_benign_dunders_warn() -> None:
    result = lint_text(
        "{{ x.__class__.__name__ }}{{ y.__globals__ }}", None, LintOptions(kind="generic")
    )
    by_attr = {d.data["attr"]: d.severity for d in result.diagnostics}
    assert by_attr == {"__class__": "warning", "__name__": "warning", "__globals__": "error"}


@pytest.mark.parametrize(
    "payload",
    [
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "{% for i in range(5000) %}{% for j in items %}{% for k in items %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for x in items recursive %}{{ loop(items) }}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{{ '%999999999s' % 1 }}",
        "{{ '%999999999s' | format(1) }}",
        "{{ 'x' | center(999999999) }}",
        "{{ 'x'.ljust(999999999) }}",
        "{{ [1] | slice(10**9) | list }}",
        "{{ [1] | batch(10**9, 0) | list }}",
        "{{ lipsum(10**6) }}",
        "{% set s = 'x' * 1000 %}{{ s.replace('x', s).replace('x', s) }}",
        "{% set l = [] %}{% do l.append(1) %}",
    ],
)
def test_runaway_work_without_output_is_bounded(payload: str) -> None:
    """The sandbox alone bounds only range(); nested loops that print nothing, padding
    and repetition tricks must stop too, quickly and without eating memory."""
    with pytest.raises(RenderError):
        render_string(payload, {"items": list(range(50))})


def test_ordinary_templates_still_render() -> None:
    src = (
        "{% for m in messages %}{{ loop.index }}:{{ m['content'] | trim }}"
        "{% if loop.last %}!{% endif %}{% else %}none{% endfor %}"
        "|{{ [3, 1] | sort | join(',') }}|{{ 'ab' | center(6) }}|{{ '%5s' | format('x') }}"
        "|{{ 'x' * 3 }}|{{ 2 ** 10 }}|{{ [1, 2, 3] | slice(2) | list }}|{{ {'a': 1} | tojson }}"
        "{% for row in range(3) %}{% for col in range(3) %}"
        "{% if row == col %}{% break %}{% endif %}{% endfor %}{% endfor %}"
    )
    out = render_string(src, {"messages": [{"content": " a "}, {"content": "b"}]})
    assert out == '1:a2:b!|1,3|  ab  |    x|xxx|1024|[[1, 2], [3]]|{"a": 1}'


def test_too_many_tokens_to_compile_is_flagged() -> None:
    """What the sandbox refuses to compile, the linter says first; big plain text is fine."""
    flagged = lint_text("{{ text }}" * 10_000, None, LintOptions(kind="prompt")).diagnostics
    assert any(d.code == "JL054" and "20,000 tokens" in d.message for d in flagged)
    plain = lint_text("plain words " * 30_000, None, LintOptions(kind="prompt")).diagnostics
    assert not [d for d in plain if d.code == "JL054"]
