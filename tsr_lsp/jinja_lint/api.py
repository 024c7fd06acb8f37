"""The linter's entry point: source text (+ options, + optional template index) ->
diagnostics. Pure: no I/O except what the index does when it is asked."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tsr_lsp.jinja_lint.analyzer import Analyzer
from tsr_lsp.jinja_lint.codes import selected
from tsr_lsp.jinja_lint.context import CHAT, PROMPT, Declared, FileContext
from tsr_lsp.jinja_lint.index import TemplateIndex
from tsr_lsp.jinja_lint.model import ERROR, SEVERITY_RANK, Diagnostic, LineIndex, LintOptions

LINTED_SUFFIXES = (".jinja", ".jinja2", ".j2")


@dataclass
class LintResult:
    diagnostics: list[Diagnostic]
    lines: LineIndex
    analysis: Analyzer | None = None

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == ERROR)


def lint_text(
    source: str,
    path: str | None = None,
    options: LintOptions | None = None,
    index: TemplateIndex | None = None,
) -> LintResult:
    options = options or LintOptions()
    if path is not None and path.endswith(".json"):
        return _lint_json(source, path, options, index)
    analyzer = Analyzer(source, options, index, path)
    analyzer.run()
    return LintResult(_finalise(analyzer, analyzer.diags, options), analyzer.lines, analyzer)


def _finalise(a: Analyzer, diags: list[Diagnostic], options: LintOptions) -> list[Diagnostic]:
    lines = a.lines
    noqa = a.noqa
    noqa_file = a.noqa_file
    seen: set[tuple[str, int, str]] = set()
    out: list[Diagnostic] = []
    for d in diags:
        if not selected(d.code, options.select, options.ignore):
            continue
        if noqa_file is None or d.code in noqa_file:
            continue
        if noqa:
            line = lines.line_of(d.start)
            if line in noqa:
                codes = noqa[line]
                if codes is None or d.code in codes:
                    continue
        key = (d.code, d.start, d.message)
        if key in seen:
            continue
        seen.add(key)
        out.append(d)
    out.sort(key=lambda d: (d.start, SEVERITY_RANK.get(d.severity, 3), d.code))
    return out


# ------------------------------------------------------------------ the seed's JSON form
_ESCAPES = {'"': 1, "\\": 1, "/": 1, "b": 1, "f": 1, "n": 1, "r": 1, "t": 1, "u": 5}


def _lint_json(
    source: str, path: str, options: LintOptions, index: TemplateIndex | None
) -> LintResult:
    lines = LineIndex(source)
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        d = Diagnostic("JL060", ERROR, f"not valid JSON: {exc.msg}", exc.pos, exc.pos + 1)
        return LintResult([d], lines)
    key = next(
        (
            k
            for k in ("template", "chat_template")
            if isinstance(data, dict) and isinstance(data.get(k), str)
        ),
        None,
    )
    if key is None:
        d = Diagnostic(
            "JL060",
            ERROR,
            'a JSON template needs a string "template" key '
            '(or "chat_template", as in tokenizer_config.json)',
            0,
            1,
        )
        return LintResult([d], lines)
    m = re.search(rf'"{key}"\s*:\s*"', source)
    body: str = data[key]
    offsets = _string_offsets(source, m.end()) if m else []
    if len(offsets) != len(body) + 1:
        offsets = [m.end() if m else 0] * (len(body) + 1)
    if key == "chat_template":  # a tokenizer_config.json
        ctx = FileContext(CHAT)
        analyzer = Analyzer(body, options, index, path, context=ctx)
        analyzer.run()
        for d in analyzer.diags:
            d.start = offsets[min(max(d.start, 0), len(body))]
            d.end = offsets[min(max(d.end, 0), len(body))]
        analyzer.lines = lines
        return LintResult(_finalise(analyzer, analyzer.diags, options), lines, analyzer)
    ctx = FileContext(PROMPT)
    variables = data.get("variables", {})
    if isinstance(variables, dict):
        for name, vtype in variables.items():
            found = source.find(f'"{name}"')
            ctx.declared[name] = Declared(name, str(vtype), -1, -1)
            ctx.declared[name].start = found
    if isinstance(data.get("system"), str):
        ctx.system = data["system"]
        ctx.system_offset = -1
    analyzer = Analyzer(body, options, index, path, context=ctx)
    analyzer.run()
    system_pos = max(source.find('"system"'), 0)
    mapped: list[Diagnostic] = []
    for d in analyzer.diags:
        if d.start < 0:  # declared-variable or system positions: already JSON offsets
            start = system_pos if d.code != "JL011" else 0
            d.start, d.end = start, start + 8
        elif d.code == "JL011":
            decl = ctx.declared.get(str(d.data.get("name")))
            pos = decl.start if decl and decl.start >= 0 else 0
            d.start, d.end = pos, pos + len(str(d.data.get("name", ""))) + 2
        else:
            d.start = offsets[min(d.start, len(body))]
            d.end = offsets[min(d.end, len(body))]
        mapped.append(d)
    analyzer.lines = lines
    return LintResult(_finalise(analyzer, mapped, options), lines, analyzer)


def _string_offsets(source: str, start: int) -> list[int]:
    """Raw offset of every decoded character of the JSON string starting at ``start``."""
    out: list[int] = []
    i = start
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == '"':
            out.append(i)
            return out
        out.append(i)
        if ch == "\\" and i + 1 < n:
            i += 1 + _ESCAPES.get(source[i + 1], 1)
        else:
            i += 1
    return out
