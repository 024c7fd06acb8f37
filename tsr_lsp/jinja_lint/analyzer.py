"""The analysis pass: one walk over the scanner's tags, with a block stack and scopes.

Everything is collected in that single walk (uses, definitions, filters, calls); checks
that need the whole file (undefined names, unused definitions, macro arity) run once at
the end. Near-linear in the size of the file.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

from tsr_lsp.jinja_lint import knowledge as K
from tsr_lsp.jinja_lint import security
from tsr_lsp.jinja_lint.context import CHAT, GENERIC, PROMPT, FileContext, read_context
from tsr_lsp.jinja_lint.expr import ATTR, CALL, CONST, NAME, Node, ParseError, Parser
from tsr_lsp.jinja_lint.index import TemplateIndex
from tsr_lsp.jinja_lint.lexer import BLOCK, COMMENT, RAW, VAR, Tag, comment_text, scan
from tsr_lsp.jinja_lint.model import (
    ERROR,
    INFO,
    WARNING,
    Diagnostic,
    LineIndex,
    LintOptions,
)
from tsr_lsp.jinja_lint.scopes import Def, Scope, ScopeRecord, Signature, Suggester

_NONSPACE = re.compile(r"\S")
_WORD = re.compile(r"\w+|\S")
_NOQA = re.compile(r"\bnoqa(-file)?\b(?:\s*:\s*([A-Z0-9, ]+))?")
# a replacement field whose name walks to a private or unsafe attribute: {0.__class__}
_FORMAT_WALK = re.compile(
    r"\{[^{}:!]*(?:[.\[]\s*['\"]?_|\.(?:mro|func_globals|f_globals|gi_frame|gi_code)\b)"
)


class Frame:
    """An open block tag on the stack."""

    __slots__ = ("end_tag", "info", "iterations", "middles", "scope", "seen_else", "start", "tag")

    def __init__(self, tag: str, start: int, end_tag: str, middles: tuple[str, ...]) -> None:
        self.tag = tag
        self.start = start
        self.end_tag = end_tag
        self.middles = middles
        self.scope: Scope | None = None
        self.info: Any = None
        self.seen_else = False
        self.iterations: float | None = None  # for loops over constant ranges


class Analyzer:
    def __init__(
        self,
        source: str,
        options: LintOptions | None = None,
        index: TemplateIndex | None = None,
        path: str | None = None,
        context: FileContext | None = None,
    ) -> None:
        self.source = source
        self.options = options or LintOptions()
        self.index = index
        self.path = path
        self.abspath = os.path.abspath(path) if path else None
        self.lines = LineIndex(source)
        self.diags: list[Diagnostic] = []
        self.ctx: FileContext = context or read_context(source, path, self.options.kind, self.lines)
        self.kind = self.ctx.kind
        opts = self.options
        self.filters = K.BUILTIN_FILTERS | frozenset(opts.extra_filters)
        self.tests = K.BUILTIN_TESTS | frozenset(opts.extra_tests)
        self.globals = set(K.BUILTIN_GLOBALS) | {"self"} | set(opts.extra_globals)
        if self.kind == CHAT:
            self.globals |= K.CHAT_GLOBALS
        elif self.kind == GENERIC:
            self.globals |= K.I18N_GLOBALS
        self.closed_env = self.kind in (PROMPT, CHAT) or opts.strict
        # prompt and chat templates always render sandboxed; other Jinja may not
        self.sandbox_severity = ERROR if self.kind in (PROMPT, CHAT) else WARNING
        self.custom_single: set[str] = set()
        self.custom_block: dict[str, str] = {}
        for entry in opts.custom_tags:
            name, _, end = entry.partition("/")
            if end:
                self.custom_block[name.strip()] = end.strip()
            else:
                self.custom_single.add(name.strip())
        self.frames: list[Frame] = []
        self.root = Scope("template", None, 0)
        self.scope = self.root
        self.records: list[ScopeRecord] = []
        self.calls: list[tuple[Node, int, list[str], int, bool, Scope]] = []
        self.guarded: set[str] = set()
        self.use_counts: dict[str, int] = {}
        self.def_names: set[str] = set()
        self.blocks: dict[str, int] = {}
        self.references: list[tuple[str, str, int, int]] = []  # (tag, template, start, end)
        self.extends = False
        self.has_include = False
        self.has_output = False
        self.macro_depth = 0
        self.noqa: dict[int, set[str] | None] = {}
        self.noqa_file: set[str] | None = set()
        self.tags: list[Tag] = []
        self.unresolved: list[tuple[str, int]] = []
        self.suspicious: list[tuple[str, int, int, int]] = []  # closes whose indent differs
        self.loop_pairs: set[tuple[str, str]] = set()  # (iterable, loop variable)
        self.self_calls: dict[int, list[int]] = {}  # macro frame -> where it calls itself
        self._vocabulary: Any = False

    @property
    def vocabulary(self) -> Any:
        """The project's vocabulary (from the index), fetched only when a check needs it."""
        if self._vocabulary is False:
            get = getattr(self.index, "vocabulary", None)
            self._vocabulary = get() if get is not None else None
        return self._vocabulary

    # ================================================================ sink (expr.Sink)
    def use(self, name: str, pos: int) -> None:
        counts = self.use_counts
        counts[name] = counts.get(name, 0) + 1
        d = self.scope.lookup(name)
        if d is not None:
            d.used = True
        else:
            self.scope.pending.append((name, pos))

    def on_filter(
        self, name: str, pos: int, subject: Node, args: list[Node], kwargs: dict[str, Node]
    ) -> None:
        if name in ("default", "d") and subject[0] == NAME:
            self.guarded.add(subject[1])
        if name not in self.filters:
            self._unknown("JL020", "filter", name, pos, self.filters, "extra_filters")
            return
        if name == "attr" and args and args[0][0] == CONST and isinstance(args[0][1], str):
            self.on_attr(subject, args[0][1], args[0][2])
        security.filter_call(self, name, pos, subject, args, kwargs)

    def on_binop(self, op: str, left: Node, right: Node, pos: int) -> None:
        if op == "*":
            security.repetition(self, left, right, pos)
        else:
            security.percent(self, left, pos)

    def on_test(self, name: str, pos: int, subject: Node) -> None:
        if name in ("defined", "undefined", "none") and subject[0] == NAME:
            self.guarded.add(subject[1])
        if name not in self.tests:
            self._unknown("JL021", "test", name, pos, self.tests, "extra_tests")

    def on_call(self, func: Node, args: list[Node], kwargs: list[str], pos: int, dyn: bool) -> None:
        security.call(self, func, args, pos)
        kind = func[0]
        if kind == NAME:
            if func[1] == "range" and args and not dyn:
                size = _range_size(args)
                if size is not None and size > self.options.max_range:
                    self.add(
                        "JL052",
                        self.sandbox_severity,
                        f"range of {_fmt(size)} items exceeds the sandbox limit "
                        f"({self.options.max_range:,}); rendering will be refused",
                        func[2],
                        pos + 1,
                        size=size,
                    )
            self.calls.append((func, len(args), kwargs, pos, dyn, self.scope))
        elif kind == ATTR:
            obj, attr = func[1], func[2]
            if attr in K.FORMAT_METHODS and obj[0] == CONST and isinstance(obj[1], str):
                if _FORMAT_WALK.search(obj[1]):
                    self.add(
                        "JL051",
                        ERROR,
                        f"str.{attr} with attribute or item access in the format string: "
                        "a known sandbox-escape pattern; use the 'format' filter or '~'",
                        func[3],
                        func[3] + len(attr),
                    )
            elif attr in K.MUTATING_METHODS and self.kind in (PROMPT, CHAT):
                self.add(
                    "JL053",
                    WARNING,
                    f"'.{attr}()' mutates a value; the immutable sandbox refuses it at render "
                    "(build a new value with filters or namespace() instead)",
                    func[3],
                    func[3] + len(attr),
                )
            if obj[0] == NAME:
                self.calls.append((func, len(args), kwargs, pos, dyn, self.scope))

    def on_big(self, pos: int, what: str) -> None:
        self.add(
            "JL052",
            self.sandbox_severity,
            f"this {what}: beyond the sandbox's size limits; rendering will be refused",
            pos,
            pos + 2,
        )

    def on_attr(self, obj: Node, attr: str, pos: int) -> None:
        dunder = attr.startswith("__")
        if not (dunder or attr.startswith("_") or attr in K.UNSAFE_ATTRIBUTES):
            return
        sandboxed = self.kind in (PROMPT, CHAT)
        severity = ERROR if (sandboxed or attr in K.ESCAPE_ATTRIBUTES) else WARNING
        self.add(
            "JL050",
            severity,
            f"access to {attr!r} is a sandbox escape pattern (SSTI); the sandbox refuses it",
            pos,
            pos + len(attr) if self.source.startswith(attr, pos) else pos + 1,
            attr=attr,
        )

    # ================================================================ helpers
    def add(
        self, code: str, severity: str, message: str, start: int, end: int, **data: Any
    ) -> Diagnostic:
        d = Diagnostic(code, severity, message, start, max(end, start + 1), data)
        self.diags.append(d)
        return d

    def token_end(self, pos: int) -> int:
        m = _WORD.match(self.source, pos)
        return m.end() if m else pos + 1

    def _unknown(
        self, code: str, what: str, name: str, pos: int, known: frozenset[str], setting: str
    ) -> None:
        hints = _suggester(known)(name)
        severity = ERROR if self.closed_env else (WARNING if hints else INFO)
        if hints:
            message = f"unknown {what} {name!r}; did you mean {hints[0]!r}?"
        else:
            message = (
                f"unknown {what} {name!r} "
                f"(if your environment defines it, add it to lint.{setting})"
            )
        self.add(code, severity, message, pos, pos + len(name), name=name, suggestions=hints)

    def define(self, name: str, kind: str, pos: int, info: object = None) -> Def:
        self.def_names.add(name)
        return self.scope.define(Def(name, kind, pos, info))

    def push(self, tag: str, start: int, scope_kind: str | None = None) -> Frame:
        spec = K.BLOCK_TAGS.get(tag)
        if spec is not None:
            end_tag, middles = spec
        elif tag == "set":
            end_tag, middles = "endset", ()
        else:
            end_tag, middles = self.custom_block.get(tag, "end" + tag), ()
        frame = Frame(tag, start, end_tag, middles)
        if scope_kind is not None:
            frame.scope = self.scope = Scope(scope_kind, self.scope, start)
        self.frames.append(frame)
        if tag == "macro":
            self.macro_depth += 1
        return frame

    def pop(self, frame: Frame, end: int) -> None:
        if frame.tag == "macro":
            self.macro_depth -= 1
            security.macro_closed(self, frame)
        if frame.scope is not None:
            self.close_scope(frame.scope, end)
            if frame.tag == "macro" and isinstance(frame.info, Signature):
                defs = frame.scope.defs
                sig = frame.info
                sig.varargs = defs["varargs"].used
                sig.kwargs = defs["kwargs"].used
                sig.caller = defs["caller"].used

    def close_scope(self, scope: Scope, end: int) -> None:
        parent = scope.parent
        defs = scope.defs
        for name, pos in scope.pending:
            d = defs.get(name)
            if d is not None:
                d.used = True
            elif parent is not None:
                d = parent.lookup(name)
                if d is not None:
                    d.used = True
                else:
                    parent.pending.append((name, pos))
            else:
                self.unresolved.append((name, pos))
        scope.pending = []
        scope.end = end
        self.records.append(ScopeRecord(scope.kind, scope.start, end, list(defs.values())))
        if parent is not None:
            self.scope = parent
            self.report_unused(scope, nested=True)

    # ================================================================ the walk
    def run(self) -> None:
        from tsr_lsp.jinja_lint import recovery, statements
        from tsr_lsp.jinja_lint import tags as other_tags

        source = self.source
        for name, decl in self.ctx.declared.items():
            self.root.define(Def(name, "declared", decl.start, decl))
        self.diags.extend(self.ctx.diagnostics)
        tags = self.tags = scan(source)
        security.source_tokens(self)
        self.block_names = {t.name for t in tags if t.kind == BLOCK}
        handlers = statements.HANDLERS
        prev_end = self.ctx.body_start if self.ctx.front_start >= 0 else 0
        body_start = self.ctx.body_start
        for tag in tags:
            if tag.start < body_start:
                continue
            if (
                not self.has_output
                and self.macro_depth == 0
                and tag.start > prev_end
                and _NONSPACE.search(source, prev_end, tag.start)
            ):
                self.has_output = True
            prev_end = max(prev_end, tag.end)
            kind = tag.kind
            if kind == COMMENT:
                self._comment(tag)
                continue
            if kind == RAW:
                if not tag.closed and tag.error:
                    self.add("JL003", ERROR, tag.error[0], tag.error[1], tag.error[1] + 2)
                continue
            if not tag.closed:
                recovery.unclosed_tag(self, tag)
                tag.error = None  # its junk is explained by the missing delimiter
            if tag.error is not None:
                msg, pos = tag.error
                self.add("JL001", ERROR, msg, pos, pos + 1)
                recovery.lost_closer(self, tag, pos)
                if kind == BLOCK:  # keep the structure right even when the tag is broken
                    other_tags.structure_only(self, tag)
                continue
            try:
                if kind == VAR:
                    if self.macro_depth == 0:
                        self.has_output = True
                    p = Parser(tag.tokens, self)
                    p.tuple_()
                    p.expect_end()
                elif kind == BLOCK:
                    toks = tag.tokens
                    first = toks[0]
                    if first[0] != "name":
                        raise ParseError(
                            "expected a tag name after '{%'"
                            if first[0] == "end"
                            else "a tag must start with its name",
                            first[2],
                        )
                    handler = handlers.get(first[1])
                    if handler is not None:
                        handler(self, tag)
                    else:
                        other_tags.other_tag(self, tag)
            except ParseError as exc:
                if tag.closed:  # an unclosed tag's junk is already explained by JL002
                    recovery.syntax_error(self, tag, exc)
        if not self.has_output and _NONSPACE.search(source, prev_end):
            self.has_output = True
        self.finish()

    def _comment(self, tag: Tag) -> None:
        text = comment_text(self.source, tag)
        if not tag.closed:
            self.add(
                "JL002",
                ERROR,
                "'{#' is never closed (missing '#}')",
                tag.start,
                tag.start + 2,
                closer="#}",
            )
        if "noqa" in text:
            m = _NOQA.search(text)
            if m:
                codes = (
                    {c.strip() for c in m.group(2).split(",") if c.strip()} if m.group(2) else None
                )
                if m.group(1):
                    if codes is None:
                        self.noqa_file = None
                    elif self.noqa_file is not None:
                        self.noqa_file |= codes
                else:
                    self.noqa[self.lines.line_of(tag.start)] = codes
        if "{#" in text:
            inner = self.source.find("{#", tag.start + 2)
            self.add(
                "JL002",
                WARNING,
                "'{#' inside a comment: the comment opened here probably misses its '#}' "
                f"(everything up to line {self.lines.line_of(tag.end) + 1} is commented out)",
                tag.start,
                tag.start + 2,
                nested=inner,
            )

    # ================================================================ end of file
    def finish(self) -> None:
        from tsr_lsp.jinja_lint import checks, system

        end = len(self.source)
        while self.frames:
            frame = self.frames.pop()
            checks.report_unclosed(self, frame, end, None)
            self.pop(frame, end)
        self.close_scope(self.root, end)
        system.check_system_prompt(self)
        checks.report_undefined(self)
        self.report_unused(self.root, nested=False)
        checks.check_arity(self)

    def report_unused(self, scope: Scope, nested: bool) -> None:
        from tsr_lsp.jinja_lint import checks

        checks.report_unused(self, scope, nested)

    # ================================================================ structure
    def line_indent(self, offset: int, anywhere: bool = False) -> int | None:
        """Indentation of the line at ``offset`` if the tag there starts the line (or,
        with ``anywhere``, of its line whatever comes first)."""
        lines = self.lines
        line = lines.line_of(offset)
        head = self.source[lines.starts[line] : offset]
        if anywhere:
            return len(head) - len(head.lstrip(" \t"))
        return len(head) if not head.strip(" \t") else None


@lru_cache(maxsize=32)
def _suggester(words: frozenset[str]) -> Suggester:
    return Suggester(words)


def _range_size(args: list[Node]) -> float | None:
    if any(a[0] != CONST or type(a[1]) not in (int, float) for a in args) or len(args) > 3:
        return None
    vals = [a[1] for a in args]
    if any(v == float("inf") for v in vals):
        return float("inf")
    try:
        ints = [int(v) for v in vals]
        if len(ints) == 3 and ints[2] == 0:
            return None
        return len(range(*ints))
    except (OverflowError, ValueError, TypeError):
        return float("inf")


def _fmt(size: float) -> str:
    return "unbounded" if size == float("inf") else f"{int(size):,}"


def call_target(node: Node) -> tuple[str, str] | None:
    """(name, attr) for ``m()`` -> ("m", "") and ``forms.field()`` -> ("forms", "field")."""
    if node[0] == NAME:
        return node[1], ""
    if node[0] == ATTR and node[1][0] == NAME:
        return node[1][1], node[2]
    return None


__all__ = ["CALL", "Analyzer", "Frame", "call_target"]
