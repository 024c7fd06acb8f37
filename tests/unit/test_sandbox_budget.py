"""The prompt sandbox's budget: resource attacks fail fast with a RenderError that says why,
escapes stay blocked, and ordinary templates (big inputs included) still render."""

from __future__ import annotations

import pytest

from tsr_lsp.bench.payloads import ESCAPES, RESOURCES, VARIABLES, fill
from tsr_lsp.prompts.sandbox import RenderError, render_string

# renders a small result quickly: not an attack once bounded
HARMLESS = {"{{ ('<' * 200000)|striptags|length }}"}


@pytest.mark.parametrize("payload", [p for p in RESOURCES if p not in HARMLESS])
def test_resource_attacks_are_refused(payload: str) -> None:
    with pytest.raises(RenderError, match=r"sandbox|recursion|exceeds"):
        render_string(payload, VARIABLES)


@pytest.mark.parametrize("payload", ESCAPES)
def test_escapes_never_reach_the_canary(payload: str, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    canary = "canary-4f1e9b"
    monkeypatch.setenv("TSR_BENCH_CANARY", canary)
    (tmp_path / "canary.txt").write_text(canary)
    pwn = tmp_path / "pwned"
    source = fill(payload, tmp_path / "canary.txt", pwn)
    try:
        out = render_string(source, VARIABLES)
    except RenderError:
        out = ""
    assert canary not in out
    assert not pwn.exists()


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "'~' concatenation",
        ),
        ("{{ ([[0] * 200000] * 10000)|sum(start=[])|length }}", "'sum' would concatenate"),
        ("{{ '{:>{w}}'.format(1, w=999999999) }}", "too big"),
        ("{{ ('{0}' * 50000).format('x' * 200000) }}", "str.format would build"),
        ("{{ range(10000)|map('string')|map('center', 200000)|join }}", "memory budget"),
        ("{% include 'x.txt' %}", "cannot include, import or extend"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ (1).to_bytes(10**9, 'big') }}", "to_bytes argument"),
    ],
)
def test_the_error_says_which_limit(source: str, reason: str) -> None:
    with pytest.raises(RenderError) as err:
        render_string(source, VARIABLES)
    assert reason in str(err.value)


def test_time_budget() -> None:
    busy = "{% for i in range(10000) %}{% for j in range(9) %}{{ i * j }}{% endfor %}{% endfor %}"
    with pytest.raises(RenderError, match="took longer than"):
        render_string(busy, {}, max_seconds=0.0, max_chars=10**7)
    assert render_string("{{ 6 * 7 }}", {}, max_seconds=5.0) == "42"


def test_memory_budget_counts_everything_a_render_builds() -> None:
    src = "{% for i in range(30) %}{{ (text * 1000)|length }}{% endfor %}"
    assert render_string(src, {"text": "abc"}).startswith("3000")
    with pytest.raises(RenderError, match="memory budget"):
        render_string(src, {"text": "abc"}, max_built=50_000)


def test_big_inputs_pass_through() -> None:
    """A 1.5 MB code context is the caller's data, not something the template built."""
    code = "x = 1\n" * 250_000
    out = render_string("{{ code ~ '\\n' }}{{ code|length }}", {"code": code}, max_chars=4_000_000)
    assert out.endswith("\n1500000")


def test_source_size_cap() -> None:
    with pytest.raises(RenderError, match="characters"):
        render_string("x" * 600_000, {})


def test_token_cap_refuses_before_compiling() -> None:
    """Compiling cannot be interrupted: a template of many small tags is refused by counting
    its tokens, while plain text of the same size and a realistic template still render."""
    with pytest.raises(RenderError, match="more than 20,000 tokens"):
        render_string("{{ text }}" * 10_000, {"text": "x"})
    assert render_string("{{ text }}" * 2_000, {"text": "x"}) == "x" * 2_000
    assert len(render_string("plain words " * 30_000, {}, max_chars=10**6)) == 360_000


def test_compiled_cache_is_bounded_by_source_size() -> None:
    from tsr_lsp.prompts.sandbox import _CompiledCache

    cache = _CompiledCache(max_chars=1_000)
    small = [f"{{{{ {i} }}}}" + "." * 80 for i in range(20)]  # 89 characters each
    for source in small:
        cache(source)
    assert cache.chars <= 1_000 and len(cache) == 1_000 // 89
    assert cache(small[-1]) is cache(small[-1])  # recent ones stay compiled
    cache("{{ 1 }}" + "." * 200)  # over a tenth of the budget: compiled, not kept
    assert len(cache) == 1_000 // 89 and cache.chars <= 1_000
