"""Jinja expressions, parsed from scanner tokens with Jinja's grammar (``jinja2.parser``).

Precedence climbing keeps the call depth small (the linter re-runs on every keystroke).
Nodes are tuples whose first item is the kind; what analysis needs (names, filters, tests,
calls, attribute access) is reported to a sink as it is parsed, so there is no second walk.
Errors raise :class:`ParseError` with the offending token's offset.
"""

from __future__ import annotations

from typing import Any, Protocol

from tsr_lsp.jinja_lint.lexer import Token

Node = tuple[Any, ...]
CONST = "const"
NAME = "name"
ATTR = "attr"
ITEM = "item"
CALL = "call"
FILTER = "filter"
TEST = "test"
OTHER = "other"
SEQ = "seq"  # list or tuple literal: ("seq", pos, items)

_CONSTANTS = {"true": True, "True": True, "false": False, "False": False}
_NONE = {"none", "None"}
_BIN_OPS = {
    "==": 4,
    "!=": 4,
    ">": 4,
    ">=": 4,
    "<": 4,
    "<=": 4,
    "+": 5,
    "-": 5,
    "~": 6,
    "*": 7,
    "/": 7,
    "//": 7,
    "%": 7,
    "**": 8,
}
_WORD_OPS = {"or": 1, "and": 2, "in": 4}
_PRIMARY_START = {"name", "string", "integer", "float"}
_FOLD_LIMIT = 10**12
# Nesting levels (brackets, unary operators, call arguments) before the parser gives up with
# an error instead of exhausting Python's stack; Jinja's own parser fails near 190.
MAX_NESTING = 100


class ParseError(Exception):
    def __init__(self, message: str, offset: int, code: str = "JL001") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.code = code  # JL054 when the input is a resource attack (nesting)


class Sink(Protocol):
    def use(self, name: str, pos: int) -> None: ...
    def on_filter(
        self, name: str, pos: int, subject: Node, args: list[Node], kwargs: dict[str, Node]
    ) -> None: ...
    def on_test(self, name: str, pos: int, subject: Node) -> None: ...
    def on_call(
        self, func: Node, args: list[Node], kwargs: list[str], pos: int, dyn: bool
    ) -> None: ...
    def on_attr(self, obj: Node, attr: str, pos: int) -> None: ...


def describe(tok: Token) -> str:
    kind, value, _ = tok
    if kind == "end":
        return "end of tag"
    if kind == "string":
        return "string"
    return repr(value)


class Parser:
    """Parses expressions from ``toks[i:]``; the token list ends with an ``end`` sentinel."""

    __slots__ = ("depth", "i", "sink", "toks")

    def __init__(self, toks: list[Token], sink: Sink, start: int = 0) -> None:
        self.toks = toks
        self.i = start
        self.sink = sink
        self.depth = 0

    # -------------------------------------------------------------- token helpers
    @property
    def cur(self) -> Token:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Token:
        j = self.i + k
        toks = self.toks
        return toks[j] if j < len(toks) else toks[-1]

    def at_end(self) -> bool:
        return self.toks[self.i][0] == "end"

    def is_name(self, value: str) -> bool:
        tok = self.toks[self.i]
        return tok[0] == "name" and tok[1] == value

    def is_op(self, value: str) -> bool:
        tok = self.toks[self.i]
        return tok[0] == "op" and tok[1] == value

    def skip_name(self, value: str) -> bool:
        tok = self.toks[self.i]
        if tok[0] == "name" and tok[1] == value:
            self.i += 1
            return True
        return False

    def skip_op(self, value: str) -> bool:
        tok = self.toks[self.i]
        if tok[0] == "op" and tok[1] == value:
            self.i += 1
            return True
        return False

    def expect_op(self, value: str) -> Token:
        tok = self.toks[self.i]
        if tok[0] == "op" and tok[1] == value:
            self.i += 1
            return tok
        raise ParseError(f"expected {value!r}, got {describe(tok)}", tok[2])

    def expect_name(self, what: str = "a name") -> Token:
        tok = self.toks[self.i]
        if tok[0] == "name":
            self.i += 1
            return tok
        raise ParseError(f"expected {what}, got {describe(tok)}", tok[2])

    def fail(self, message: str) -> ParseError:
        return ParseError(message, self.toks[self.i][2])

    def end_statement(self) -> None:
        """End of a tag that opens a body: Jinja allows a Python-style ``:`` before it."""
        if self.is_op(":") and self.toks[self.i + 1][0] == "end":
            self.i += 1
        self.expect_end()

    def expect_end(self) -> None:
        tok = self.toks[self.i]
        if tok[0] != "end":
            raise ParseError(f"unexpected {describe(tok)} (expected end of tag)", tok[2])

    # -------------------------------------------------------------- grammar
    def tuple_(
        self,
        *,
        simplified: bool = False,
        condexpr: bool = True,
        end_names: tuple[str, ...] = (),
        explicit: bool = False,
    ) -> Node:
        items: list[Node] = []
        is_tuple = False
        pos = self.cur[2]
        while True:
            if items:
                self.expect_op(",")
            tok = self.cur
            if (
                tok[0] == "end"
                or (tok[0] == "op" and tok[1] == ")")
                or (tok[0] == "name" and tok[1] in end_names)
            ):
                break
            items.append(self.primary(store=True) if simplified else self.expression(condexpr))
            if self.is_op(","):
                is_tuple = True
            else:
                break
        if not is_tuple:
            if items:
                return items[0]
            if not explicit:
                raise self.fail(f"expected an expression, got {describe(self.cur)}")
        return (SEQ, pos, items)

    def expression(self, condexpr: bool = True) -> Node:
        node = self.binary(1)
        if not condexpr:
            return node
        while self.is_name("if"):
            pos = self.cur[2]
            self.i += 1
            self.binary(1)
            if self.skip_name("else"):
                self.expression()
            node = (OTHER, pos)
        return node

    def binary(self, min_prec: int) -> Node:
        tok = self.toks[self.i]
        if tok[0] == "name" and tok[1] == "not" and min_prec <= 3:
            self.i += 1
            self._nest(tok)
            try:
                self.binary(3)
            finally:
                self.depth -= 1
            left: Node = (OTHER, tok[2])
        else:
            left = self.unary(True)
        toks = self.toks
        while True:
            tok = toks[self.i]
            kind, value = tok[0], tok[1]
            if kind == "op":
                prec = _BIN_OPS.get(value, 0)
            elif kind == "name":
                prec = _WORD_OPS.get(value, 0)
                if not prec and value == "not" and toks[self.i + 1][1] == "in":
                    prec = 4
                    self.i += 1
            else:
                break
            if prec < min_prec or not prec:
                break
            self.i += 1
            right = self.binary(prec + 1)
            if value in ("*", "**") and left[0] == CONST and right[0] == CONST:
                _check_size(self.sink, value, left[1], right[1], tok[2])
            if value in ("*", "%"):
                hook = getattr(self.sink, "on_binop", None)
                if hook is not None:
                    hook(value, left, right, tok[2])
            left = _fold(value, left, right, tok[2])
        return left

    def _nest(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.depth = 0
            raise ParseError(
                f"expression nested more than {MAX_NESTING} levels deep", tok[2], "JL054"
            )

    def unary(self, with_filter: bool) -> Node:
        tok = self.toks[self.i]
        self._nest(tok)
        try:
            return self._unary(tok, with_filter)
        finally:
            self.depth = max(0, self.depth - 1)

    def _unary(self, tok: Token, with_filter: bool) -> Node:
        if tok[0] == "op" and (tok[1] == "-" or tok[1] == "+"):
            self.i += 1
            inner = self.unary(False)
            node: Node = (
                (CONST, -inner[1], tok[2])
                if tok[1] == "-" and inner[0] == CONST and type(inner[1]) in (int, float)
                else (OTHER, tok[2])
            )
        else:
            node = self.primary()
        node = self.postfix(node)
        if with_filter:
            node = self.filters(node)
        return node

    def primary(self, store: bool = False) -> Node:
        tok = self.toks[self.i]
        kind, value, pos = tok
        if kind == "name":
            self.i += 1
            if value in _CONSTANTS:
                return (CONST, _CONSTANTS[value], pos)
            if value in _NONE:
                return (CONST, None, pos)
            if store:
                if self.is_op("."):  # namespace attribute: {% set ns.x = ... %}
                    self.i += 1
                    attr = self.expect_name()
                    return (ATTR, (NAME, value, pos), attr[1], attr[2])
                return (NAME, value, pos)
            self.sink.use(value, pos)
            return (NAME, value, pos)
        if kind == "string":
            self.i += 1
            text = unquote(value)
            while self.toks[self.i][0] == "string":
                text += unquote(self.toks[self.i][1])
                self.i += 1
            return (CONST, text, pos)
        if kind == "integer":
            self.i += 1
            try:
                return (CONST, int(value.replace("_", ""), 0), pos)
            except ValueError:
                return (CONST, 0, pos)
        if kind == "float":
            self.i += 1
            return (CONST, float(value.replace("_", "")), pos)
        if kind == "op":
            if value == "(":
                self.i += 1
                node = self.tuple_(explicit=True, simplified=store)
                self.expect_op(")")
                return node
            if value == "[":
                return self.list_()
            if value == "{":
                return self.dict_()
        raise ParseError(f"unexpected {describe(tok)}", pos)

    def list_(self) -> Node:
        pos = self.expect_op("[")[2]
        items: list[Node] = []
        while not self.is_op("]"):
            if items:
                self.expect_op(",")
                if self.is_op("]"):
                    break
            items.append(self.expression())
        self.expect_op("]")
        return (SEQ, pos, items)

    def dict_(self) -> Node:
        pos = self.expect_op("{")[2]
        first = True
        while not self.is_op("}"):
            if not first:
                self.expect_op(",")
                if self.is_op("}"):
                    break
            self.expression()
            self.expect_op(":")
            self.expression()
            first = False
        self.expect_op("}")
        return (OTHER, pos)

    def postfix(self, node: Node) -> Node:
        toks = self.toks
        while True:
            tok = toks[self.i]
            if tok[0] != "op":
                return node
            value = tok[1]
            if value == ".":
                self.i += 1
                attr = toks[self.i]
                if attr[0] == "name":
                    self.i += 1
                    self.sink.on_attr(node, attr[1], attr[2])
                    node = (ATTR, node, attr[1], attr[2])
                elif attr[0] == "integer":
                    self.i += 1
                    node = (ITEM, node, (CONST, attr[1], attr[2]), attr[2])
                else:
                    raise ParseError(f"expected a name or number, got {describe(attr)}", attr[2])
            elif value == "[":
                self.i += 1
                keys: list[Node] = []
                while not self.is_op("]"):
                    if keys:
                        self.expect_op(",")
                    keys.append(self.subscribed())
                self.expect_op("]")
                key = keys[0] if len(keys) == 1 else (OTHER, tok[2])
                if key[0] == CONST and isinstance(key[1], str):
                    self.sink.on_attr(node, key[1], key[2])
                node = (ITEM, node, key, tok[2])
            elif value == "(":
                node = self.call(node)
            else:
                return node

    def subscribed(self) -> Node:
        pos = self.cur[2]
        if not self.is_op(":"):
            node = self.expression()
            if not self.is_op(":"):
                return node
        self.i += 1
        if not (self.is_op(":") or self.is_op("]") or self.is_op(",")):
            self.expression()
        if self.skip_op(":") and not (self.is_op("]") or self.is_op(",")):
            self.expression()
        return (OTHER, pos)

    def call_args(self) -> tuple[list[Node], list[str], bool]:
        args, values, dyn = self.call_args_values()
        return args, list(values), dyn

    def call_args_values(self) -> tuple[list[Node], dict[str, Node], bool]:
        """Like ``call_args``, with each keyword argument's value."""
        open_tok = self.expect_op("(")
        args: list[Node] = []
        kwargs: dict[str, Node] = {}
        dyn = False
        need_comma = False
        toks = self.toks
        while not self.is_op(")"):
            if need_comma:
                self.expect_op(",")
                if self.is_op(")"):
                    break
            tok = toks[self.i]
            if tok[0] == "op" and tok[1] in ("*", "**"):
                self.i += 1
                self.expression()
                dyn = True
            elif tok[0] == "name" and toks[self.i + 1][0] == "op" and toks[self.i + 1][1] == "=":
                self.i += 2
                kwargs[tok[1]] = self.expression()
            else:
                if kwargs or dyn:
                    raise ParseError("positional argument after keyword argument", tok[2])
                args.append(self.expression())
            need_comma = True
        if self.at_end():
            raise ParseError("'(' is never closed", open_tok[2])
        self.i += 1
        return args, kwargs, dyn

    def call(self, func: Node) -> Node:
        pos = self.cur[2]
        args, kwargs, dyn = self.call_args()
        self.sink.on_call(func, args, kwargs, pos, dyn)
        return (CALL, func, args, kwargs, pos, dyn)

    def filters(self, node: Node) -> Node:
        toks = self.toks
        while True:
            tok = toks[self.i]
            if tok[0] == "op" and tok[1] == "|":
                self.i += 1
                node = self.filter_chain(node, inline=True)
            elif tok[0] == "name" and tok[1] == "is":
                node = self.test(node)
            elif tok[0] == "op" and tok[1] == "(":
                node = self.call(node)
            else:
                return node

    def filter_chain(self, node: Node, inline: bool = False) -> Node:
        """One or more ``| name(args)``; ``inline`` means the first pipe is already eaten."""
        while inline or self.skip_op("|"):
            inline = False
            tok = self.expect_name("a filter name")
            name = tok[1]
            while self.skip_op("."):
                name += "." + self.expect_name()[1]
            args: list[Node] = []
            kwargs: dict[str, Node] = {}
            if self.is_op("("):
                args, kwargs, _ = self.call_args_values()
            self.sink.on_filter(name, tok[2], node, args, kwargs)
            node = (FILTER, node, name, tok[2])
        return node

    def test(self, node: Node) -> Node:
        self.i += 1  # "is"
        self.skip_name("not")
        tok = self.expect_name("a test name")
        name = tok[1]
        while self.skip_op("."):
            name += "." + self.expect_name()[1]
        cur = self.cur
        if cur[0] == "op" and cur[1] == "(":
            self.call_args()
        elif (cur[0] in _PRIMARY_START or (cur[0] == "op" and cur[1] in "([{")) and not (
            cur[0] == "name" and cur[1] in ("else", "or", "and")
        ):
            if cur[0] == "name" and cur[1] == "is":
                raise ParseError("tests cannot be chained with 'is'", cur[2])
            self.postfix(self.primary())
        self.sink.on_test(name, tok[2], node)
        return (TEST, node, name, tok[2])

    # -------------------------------------------------------------- assignment targets
    def target(self, end_names: tuple[str, ...] = ()) -> list[Token]:
        """Names assigned by ``for``/``set``/``with`` targets (tuples allowed)."""
        node = self.tuple_(simplified=True, end_names=end_names)
        names: list[Token] = []
        _collect_targets(node, names, self.cur[2])
        return names


def _collect_targets(node: Node, out: list[Token], pos: int) -> None:
    kind = node[0]
    if kind == NAME:
        out.append(("name", node[1], node[2]))
    elif kind == SEQ:
        for item in node[2]:
            _collect_targets(item, out, pos)
    elif kind == ATTR and node[1][0] == NAME:
        out.append(("nsref", node[1][1], node[1][2]))
    else:
        raise ParseError("cannot assign to this expression", node[-1] if kind == CONST else pos)


def unquote(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body
    try:
        return body.encode("ascii", "backslashreplace").decode("unicode-escape")
    except UnicodeDecodeError:
        return body


def _check_size(sink: Sink, op: str, a: Any, b: Any, pos: int) -> None:
    """``'x' * 10**9`` or ``9 ** 999999``: values the sandbox refuses to build."""
    hook = getattr(sink, "on_big", None)
    if hook is None:
        return
    if op == "*":
        for seq, times in ((a, b), (b, a)):
            if isinstance(seq, str) and type(times) in (int, float) and len(seq) * times > 200_000:
                hook(pos, f"repeats a string {_fmt_num(times)} times")
    elif (
        type(a) is int
        and type(b) in (int, float)
        and abs(a) > 1
        and b > 0
        and (b == float("inf") or b * max(abs(a).bit_length(), 1) > 4096)
    ):
        hook(pos, f"computes {a} ** {_fmt_num(b)}")


def _fmt_num(n: Any) -> str:
    return "a huge number of" if n == float("inf") else f"{int(n):,}"


def _fold(op: str, left: Node, right: Node, pos: int) -> Node:
    """Constant-fold arithmetic so ``range(10 ** 9)`` is recognised; bounded so a hostile
    template cannot make the linter itself compute a huge number."""
    if left[0] != CONST or right[0] != CONST:
        return (OTHER, pos)
    a, b = left[1], right[1]
    if type(a) not in (int, float) or type(b) not in (int, float):
        if op == "~" or (op == "+" and isinstance(a, str) and isinstance(b, str)):
            return (CONST, f"{a}{b}", left[2])
        return (OTHER, pos)
    try:
        if op == "+":
            value = a + b
        elif op == "-":
            value = a - b
        elif op == "*":
            value = a * b
        elif op == "**":
            if abs(b) > 64 or abs(a) > _FOLD_LIMIT:
                value = float("inf") if abs(a) > 1 and b > 0 else 0
            else:
                value = a**b
        elif op == "//":
            value = a // b
        elif op == "/":
            value = a / b
        elif op == "%":
            value = a % b
        else:
            return (OTHER, pos)
    except (ZeroDivisionError, OverflowError, TypeError):
        return (OTHER, pos)
    if isinstance(value, int) and abs(value) > _FOLD_LIMIT**2:
        value = float("inf")
    return (CONST, value, left[2])
