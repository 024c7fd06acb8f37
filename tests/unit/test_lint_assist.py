"""Quick fixes, completion and hover as pure functions (the editor tests cover the wire)."""

from __future__ import annotations

from pathlib import Path

from tsr_lsp.jinja_lint import FileIndex, lint_text
from tsr_lsp.jinja_lint.assist import complete, hover
from tsr_lsp.jinja_lint.fixes import Fix
from tsr_lsp.jinja_lint.verify import verified_fixes

FRONT = (
    '{#---\nname = "t"\n[variables]\ntext = { type = "str", description = "the input" }\n---#}\n'
)


def apply(src: str, fix: Fix) -> str:
    for start, end, text in sorted(fix.edits, reverse=True):
        src = src[:start] + text + src[end:]
    return src


def fixes(src: str, code: str) -> dict[str, str]:
    result = lint_text(src)
    out = {}
    for d in result.diagnostics:
        if d.code == code:
            for fix in verified_fixes(src, result, d):
                out[fix.title] = apply(src, fix) if fix.edits else f"create:{fix.create}"
    return out


def test_did_you_mean_fixes() -> None:
    assert fixes("{{ x | upperr }}", "JL020") == {"Change to 'upper'": "{{ x | upper }}"}
    assert fixes("{{ x is evn }}", "JL021")["Change to 'even'"] == "{{ x is even }}"
    assert fixes("{% for a in b %}{% endfro %}", "JL006")["Change to 'endfor'"].endswith(
        "{% endfor %}"
    )


def test_declare_in_front_matter_and_remove_unused() -> None:
    src = FRONT + "{{ text }}{{ tone }}"
    got = fixes(src, "JL010")
    assert got["Declare 'tone' in the front matter"].startswith(
        '{#---\nname = "t"\n[variables]\ntext = { type = "str", description = "the input" }\n'
        'tone = "str"\n---#}'
    )
    src = '{#---\nname = "t"\n---#}\n{{ tone }}'
    assert (
        '[variables]\ntone = "str"\n---#}'
        in fixes(src, "JL010")["Declare 'tone' in the front matter"]
    )
    src = FRONT.replace("text = {", 'old = "str"\ntext = {') + "{{ text }}"
    assert fixes(src, "JL011") == {"Remove the declaration of 'old'": FRONT + "{{ text }}"}
    src = FRONT + "{{ text }}\n{% set unused = 1 %}\nafter"
    assert fixes(src, "JL012") == {
        "Remove the unused assignment of 'unused'": FRONT + "{{ text }}\nafter"
    }
    src = FRONT + "{{ text }}\n{% macro m() %}\n  x\n{% endmacro %}\n"
    assert fixes(src, "JL013") == {"Remove the unused macro 'm'": FRONT + "{{ text }}\n"}


def test_close_block_remove_orphan_add_delimiter() -> None:
    src = "{% if a %}\n  {% for x in y %}\n    {{ x }}\n{% endif %}\n"
    got = fixes(src, "JL003")
    closed = next(v for k, v in got.items() if k.startswith("Close the 'for'"))
    assert closed == "{% if a %}\n  {% for x in y %}\n    {{ x }}\n  {% endfor %}\n{% endif %}\n"
    assert fixes("a\n{% endif %}\nb", "JL005") == {"Remove this tag": "a\nb"}
    assert fixes("<p>{{ name </p>\n{{ x }}", "JL002") == {
        "Add the missing '}}'": "<p>{{ name }}</p>\n{{ x }}"
    }


def test_completion_contexts() -> None:
    src = FRONT + "{% for item in text %}{{ item | up }}{% endfor %}{% i"
    a = lint_text(src).analysis
    assert a is not None
    at_filter = src.index("| up") + 4
    labels = {i.label for i in complete(a, at_filter)}
    assert {"upper", "trim"} <= labels and "item" not in labels
    at_var = src.index("{{ item") + 3
    items = {i.label: i for i in complete(a, at_var)}
    assert items["item"].detail.startswith("item: loop variable")
    assert items["text"].detail == "text: str"
    assert "range" in items and "upper" not in items
    outside = src.index("{% endfor")
    assert "item" not in {i.label for i in complete(a, outside - 1)}  # after the loop body
    tags = {i.label for i in complete(a, len(src))}
    assert {"if", "include", "set"} <= tags
    tests = {i.label for i in complete(lint_text("{{ x is  }}").analysis, 8)}  # type: ignore[arg-type]
    assert {"defined", "even", "none"} <= tests
    loop = {
        i.label for i in complete(lint_text("{% for x in y %}{{ loop. }}{% endfor %}").analysis, 24)
    }  # type: ignore[arg-type]
    assert {"index", "first", "last"} <= loop


def test_hover_texts() -> None:
    src = (
        FRONT
        + "{{ text | trim }}{% for x in text %}{{ x is even }}{{ loop.index }}{% endfor %}{{ ctx }}"
    )
    a = lint_text(src).analysis
    assert a is not None

    def at(fragment: str, extra: int = 0) -> str:
        found = hover(a, src.index(fragment) + extra)
        return found[0] if found else ""

    assert "text: str" in at("text |") and "line 4" in at("text |") and "the input" in at("text |")
    assert "Strip leading and trailing" in at("trim")
    assert "loop variable" in at("x is", 0)
    assert "Return true if the variable is even" in at("even")
    assert "1-based" in at("index")
    assert "render context" in at("ctx")
    assert "tag `for`" in at("for x")


def test_template_names_and_imported_macros(tmp_path: Path) -> None:
    (tmp_path / "partials").mkdir()
    (tmp_path / "partials" / "head.html").write_text("<head>")
    (tmp_path / "forms.html").write_text("{% macro field(name, label) %}{{ name }}{% endmacro %}")
    src = "{% import 'forms.html' as forms %}{{ forms. }}{% include '' %}"
    index = FileIndex([tmp_path])
    a = lint_text(src, str(tmp_path / "page.html"), None, index).analysis
    assert a is not None
    names = {i.label for i in complete(a, src.index("'' %}") + 1, index)}
    assert {"partials/head.html", "forms.html"} <= names
    macros = {i.label: i.detail for i in complete(a, src.index("forms. }}") + 6, index)}
    assert macros == {"field": "field(name, label)"}
    found = hover(a, src.index("'forms.html'") + 2, index)
    assert found is not None and "found" in found[0] and "not" not in found[0]
