"""Names, filters, tests, macros and templates: what a template uses against what exists."""

from __future__ import annotations

from pathlib import Path

import jinja2

from tsr_lsp.jinja_lint import FileIndex, LintOptions, lint_text

FRONT = '{#---\nname = "t"\n[variables]\ntext = "str"\nctx = "mapping"\n---#}\n'


def diags(
    src: str, path: str | None = None, index: object = None, **opts: object
) -> list[tuple[int, str, str, str]]:
    """(line, code, severity, message), 1-based lines."""
    result = lint_text(src, path, LintOptions(**opts), index)  # type: ignore[arg-type]
    return [
        (result.lines.line_of(d.start) + 1, d.code, d.severity, d.message)
        for d in result.diagnostics
    ]


def keys(src: str, **kw: object) -> set[tuple[int, str, str]]:
    return {(line, code, sev) for line, code, sev, _ in diags(src, **kw)}  # type: ignore[arg-type]


def test_prompt_template_undefined_and_unused_inputs() -> None:
    src = FRONT + "{{ text }} {{ txet }}\n"
    got = diags(src)
    assert (
        7,
        "JL010",
        "error",
        "'txet' is not declared in the front matter; did you mean 'text'?",
    ) in got
    assert (5, "JL011", "warning", "variable 'ctx' is declared but never used") in got


def test_guarded_names_and_defaults_are_not_undefined() -> None:
    src = (
        FRONT
        + "{{ ctx }}{{ text }}{% if extra is defined %}{{ extra }}{% endif %}"
        + "{{ other | default('') }}"
    )
    assert [d for d in diags(src) if d[1] == "JL010"] == []
    # but a typo inside the guard itself is found: it would be silently always false
    src = (
        FRONT
        + "{% set count = 1 %}{{ ctx }}{{ text }}{{ count }}{% if cuont is defined %}x{% endif %}"
    )
    assert (7, "JL010", "warning") in keys(src)


def test_scopes_loop_macro_call_with_and_set() -> None:
    src = FRONT + (
        "{{ ctx }}{% for item in text %}{{ item }}{{ loop.index }}{% endfor %}{{ item }}\n"
        "{% macro m(a) %}{{ a }}{{ text }}{% endmacro %}{{ m(1) }}{{ a }}\n"
        "{% with w = 1 %}{{ w }}{% endwith %}{{ w }}{% set later = 1 %}{{ later }}\n"
    )
    got = {(line, msg.split("'")[1]) for line, code, _, msg in diags(src) if code == "JL010"}
    assert got == {(7, "item"), (8, "a"), (9, "w")}


def test_chat_template_globals_and_typos() -> None:
    src = (
        "{{ bos_token }}{% for message in messages %}{{ message['content'] | trim }}"
        "{% if loop.last and add_generation_prompt %}x{% endif %}{% endfor %}"
        "{{ mesage }}{{ enable_thinking }}{% if tools is defined %}{{ tools }}{% endif %}"
    )
    got = diags(src, path="chat_templates/model.jinja")
    assert [(c, s) for _, c, s, m in got if "mesage" in m] == [("JL010", "error")]
    assert [(c, s) for _, c, s, m in got if "enable_thinking" in m] == [("JL010", "warning")]
    assert len(got) == 2


def test_generic_template_reports_only_likely_typos() -> None:
    src = (
        "{% for item in items %}{{ item.title }}{% endfor %}\n"
        "{{ page.title }}{{ page.url }}{{ pgae.body }}\n"
        "{{ request.path }}\n"
    )
    got = diags(src)
    assert [(line, code, sev) for line, code, sev, _ in got] == [(2, "JL010", "warning")]
    assert "did you mean 'page'" in got[0][3]


def test_project_vocabulary_finds_typos_of_context_names(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"p{i}.html").write_text("{{ svg_icon('x') }}{{ value.title }}")
    src = "{{ svg_icno('y') }}{{ brand_new_name }}"
    (tmp_path / "new.html").write_text(src)
    got = diags(src, path=str(tmp_path / "new.html"), index=FileIndex([tmp_path]))
    assert [(c, m) for _, c, _, m in got] == [
        ("JL010", "'svg_icno' is not defined here; did you mean 'svg_icon'?")
    ]


def test_unknown_filters_and_tests_even_inside_if_branches() -> None:
    src = "{% if flag %}{{ name | upperr }}{% elif x is evn %}{% endif %}"
    got = keys(src)
    assert (1, "JL020", "warning") in got and (1, "JL021", "warning") in got
    # Jinja compiles this without complaint: the filter inside the branch is never checked
    jinja2.Environment().from_string(src)
    # closed environments (prompt and chat templates, or --strict) make them errors
    assert (7, "JL020", "error") in keys(FRONT + "{{ text | upperr }}{{ ctx }}")
    assert (1, "JL020", "error") in keys("{{ x | upperr }}", strict=True)
    # a filter without any near builtin is only information (a project filter, probably)
    assert keys("{{ x | richtext }}") == {(1, "JL020", "info")}
    assert keys("{{ x | richtext }}", extra_filters=["richtext"]) == set()


def test_unused_set_macro_import() -> None:
    src = FRONT + (
        "{{ text }}{{ ctx }}{% set unused = 1 %}{% macro never() %}{% endmacro %}\n"
        "{% import 'x.jinja' as lib %}{% for i in text %}{% set inner = i %}{% endfor %}\n"
    )
    got = keys(src)
    assert {
        (7, "JL012", "warning"),
        (7, "JL013", "warning"),
        (8, "JL014", "warning"),
        (8, "JL012", "warning"),
    } <= got


def test_macro_arity() -> None:
    src = (
        "{% macro card(title, body, footer=none) %}"
        "{{ title }}{{ body }}{{ footer }}{% endmacro %}\n"
        "{{ card('a', 'b') }}\n"
        "{{ card('a', 'b', 'c', 'd') }}\n"
        "{{ card('a', 'b', colour='red') }}\n"
        "{{ card('a', title='b') }}\n"
        "{{ card('a') }}\n"
        "{% macro flex() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ flex(1, 2, x=3) }}\n"
    )
    got = keys(src)
    assert {
        (3, "JL030", "error"),
        (4, "JL030", "error"),
        (5, "JL030", "error"),
        (6, "JL030", "info"),
    } <= got
    assert not any(line in (2, 7) for line, _, _ in got)


def test_macro_arity_across_files_and_missing_import_names(tmp_path: Path) -> None:
    (tmp_path / "forms.html").write_text(
        "{% macro field(name, label) %}{{ name }}{{ label }}{% endmacro %}"
    )
    src = (
        "{% import 'forms.html' as forms %}{% from 'forms.html' import field, nope %}\n"
        "{{ forms.field('a', 'b', 'c') }}{{ field(name='x', colour=1) }}\n"
    )
    got = keys(src, path=str(tmp_path / "page.html"), index=FileIndex([tmp_path]))
    assert (1, "JL041", "warning") in got
    assert (2, "JL030", "error") in got


def test_missing_templates_warn_in_a_tree_and_fail_with_search_paths(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "head.html").write_text("head")
    src = (
        "{% include 'partials/head.html' %}{% include 'partials/foot.html' %}"
        "{% include 'gone.html' ignore missing %}"
    )
    page = str(tmp_path / "page.html")
    assert keys(src, path=page, index=FileIndex([tmp_path])) == {(1, "JL040", "warning")}
    strict = FileIndex([tmp_path], [tmp_path])
    assert keys(src, path=page, index=strict) == {(1, "JL040", "error")}
    # a list of candidates is missing only if none exists (select_template semantics)
    assert (
        keys("{% include ['nope.html', 'partials/head.html'] %}", path=page, index=strict) == set()
    )


def test_front_matter_errors_point_at_the_toml_line() -> None:
    src = (
        '{#---\nname = "t"\ndescription = "unterminated\n[variables]\ntext = "str"\n'
        "---#}\n{{ text }}"
    )
    assert (3, "JL060", "error") in keys(src)
    src = (
        '{#---\nname = "t"\n[variables]\ntext = "strng"\nbad-name = "str"\n[route]\nfoo = 1\n'
        "---#}\n{{ text }}"
    )
    got = keys(src)
    assert {(4, "JL061", "warning"), (5, "JL061", "error"), (7, "JL061", "warning")} <= got
    assert (1, "JL060", "error") in keys("{#---\nname = 'x'\n{{ text }}")


def test_system_prompt_uses_count_and_are_checked() -> None:
    src = (
        '{#---\nname = "t"\nsystem = "You analyse {{ language }} for {{ audiance }}."\n'
        '[variables]\nlanguage = "str"\ntext = "str"\n---#}\n{{ text }}'
    )
    got = diags(src)
    assert not any(c == "JL011" for _, c, _, _ in got)  # language is used by the system prompt
    assert [(line, c) for line, c, _, m in got if "audiance" in m] == [(3, "JL010")]


def test_json_prompt_templates() -> None:
    src = (
        '{\n  "system": "Be brief.",\n  "variables": {"text": "str"},\n'
        '  "template": "Text: {{ text | uper }}"\n}\n'
    )
    got = diags(src, path="t.json")
    assert [(line, c) for line, c, _, _ in got] == [(4, "JL020")]
    assert diags('{"template": "{{ x }"', path="t.json")[0][1] == "JL060"


def test_tokenizer_config_chat_template() -> None:
    import json

    template = "{% for m in messages %}{{ m['content'] | trimm }}{% endfor %}{{ eos_tokn }}"
    src = json.dumps({"bos_token": "<s>", "chat_template": template}, indent=2)
    result = lint_text(src, "model/tokenizer_config.json")
    assert result.analysis is not None and result.analysis.kind == "chat"
    spans = {d.code: src[d.start : d.end] for d in result.diagnostics}
    assert spans == {"JL020": "trimm", "JL010": "eos_tokn"}


def test_typo_in_one_word_of_a_compound_context_name() -> None:
    src = (
        "timeout {{ nginx_keepalive_timeout }}\nrequests {{ nginx_keeplaive_requests }}\n"
        "{% if nginx_keepalive_enabled %}on{% endif %}\n"
    )
    got = [(line, code, msg) for line, code, _, msg in diags(src)]
    assert got == [
        (
            2,
            "JL010",
            "'nginx_keeplaive_requests' is not defined here; "
            "did you mean 'nginx_keepalive_requests'?",
        )
    ]
    # different words are different names, not typos
    assert diags("{{ match_id }}\n{{ batch_size }}\n{{ page_title }}\n{{ page_titles }}") == []


def test_loop_variable_named_after_its_iterable_is_not_a_typo() -> None:
    src = "{% for scriptfile in script_files %}{{ js_tag(scriptfile) }}{% endfor %}"
    assert diags(src) == []
