"""The front matter's ``system`` string is a template too: rendered with the same
variables, so its uses count and its mistakes are reported on the ``system`` line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsr_lsp.jinja_lint.context import PROMPT
from tsr_lsp.jinja_lint.expr import ParseError, Parser
from tsr_lsp.jinja_lint.lexer import BLOCK, VAR, scan
from tsr_lsp.jinja_lint.model import ERROR
from tsr_lsp.jinja_lint.scopes import suggest

if TYPE_CHECKING:
    from tsr_lsp.jinja_lint.analyzer import Analyzer


class _Uses:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.filters: list[str] = []
        self.tests: list[str] = []

    def use(self, name: str, pos: int) -> None:
        self.names.append(name)

    def on_filter(self, name: str, pos: int, subject: object, *args: object) -> None:
        self.filters.append(name)

    def on_test(self, name: str, pos: int, subject: object) -> None:
        self.tests.append(name)

    def on_call(self, *args: object) -> None:
        pass

    def on_attr(self, *args: object) -> None:
        pass


def check_system_prompt(a: Analyzer) -> None:
    """The front matter's ``system`` string is rendered with the same variables: its uses
    count, and its mistakes are reported on the ``system`` line."""
    ctx = a.ctx
    if not ctx.system or "{" not in ctx.system:
        return
    sink = _Uses()
    local: set[str] = set()
    for tag in scan(ctx.system):
        if tag.kind not in (VAR, BLOCK) or tag.error is not None:
            continue
        try:
            p = Parser(tag.tokens, sink, 0 if tag.kind == VAR else 1)
            if tag.kind == BLOCK:
                name = tag.name
                if name == "for":
                    local.update(t[1] for t in p.target(end_names=("in",)))
                    p.skip_name("in")
                elif name == "set":
                    local.update(t[1] for t in p.target())
                    p.skip_op("=")
                if p.at_end():
                    continue
            p.tuple_(condexpr=tag.kind == VAR)
        except ParseError as exc:
            a.add(
                "JL001",
                ERROR,
                f"in 'system': {exc.message}",
                ctx.system_offset,
                ctx.system_offset + 6,
            )
    start = ctx.system_offset
    for name in sink.names:
        d = a.root.defs.get(name)
        if d is not None:
            d.used = True
        elif name not in a.globals and name not in local and name != "loop" and a.kind == PROMPT:
            a.add(
                "JL010",
                ERROR,
                f"'system' uses {name!r}, which is not declared in the front matter",
                start,
                start + 6,
                name=name,
                suggestions=[],
                declare=True,
            )
    for code, kind, used, known in (
        ("JL020", "filter", sink.filters, a.filters),
        ("JL021", "test", sink.tests, a.tests),
    ):
        for name in used:
            if name not in known:
                a.add(
                    code,
                    ERROR,
                    f"'system' uses unknown {kind} {name!r}",
                    start,
                    start + 6,
                    name=name,
                    suggestions=suggest(name, known),
                )
