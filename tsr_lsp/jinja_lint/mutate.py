"""Fault injection into real templates, to measure what the linter catches.

Each fault is a single edit a person makes by accident (a deleted end tag, a misspelt
filter, test or variable, a lost ``}}``, broken front matter, a wrong number of macro
arguments), applied to a clean file. A fault counts as detected when the linter reports a
diagnostic on the right line that the clean file did not have. Deterministic for a seed.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass

from tsr_lsp.jinja_lint import knowledge as K
from tsr_lsp.jinja_lint.analyzer import Analyzer, call_target
from tsr_lsp.jinja_lint.api import LintResult, lint_text
from tsr_lsp.jinja_lint.expr import Node
from tsr_lsp.jinja_lint.index import TemplateIndex
from tsr_lsp.jinja_lint.lexer import BLOCK, VAR, scan
from tsr_lsp.jinja_lint.model import SEVERITY_RANK, LineIndex, LintOptions
from tsr_lsp.jinja_lint.scopes import Scope, Signature

FAULTS = (
    "deleted_end_tag",
    "misspelt_filter",
    "misspelt_test",
    "misspelt_variable",
    "unclosed_expression",
    "broken_front_matter",
    "macro_arity",
)
_FRONT = (
    '{{#---\nname = "{name}"\ndescription = "A prompt."\nsystem = "You are helpful."\n'
    "[variables]\n{vars}---#}}\n"
)


@dataclass
class Mutant:
    fault: str
    source: str
    lines: tuple[int, ...]  # 0-based lines where a report counts as "on the right line"
    note: str


class _Recorder(Analyzer):
    """An analyzer that also remembers every variable use, filter, test and call."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen_uses: list[tuple[str, int]] = []
        self.seen_filters: list[tuple[str, int]] = []
        self.seen_tests: list[tuple[str, int]] = []
        self.seen_calls: list[tuple[Node, int, list[str], int]] = []

    def use(self, name: str, pos: int) -> None:
        self.seen_uses.append((name, pos))
        super().use(name, pos)

    def on_filter(
        self, name: str, pos: int, subject: Node, args: list[Node], kwargs: dict[str, Node]
    ) -> None:
        self.seen_filters.append((name, pos))
        super().on_filter(name, pos, subject, args, kwargs)

    def on_test(self, name: str, pos: int, subject: Node) -> None:
        self.seen_tests.append((name, pos))
        super().on_test(name, pos, subject)

    def on_call(self, func: Node, args: list[Node], kwargs: list[str], pos: int, dyn: bool) -> None:
        if not dyn:
            self.seen_calls.append((func, len(args), kwargs, pos))
        super().on_call(func, args, kwargs, pos, dyn)


def misspell(word: str, rng: random.Random, taken: set[str] | frozenset[str]) -> str | None:
    """One random single edit (swap, drop, insert, replace) giving an unused identifier."""
    letters = string.ascii_lowercase
    for _ in range(20):
        i = rng.randrange(len(word))
        op = rng.choice(("swap", "drop", "insert", "replace"))
        if op == "swap" and len(word) >= 2:
            i = min(i, len(word) - 2)
            new = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif op == "drop" and len(word) >= 3:
            new = word[:i] + word[i + 1 :]
        elif op == "insert":
            new = word[:i] + rng.choice(letters) + word[i:]
        else:
            new = word[:i] + rng.choice(letters) + word[i + 1 :]
        if new != word and new.isidentifier() and new not in taken:
            return new
    return None


def _survey(
    source: str, options: LintOptions | None, index: TemplateIndex | None, path: str | None
) -> tuple[_Recorder, list, set[str]]:
    """The clean file's analysis, its body tags, and every name it already uses."""
    rec = _Recorder(source, options or LintOptions(), index, path)
    rec.run()
    tags = [t for t in scan(source) if t.start >= rec.ctx.body_start]
    taken = set(rec.use_counts) | rec.def_names | rec.globals | K.ALL_TAG_NAMES
    taken |= {t[1] for tag in tags for t in tag.tokens if t[0] == "name"}
    return rec, tags, taken


def mutants(
    source: str,
    rng: random.Random,
    per_fault: int = 2,
    options: LintOptions | None = None,
    index: TemplateIndex | None = None,
    path: str | None = None,
) -> Iterator[Mutant]:
    rec, tags, taken = _survey(source, options, index, path)
    lines = rec.lines
    filters = rec.filters | taken
    tests = rec.tests | taken

    def pick(items: list, k: int = per_fault) -> list:
        return rng.sample(items, min(k, len(items)))

    def replace(pos: int, old: str, new: str) -> str:
        return source[:pos] + new + source[pos + len(old) :]

    # deleted end tags: the opener's line and the deletion line both count
    stack: list[tuple[str, int]] = []
    pairs: list[tuple[int, int, int]] = []  # (opener start, end tag start, end tag end)
    for tag in tags:
        if tag.kind != BLOCK or tag.error is not None or not tag.closed:
            continue
        name = tag.name
        if (name in K.BLOCK_TAGS and name != "raw") or (name == "set" and _is_block_set(tag)):
            stack.append((name, tag.start))
        elif name.startswith("end") and stack and stack[-1][0] == name[3:]:
            opener = stack.pop()
            pairs.append((opener[1], tag.start, tag.end))
    for open_pos, start, end in pick(pairs):
        yield Mutant(
            "deleted_end_tag",
            source[:start] + source[end:],
            (lines.line_of(open_pos), lines.line_of(start)),
            source[start:end],
        )
    for name, pos in pick([f for f in rec.seen_filters if f[0] in K.BUILTIN_FILTERS]):
        new = misspell(name, rng, filters)
        if new:
            yield Mutant(
                "misspelt_filter", replace(pos, name, new), (lines.line_of(pos),), f"{name}->{new}"
            )
    for name, pos in pick([t for t in rec.seen_tests if t[0] in K.BUILTIN_TESTS]):
        new = misspell(name, rng, tests)
        if new:
            yield Mutant(
                "misspelt_test", replace(pos, name, new), (lines.line_of(pos),), f"{name}->{new}"
            )
    for name, pos in pick([u for u in rec.seen_uses if source.startswith(u[0], u[1])]):
        new = misspell(name, rng, taken)
        if new:
            yield Mutant(
                "misspelt_variable",
                replace(pos, name, new),
                (lines.line_of(pos),),
                f"{name}->{new}",
            )
    closers = [t for t in tags if t.kind == VAR and t.closed and t.error is None]
    for tag in pick(closers):
        cut = tag.end - 3 if source[tag.end - 3] == "-" else tag.end - 2
        yield Mutant(
            "unclosed_expression",
            source[:cut] + source[tag.end :],
            (lines.line_of(tag.start),),
            source[tag.start : tag.end][:40],
        )
    yield from _front_matter_mutants(source, rec, rng, per_fault)
    yield from _arity_mutants(source, rec, rng, per_fault, lines)


def _is_block_set(tag: object) -> bool:
    toks = tag.tokens  # type: ignore[attr-defined]
    return not any(t[0] == "op" and t[1] == "=" for t in toks)


def _front_matter_mutants(
    source: str, rec: _Recorder, rng: random.Random, per_fault: int
) -> Iterator[Mutant]:
    """Break the TOML of a template with front matter; files without one get a valid
    front matter first (declaring the names they use), which is then broken."""
    if rec.ctx.front_start >= 0:
        text = source
        start_line = rec.lines.line_of(rec.ctx.front_start) + 1
        end_line = rec.lines.line_of(rec.ctx.body_start) - 1
    else:
        names = sorted({n for n, _ in rec.seen_uses if n not in rec.globals})[:6]
        body = "".join(f'{n} = "any"\n' for n in names)
        text = _FRONT.format(name="mutant", vars=body) + source
        start_line = 1
        end_line = text.count("\n", 0, len(_FRONT.format(name="mutant", vars=body))) - 1
    lines = LineIndex(text)
    candidates = [
        i
        for i in range(start_line, end_line)
        if "=" in lines.line_text(i) or lines.line_text(i).strip().startswith("[")
    ]
    for line in rng.sample(candidates, min(per_fault, len(candidates))):
        src = lines.line_text(line)
        how = rng.choice(("quote", "equals", "bracket", "garbage"))
        if src.strip().startswith("["):
            broken = src.replace("]", "", 1)
        elif how == "quote" and '"' in src:
            broken = src[: src.rindex('"')] + src[src.rindex('"') + 1 :]
        elif how == "equals":
            broken = src.replace("=", "", 1)
        else:
            broken = src + " ]]"
        s = lines.starts[line]
        yield Mutant(
            "broken_front_matter",
            text[:s] + broken + text[s + len(src) :],
            (line,),
            f"{src!r}->{broken!r}",
        )


def _arity_mutants(
    source: str, rec: _Recorder, rng: random.Random, per_fault: int, lines: LineIndex
) -> Iterator[Mutant]:
    from tsr_lsp.jinja_lint.checks import _signature_for

    sites = []
    for func, nargs, kwargs, pos in rec.seen_calls:
        target = call_target(func)
        if target is None:
            continue
        sig = _signature_for(rec, func, _scope_at(rec, pos))
        if sig is not None and source.startswith("(", pos):
            sites.append((sig, nargs, kwargs, pos))
    for sig, nargs, kwargs, pos in rng.sample(sites, min(per_fault, len(sites))):
        close = _matching_paren(source, pos)
        if close is None:
            continue
        inner = source[pos + 1 : close]
        options = []
        if not sig.varargs:
            options.append("extra")
        if not sig.kwargs:
            options.append("keyword")
        if not options:
            continue
        how = rng.choice(options)
        if how == "extra":
            extra = ", ".join(["none"] * max(1, len(sig.params) - nargs + 1))
            if kwargs:  # positional arguments go before keywords
                first_kw = _first_keyword(inner, kwargs[0])
                new_inner = inner[:first_kw] + extra + ", " + inner[first_kw:]
            else:
                new_inner = (inner.rstrip() + ", " + extra) if inner.strip() else extra
        else:
            new_inner = (inner.rstrip() + ", " if inner.strip() else "") + "nonexistent_arg=1"
        mutated = source[: pos + 1] + new_inner + source[close:]
        yield Mutant(
            "macro_arity",
            mutated,
            (lines.line_of(pos), lines.line_of(close)),
            f"{sig.label()} {how}",
        )


def _scope_at(rec: _Recorder, pos: int) -> Scope:
    for call in rec.calls:
        if call[3] == pos:
            return call[5]
    return rec.root


def _first_keyword(inner: str, kw: str) -> int:
    import re

    m = re.search(rf"\b{re.escape(kw)}\s*=", inner)
    return m.start() if m else len(inner)


def _matching_paren(source: str, pos: int) -> int | None:
    depth = 0
    quote = ""
    for i in range(pos, min(len(source), pos + 5000)):
        ch = source[i]
        if quote:
            if ch == quote and source[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def detected(
    mutant: Mutant,
    clean: set[tuple[int, str, str]],
    options: LintOptions,
    index: TemplateIndex | None,
    path: str | None,
    shift: int = 0,
) -> bool:
    """A new diagnostic (vs the clean file) on one of the fault's lines."""
    result = lint_text(mutant.source, path, options, index)
    for d in result.diagnostics:
        line = result.lines.line_of(d.start)
        if line in mutant.lines and (line - shift, d.code, d.message) not in clean:
            return True
    return False


def clean_keys(
    source: str, options: LintOptions, index: TemplateIndex | None, path: str | None
) -> set[tuple[int, str, str]]:
    result = lint_text(source, path, options, index)
    return {(result.lines.line_of(d.start), d.code, d.message) for d in result.diagnostics}


__all__ = ["FAULTS", "Mutant", "Signature", "clean_keys", "detected", "misspell", "mutants"]


@dataclass
class Report:
    total: dict[str, int]
    found: dict[str, int]
    found_at_fault_line: int  # deleted end tags reported on the deletion line itself
    misses: list[tuple[str, str, str]]  # (fault, path, note)

    def rate(self, fault: str | None = None) -> float:
        if fault is None:
            total = sum(self.total.values())
            return sum(self.found.values()) / total if total else 1.0
        return self.found.get(fault, 0) / self.total[fault] if self.total.get(fault) else 1.0


def evaluate(
    files: list[tuple[str, str]],
    options: LintOptions,
    index: TemplateIndex | None,
    seed: int = 6,
    per_fault: int = 2,
) -> Report:
    """Inject faults into every (path, text) and count how many the linter catches."""
    rng = random.Random(seed)
    report = Report({f: 0 for f in FAULTS}, {f: 0 for f in FAULTS}, 0, [])
    for path, text in files:
        clean = clean_keys(text, options, index, path)
        for m in mutants(text, rng, per_fault, options, index, path):
            report.total[m.fault] += 1
            if detected(m, clean, options, index, path):
                report.found[m.fault] += 1
                if m.fault == "deleted_end_tag":
                    at_line = Mutant(m.fault, m.source, m.lines[1:], m.note)
                    report.found_at_fault_line += detected(at_line, clean, options, index, path)
            else:
                report.misses.append((m.fault, path, m.note))
    return report


# ------------------------------------------------------------------ faults for quick fixes
# Faults whose repair is a quick fix that the detection suite above does not exercise:
# a half-typed closer, a stray end tag, unused definitions, a missing include target.
FIX_FAULTS = (
    "half_closed",
    "orphan_end_tag",
    "unused_set",
    "unused_macro",
    "unused_import",
    "unused_input",
    "missing_include",
)


# faults a quick fix repairs by editing text (broken front matter and macro arity have no
# fix; a missing include is repaired by creating a file)
FIXABLE = tuple(
    f
    for f in (*FAULTS, *FIX_FAULTS)
    if f not in ("broken_front_matter", "macro_arity", "missing_include")
)


def fix_mutants(
    source: str,
    rng: random.Random,
    per_fault: int = 2,
    options: LintOptions | None = None,
    index: TemplateIndex | None = None,
    path: str | None = None,
) -> Iterator[Mutant]:
    """Single faults for the quick-fix suite (tests/unit/test_lint_fix_corpus.py); like
    :func:`mutants`, deterministic for a seed, each on a clean file."""
    rec, tags, taken = _survey(source, options, index, path)
    lines = rec.lines

    def pick(items: list, k: int = per_fault) -> list:
        return rng.sample(items, min(k, len(items)))

    def fresh(stem: str) -> str:
        n = 0
        while f"{stem}{n}" in taken or f"{stem}{n}" in source:
            n += 1
        return f"{stem}{n}"

    closed = [t for t in tags if t.kind in (VAR, BLOCK) and t.closed and t.error is None]
    for tag in pick(closed):
        cut = tag.end - 1 if rng.random() < 0.5 else tag.end - 2  # '}}' -> '}', '%}' -> '}'
        yield Mutant(
            "half_closed",
            source[:cut] + source[cut + 1 :],
            (lines.line_of(tag.start),),
            source[tag.start : tag.end][:40],
        )
    ends = [t for t in tags if t.kind == BLOCK and t.closed and t.name.startswith("end")]
    for tag in pick(ends):
        copy = source[tag.start : tag.end]
        yield Mutant(
            "orphan_end_tag",
            source[: tag.end] + copy + source[tag.end :],
            (lines.line_of(tag.end),),
            copy,
        )
    # definitions go at the start of a body line, alone on it
    body_line = lines.line_of(rec.ctx.body_start) + (1 if rec.ctx.front_start >= 0 else 0)
    starts = [lines.starts[i] for i in range(body_line, lines.line_count)]
    starts = [s for s in starts if s >= rec.ctx.body_start and _outside_tags(s, tags)]
    known = sorted(n for n in (index.names() if index is not None else []) if "/" in n)
    target = rng.choice(known) if known else None  # an existing template to import
    inserts = {
        "unused_set": lambda name: f"{{% set {name} = 1 %}}\n",
        "unused_macro": lambda name: f"{{% macro {name}() %}}x{{% endmacro %}}\n",
        "unused_import": lambda name: f"{{% import '{target}' as {name} %}}\n",
        "missing_include": lambda name: f"{{% include '{name}.html' %}}\n",
    }
    for fault, make in inserts.items():
        if fault == "unused_import" and target is None:
            continue
        for at in pick(starts, 1):
            text = make(fresh("tmp_" if fault != "missing_include" else "missing_"))
            yield Mutant(fault, source[:at] + text + source[at:], (lines.line_of(at),), text)
    if rec.ctx.front_start >= 0:
        table = re.search(r"^\[variables\][ \t]*\n", source[: rec.ctx.body_start], re.M)
        if table is not None:
            text = f'{fresh("unused_")} = "str"\n'
            at = table.end()
            yield Mutant(
                "unused_input", source[:at] + text + source[at:], (lines.line_of(at),), text
            )


def _outside_tags(offset: int, tags: list) -> bool:
    return not any(t.start < offset < t.end for t in tags)


@dataclass
class FixReport:
    """Per fix kind (the title without its names): fixes the linter proposed, fixes that
    passed the check (offered), and offered fixes that broke Jinja2 parsing anyway."""

    proposed: dict[str, int]
    offered: dict[str, int]
    broke_parse: list[tuple[str, str, str]]  # (kind, path, fixed text head)
    rejected: list[tuple[str, str, str]]  # (kind, path, reason)
    faults: dict[str, int]  # mutants per fault with at least one new diagnostic
    repaired: dict[str, int]  # ... whose new diagnostics the offered fixes all removed
    restored: dict[str, int]  # ... giving back the clean text (blank lines aside)

    def rate(self, kind: str) -> float:
        return self.offered.get(kind, 0) / self.proposed[kind] if self.proposed.get(kind) else 1.0


def fix_kind(title: str) -> str:
    """``Change to 'upper'`` -> ``Change to``; ``Close the 'for' block with {% endfor %}``
    -> ``Close the block with``."""
    return " ".join(re.sub(r"'[^']*'|\{%.*?%\}", "", title).split())


def evaluate_fixes(
    files: list[tuple[str, str]],
    options: LintOptions,
    index: TemplateIndex | None,
    seed: int = 6,
    per_fault: int = 2,
    rounds: int = 3,
) -> FixReport:
    """Inject faults, then repair each mutant with the offered quick fixes as a user would
    (the first offered fix of the first new diagnostic, errors first, up to ``rounds``
    times), checking every offered fix against Jinja2 on the way."""
    from tsr_lsp.jinja_lint.verify import apply_edits, checked_fixes, parse_error

    rng = random.Random(seed)
    report = FixReport({}, {}, [], [], {}, {}, {})
    for path, text in files:
        clean = lint_text(text, path, options, index)
        clean_keys = sorted((d.code, d.message) for d in clean.diagnostics)
        clean_parses = parse_error(text, path, options) is None
        faults = [
            *mutants(text, rng, per_fault, options, index, path),
            *fix_mutants(text, rng, per_fault, options, index, path),
        ]
        for m in faults:
            current = m.source
            result = lint_text(current, path, options, index)
            touched = False
            for _ in range(rounds):
                new = _new_diagnostics(result.diagnostics, clean_keys)
                if not new:
                    break
                touched = True
                chosen: tuple[str, LintResult] | None = None
                for d in sorted(new, key=lambda d: SEVERITY_RANK.get(d.severity, 3)):
                    for checked in checked_fixes(current, result, d, path, options, index):
                        kind = fix_kind(checked.title)
                        report.proposed[kind] = report.proposed.get(kind, 0) + 1
                        fix = checked.fix
                        if fix is None:
                            report.rejected.append((kind, path, "; ".join(checked.reasons)))
                            continue
                        report.offered[kind] = report.offered.get(kind, 0) + 1
                        if checked.after is None:  # a file to create: no text changes
                            continue
                        fixed = apply_edits(current, fix.edits)
                        new_errors = [
                            x
                            for x in _new_diagnostics(checked.after.diagnostics, clean_keys)
                            if x.severity == "error"
                        ]
                        if clean_parses and not new_errors and parse_error(fixed, path, options):
                            report.broke_parse.append((kind, path, fixed[:200]))
                        if chosen is None:
                            chosen = fixed, checked.after
                    if chosen is not None:
                        break
                if chosen is None:
                    break
                current, result = chosen
            if not touched:
                continue
            report.faults[m.fault] = report.faults.get(m.fault, 0) + 1
            if not _new_diagnostics(result.diagnostics, clean_keys):
                report.repaired[m.fault] = report.repaired.get(m.fault, 0) + 1
                if _code_lines(current) == _code_lines(text):
                    report.restored[m.fault] = report.restored.get(m.fault, 0) + 1
    return report


def _code_lines(text: str) -> list[str]:
    """The text without blank lines and trailing blanks: a repair that puts a lost end
    tag on a new line next to the blank line its deletion left is still the original."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _new_diagnostics(diags: list, clean_keys: list[tuple[str, str]]) -> list:
    """Diagnostics beyond the clean file's (matched by code and message, as a multiset)."""
    left = list(clean_keys)
    out = []
    for d in diags:
        key = (d.code, d.message)
        if key in left:
            left.remove(key)
        else:
            out.append(d)
    return out
