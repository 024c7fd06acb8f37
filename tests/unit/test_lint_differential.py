"""Differential test against Jinja itself: random templates (valid and broken), and the
linter must never call a template broken that Jinja parses, and must rarely miss one that
Jinja rejects. Seeded, so failures reproduce."""

from __future__ import annotations

import random

import jinja2

from tsr_lsp.jinja_lint import LintOptions, lint_text

ENV = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])
BINARY = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">=", "and", "or", "in"]
NAMES = ["a", "b", "items", "user", "x", "loop", "ns"]
FILTERS = [
    "upper",
    "default('x')",
    "join(', ')",
    "length",
    "map(attribute='n')",
    "round(2)",
    "replace('a', 'b')",
]
TESTS = ["defined", "none", "even", "divisibleby 3", "sameas false", "in [1, 2]", "string"]


def expr(r: random.Random, d: int = 0) -> str:
    k = r.randrange(14 if d < 3 else 4)
    if k == 0:
        return r.choice(NAMES)
    if k == 1:
        return repr(r.choice(["s", "it's", 'q"'])) if r.random() < 0.8 else str(r.randrange(100))
    if k == 2:
        return r.choice(["1.5", "1e3", "0x1F", "1_000", "true", "none", "False"])
    if k == 3:
        return f"{r.choice(NAMES)}.{r.choice(['y', 'z', '0'])}"
    if k == 4:
        return f"{expr(r, d + 1)} {r.choice(BINARY)} {expr(r, d + 1)}"
    if k == 5:
        return f"not {expr(r, d + 1)}"
    if k == 6:
        return f"{expr(r, d + 1)} | {r.choice(FILTERS)}"
    if k == 7:
        return f"{expr(r, d + 1)} is {r.choice(['', 'not '])}{r.choice(TESTS)}"
    if k == 8:
        return f"({expr(r, d + 1)})"
    if k == 9:
        return f"[{', '.join(expr(r, d + 1) for _ in range(r.randrange(3)))}]"
    if k == 10:
        return (
            "{"
            + ", ".join(f"{r.choice(NAMES)}: {expr(r, d + 1)}" for _ in range(r.randrange(3)))
            + "}"
        )
    if k == 11:
        return f"{expr(r, d + 1)} if {expr(r, d + 1)} else {expr(r, d + 1)}"
    if k == 12:
        args = [expr(r, d + 1) for _ in range(r.randrange(3))]
        if r.random() < 0.3:
            args.append("k=" + expr(r, d + 1))
        return f"{r.choice(NAMES)}({', '.join(args)})"
    return f"{expr(r, d + 1)}[{r.choice(['1', '1:2', ':', '::2', expr(r, d + 1)])}]"


def stmt(r: random.Random) -> str:
    k = r.randrange(12)
    e = expr(r)
    if k == 0:
        return "{{ " + e + " }}"
    if k == 1:
        return "{% if " + e + " %}y{% elif " + expr(r) + " %}z{% else %}w{% endif %}"
    if k == 2:
        return "{% for i, j in " + e + " if i recursive %}{{ loop.index }}{% else %}-{% endfor %}"
    if k == 3:
        return "{% set q = " + e + " %}{{ q }}"
    if k == 4:
        return "{% set ns.v = " + e + " %}"
    if k == 5:
        return "{% macro m(a, b=" + e + ") %}{{ a }}{% endmacro %}{{ m(1) }}"
    if k == 6:
        return "{% with w = " + e + " %}{{ w }}{% endwith %}"
    if k == 7:
        return "{% filter upper %}" + "{{ " + e + " }}{% endfilter %}"
    if k == 8:
        return "{% print " + e + " %}"
    if k == 9:
        return "{% do " + e + " %}"
    if k == 10:
        return "{% call(c) m(" + e + ") %}{{ c }}{% endcall %}"
    return "{% set blk %}{{ " + e + " }}{% endset %}"


def mutate(r: random.Random, s: str) -> str:
    ops = ["drop", "dup", "insert", "swap"]
    for _ in range(r.randrange(1, 3)):
        if not s:
            break
        i = r.randrange(len(s))
        op = r.choice(ops)
        if op == "drop":
            s = s[:i] + s[i + 1 :]
        elif op == "dup":
            s = s[:i] + s[i] + s[i:]
        elif op == "insert":
            s = (
                s[:i]
                + r.choice(
                    [*"()[]{}|,.:'\"%=+ -~", " is ", " not ", " if ", "}}", "%}", "{{", "{%"]
                )
                + s[i:]
            )
        else:
            j = min(len(s) - 1, i + 1)
            s = s[:i] + s[j] + s[i] + s[j + 1 :]
    return s


SYNTAX = {"JL001", "JL002", "JL003", "JL004", "JL005", "JL006", "JL007", "JL008"}


def check(src: str) -> tuple[bool, bool, str, list]:  # type: ignore[type-arg]
    try:
        ENV.parse(src)
        ok = True
        msg = ""
    except jinja2.TemplateSyntaxError as e:
        ok = False
        msg = str(e)
    diags = [
        d
        for d in lint_text(src, None, LintOptions(kind="generic")).diagnostics
        if d.code in SYNTAX and d.severity == "error"
    ]
    return ok, not diags, msg, diags


def test_linter_agrees_with_jinja_on_random_templates() -> None:
    r = random.Random(20)
    false_errors: list[tuple[str, list[str]]] = []
    missed: list[tuple[str, str]] = []
    n = 1500
    for _ in range(n):
        src = "".join(stmt(r) for _ in range(r.randrange(1, 3)))
        if r.random() < 0.5:
            src = mutate(r, src)
        jinja_ok, lint_ok, message, diags = check(src)
        if jinja_ok and not lint_ok:
            false_errors.append((src, [d.message for d in diags]))
        elif not jinja_ok and lint_ok:
            missed.append((src, message))
    assert false_errors == []
    # what it misses: garbled tag names that could be an extension's tags (a warning)
    assert len(missed) <= n * 0.01, missed[:5]


def test_garbage_never_crashes_lint_completion_or_hover() -> None:
    """The editor sends half-typed text on every keystroke: nothing may raise."""
    from tsr_lsp.jinja_lint.assist import complete, hover
    from tsr_lsp.jinja_lint.fixes import fixes_for

    r = random.Random(7)
    alphabet = [*"{}%#-+|.,:()[]'\"=<>!~*/ \n\tabcxyz019_é", "{{", "}}", "{%", "%}", "{#", "#}"]
    alphabet += ["if ", "endif", "for ", " in ", "endfor", "macro ", "set ", "raw", "endraw", "---"]
    for i in range(600):
        src = "".join(r.choice(alphabet) for _ in range(r.randrange(1, 80)))
        if i % 5 == 0:
            src = "{#---\nname = 'x'\n[variables]\na = \"str\"\n---#}\n" + src
        path = "t.json" if i % 7 == 0 else None
        result = lint_text(src, path)
        for d in result.diagnostics:
            assert 0 <= d.start <= d.end <= len(src) + 2, (src, d)
            fixes_for(src, d, result.lines)
        if result.analysis is not None and path is None:
            for offset in (0, len(src) // 2, len(src)):
                complete(result.analysis, offset)
                hover(result.analysis, offset)
