"""One handler per ``{% tag %}``: parse its head with Jinja's grammar, keep the block stack
and scopes right even when the head is broken (so one typo does not cascade)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tsr_lsp.jinja_lint import checks, security
from tsr_lsp.jinja_lint.expr import CALL, CONST, OTHER, SEQ, Node, ParseError, Parser
from tsr_lsp.jinja_lint.lexer import Tag
from tsr_lsp.jinja_lint.model import ERROR, WARNING
from tsr_lsp.jinja_lint.scopes import Def, Signature, suggest

if TYPE_CHECKING:
    from tsr_lsp.jinja_lint.analyzer import Analyzer, Frame

Handler = Callable[["Analyzer", Tag], None]
_SCOPED = {
    "for": "for",
    "macro": "macro",
    "call": "call",
    "with": "with",
    "block": "block",
    "trans": "with",
}


def _push_scoped(a: Analyzer, name: str, tag: Tag) -> Frame:
    frame = a.push(name, tag.start, _SCOPED.get(name))
    if name == "for":
        a.scope.define(Def("loop", "special", tag.start))
    elif name == "block":
        a.scope.define(Def("super", "special", tag.start))
    elif name == "macro":
        for special in ("varargs", "kwargs", "caller"):
            a.scope.define(Def(special, "special", tag.start))
    return frame


def h_for(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    frame = None
    try:
        targets = p.target(end_names=("in",))
        if not p.skip_name("in"):
            raise p.fail("expected 'in' after the loop variable(s)")
        it = p.tuple_(condexpr=False, end_names=("recursive",))
        frame = _push_scoped(a, "for", tag)
        frame.info = security.LoopInfo(it)
        for t in targets:
            a.define(t[1], "loop", t[2])
            if it[0] == "name":  # {% for scriptfile in script_files %}: related, not a typo
                a.loop_pairs.add((it[1], t[1]))
        _loop_bound(a, frame, it, tag)
        if p.skip_name("if"):
            p.expression()
        p.skip_name("recursive")
        p.end_statement()
    finally:
        if frame is None:
            _push_scoped(a, "for", tag)


def _loop_bound(a: Analyzer, frame: Frame, it: Node, tag: Tag) -> None:
    from tsr_lsp.jinja_lint.analyzer import _range_size

    if it[0] != CALL or it[1][0] != "name" or it[1][1] != "range" or it[5]:
        return
    size = _range_size(it[2])
    if size is None:
        return
    frame.iterations = size
    total = size
    for outer in a.frames[:-1]:
        if outer.tag == "for":
            if outer.iterations is None:
                return
            total *= outer.iterations
    limit = a.options.max_range * 10
    if total > limit and size <= a.options.max_range:
        a.add(
            "JL052",
            a.sandbox_severity,
            f"nested loops run {int(total):,} iterations, beyond the sandbox's loop budget "
            f"({limit:,}); rendering will be refused",
            tag.start,
            tag.end,
        )


def h_if(a: Analyzer, tag: Tag) -> None:
    a.push("if", tag.start)
    p = Parser(tag.tokens, a, 1)
    p.tuple_(condexpr=False)
    p.end_statement()


def h_elif(a: Analyzer, tag: Tag) -> None:
    checks.middle(a, "elif", tag)
    p = Parser(tag.tokens, a, 1)
    p.tuple_(condexpr=False)
    p.end_statement()


def h_else(a: Analyzer, tag: Tag) -> None:
    checks.middle(a, "else", tag)
    Parser(tag.tokens, a, 1).end_statement()


def h_pluralize(a: Analyzer, tag: Tag) -> None:
    checks.middle(a, "pluralize", tag)
    p = Parser(tag.tokens, a, 1)
    if p.cur[0] == "name":
        a.use(p.cur[1], p.cur[2])
        p.i += 1
    p.expect_end()


def h_set(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    targets = p.target()
    if p.skip_op("="):
        root = targets[0][1] if len(targets) == 1 else ""
        before = a.use_counts.get(root, 0)
        first = p.i
        p.tuple_()
        p.expect_end()
        ops = {t[1] for t in tag.tokens[first : p.i] if t[0] == "op"}
        uses = a.use_counts.get(root, 0) - before
        security.doubling_set(a, root, uses, ops, tag.start, tag.end)
    elif p.at_end() or p.is_op("|") or p.is_op(":"):
        a.push("set", tag.start)
        if p.is_op("|"):
            p.filter_chain((OTHER, p.cur[2]))
        p.end_statement()
    else:
        raise p.fail(f"expected '=' after the variable name, got {p.cur[1]!r}")
    for kind, name, pos in targets:
        if kind == "nsref":
            a.use(name, pos)
        else:
            a.define(name, "set", pos)


def h_macro(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    frame = None
    try:
        name = p.expect_name("a macro name")
        sig = Signature(name[1], [], 0, name[2])
        a.define(name[1], "macro", name[2], sig)
        frame = _push_scoped(a, "macro", tag)
        frame.info = sig
        _signature(a, p, sig)
        p.end_statement()
    finally:
        if frame is None:
            _push_scoped(a, "macro", tag)


def _signature(a: Analyzer, p: Parser, sig: Signature) -> None:
    p.expect_op("(")
    defaults = False
    required = 0
    while not p.is_op(")"):
        if sig.params:
            p.expect_op(",")
        tok = p.expect_name("a parameter name")
        sig.params.append(tok[1])
        a.define(tok[1], "param", tok[2])
        if p.skip_op("="):
            p.expression()
            defaults = True
        elif defaults:
            raise ParseError("a parameter without default follows one with a default", tok[2])
        else:
            required += 1
    p.expect_op(")")
    sig.required = required


def h_call(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    sig = Signature("caller", [], 0)
    params: list[tuple[str, int]] = []
    try:
        if p.is_op("("):
            # parameters of the body (defined in the body's scope below)
            p.i += 1
            while not p.is_op(")"):
                if params:
                    p.expect_op(",")
                tok = p.expect_name("a parameter name")
                params.append((tok[1], tok[2]))
                if p.skip_op("="):
                    p.expression()
            p.expect_op(")")
        node = p.expression()
        if node[0] != CALL:
            raise ParseError(
                "'call' needs a macro call, e.g. {% call render(x) %}", tag.tokens[1][2]
            )
        p.end_statement()
    finally:
        frame = _push_scoped(a, "call", tag)
        frame.info = sig
        for name, pos in params:
            a.define(name, "param", pos)


def h_filter(a: Analyzer, tag: Tag) -> None:
    a.push("filter", tag.start)
    p = Parser(tag.tokens, a, 1)
    p.filter_chain((OTHER, tag.start), inline=True)
    p.end_statement()


def h_with(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    names: list[tuple[str, str, int]] = []
    try:
        while not p.at_end():
            if names:
                p.expect_op(",")
            names.extend(p.target())
            p.expect_op("=")
            p.expression()
    finally:
        _push_scoped(a, "with", tag)
        for _, name, pos in names:
            a.define(name, "with", pos)


def h_trans(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    names: list[tuple[str, int]] = []
    try:
        while not p.at_end():
            if names and p.is_op(","):
                p.i += 1
            tok = p.expect_name()
            if tok[1] in ("trimmed", "notrimmed"):
                continue
            if p.skip_op("="):
                p.expression()
            else:
                a.use(tok[1], tok[2])
            names.append((tok[1], tok[2]))
    finally:
        _push_scoped(a, "trans", tag)
        for name, pos in names:
            a.scope.define(Def(name, "special", pos))


def h_block(a: Analyzer, tag: Tag) -> None:
    frame = _push_scoped(a, "block", tag)
    p = Parser(tag.tokens, a, 1)
    name = p.expect_name("a block name")
    frame.info = name[1]
    first = a.blocks.get(name[1])
    if first is not None:
        a.add(
            "JL007",
            ERROR,
            f"block {name[1]!r} is already defined at line {a.lines.line_of(first) + 1}",
            name[2],
            name[2] + len(name[1]),
        )
    else:
        a.blocks[name[1]] = name[2]
    p.skip_name("scoped")
    p.skip_name("required")
    if p.is_op("-"):
        raise p.fail("block names must be identifiers (no hyphens); use an underscore")
    p.end_statement()


def h_extends(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    node = p.expression()
    p.expect_end()
    a.extends = True
    check_target(a, "extends", node, tag)


def h_include(a: Analyzer, tag: Tag) -> None:
    a.has_include = True
    p = Parser(tag.tokens, a, 1)
    node = p.expression()
    ignore = False
    if p.is_name("ignore") and p.peek()[1] == "missing":
        p.i += 2
        ignore = True
    _context_clause(p)
    p.expect_end()
    if a.macro_depth == 0:
        a.has_output = True
    check_target(a, "include", node, tag, check=not ignore)


def _context_clause(p: Parser) -> None:
    if (p.is_name("with") or p.is_name("without")) and p.peek()[1] == "context":
        p.i += 2


def h_import(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    node = p.expression()
    if not p.skip_name("as"):
        raise p.fail("expected 'as' after the template name: {% import 'x' as name %}")
    target = p.expect_name("a name after 'as'")
    _context_clause(p)
    p.expect_end()
    names = check_target(a, "import", node, tag)
    a.define(target[1], "import", target[2], names[0] if len(names) == 1 else None)


def h_from(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    node = p.expression()
    if not p.skip_name("import"):
        raise p.fail("expected 'import' after the template name: {% from 'x' import y %}")
    names = check_target(a, "from", node, tag)
    source = names[0] if len(names) == 1 else None
    exports = a.index.exports(source, a.path) if (a.index and source) else None
    count = 0
    while True:
        if (p.is_name("with") or p.is_name("without")) and p.peek()[1] == "context":
            p.i += 2
            break
        if count and not p.skip_op(","):
            break
        if p.at_end() and count:
            break
        tok = p.expect_name("a name to import")
        if tok[1].startswith("_"):
            raise ParseError("names starting with an underscore cannot be imported", tok[2])
        alias = tok
        if p.skip_name("as"):
            alias = p.expect_name("a name after 'as'")
        a.define(alias[1], "from", alias[2], (source, tok[1]))
        if exports is not None and tok[1] not in exports.macros and tok[1] not in exports.variables:
            hint = suggest(tok[1], list(exports.macros) + list(exports.variables))
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            a.add(
                "JL041",
                ERROR if a.index and a.index.strict else WARNING,
                f"{source!r} defines no macro or variable {tok[1]!r}{extra}",
                tok[2],
                tok[2] + len(tok[1]),
                name=tok[1],
                suggestions=hint,
            )
        count += 1
    p.expect_end()


def check_target(a: Analyzer, kind: str, node: Node, tag: Tag, check: bool = True) -> list[str]:
    """Record and check the constant template names of include/import/extends/from."""
    consts: list[Node] = []
    if node[0] == CONST and isinstance(node[1], str):
        consts = [node]
    elif (
        node[0] == SEQ and node[2] and all(n[0] == CONST and isinstance(n[1], str) for n in node[2])
    ):
        consts = list(node[2])
    spans = []
    for c in consts:
        raw = next((t for t in tag.tokens if t[2] == c[2]), None)
        end = c[2] + (len(raw[1]) if raw else len(c[1]) + 2)
        a.references.append((kind, c[1], c[2], end))
        security.include_target(a, kind, c[1], c[2], end)
        spans.append((c[1], c[2], end))
    if check and a.index is not None and spans:
        missing = [s for s in spans if a.index.exists(s[0], a.path) is False]
        if len(missing) == len(spans):
            strict = a.index.strict
            for name, start, end in missing:
                a.add(
                    "JL040",
                    ERROR if strict else WARNING,
                    f"template {name!r} not found"
                    + ("" if strict else " in this tree (set lint.template_paths to be sure)"),
                    start,
                    end,
                    name=name,
                )
    return [s[0] for s in spans]


def h_print(a: Analyzer, tag: Tag) -> None:
    p = Parser(tag.tokens, a, 1)
    p.tuple_()
    p.expect_end()


def h_loopcontrol(a: Analyzer, tag: Tag) -> None:
    Parser(tag.tokens, a, 1).expect_end()
    for frame in reversed(a.frames):
        if frame.tag == "for":
            return
        if frame.tag in ("macro", "call"):
            break
    a.add("JL008", ERROR, f"'{{% {tag.name} %}}' outside a for loop", tag.start, tag.end)


def h_plain(a: Analyzer, tag: Tag) -> None:
    Parser(tag.tokens, a, 1).expect_end()


def h_opener(a: Analyzer, tag: Tag) -> None:
    """autoescape and generation: a block with an optional expression."""
    a.push(tag.name, tag.start)
    p = Parser(tag.tokens, a, 1)
    if not p.at_end():
        p.expression()
    p.end_statement()


def h_raw(a: Analyzer, tag: Tag) -> None:
    if len(tag.tokens) > 2:
        raise ParseError("'raw' takes no arguments", tag.tokens[1][2])


HANDLERS: dict[str, Handler] = {
    "for": h_for,
    "if": h_if,
    "elif": h_elif,
    "else": h_else,
    "set": h_set,
    "macro": h_macro,
    "call": h_call,
    "filter": h_filter,
    "with": h_with,
    "block": h_block,
    "extends": h_extends,
    "include": h_include,
    "import": h_import,
    "from": h_from,
    "print": h_print,
    "do": h_print,
    "break": h_loopcontrol,
    "continue": h_loopcontrol,
    "debug": h_plain,
    "autoescape": h_opener,
    "generation": h_opener,
    "trans": h_trans,
    "pluralize": h_pluralize,
    "raw": h_raw,
}
