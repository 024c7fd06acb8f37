"""Security checks: what the prompt sandbox (prompts/sandbox.py) blocks, said before anyone
renders the template. Pure: each check reads parsed nodes and adds diagnostics.

- JL050/JL051 (escapes): unsafe names given as strings to filters that look attributes up
  (``map(attribute='__class__')``, ``selectattr('__class__')``, ``sort(attribute=...)``),
  ``|attr('format')``, and ``str.format`` on a computed string;
- JL054 (resource attacks): repetition by a big count, size arguments beyond the sandbox's
  limits (widths, padding, counts), huge ``%``/``format`` widths and nested format specs,
  ``sum(start=[...])`` (list concatenation), a value doubled on every loop iteration, macros
  calling themselves several times or with unchanged arguments, ``loop(...)`` over the same
  items, expressions nested beyond Jinja's parser, more tokens than the sandbox compiles;
- JL055: include/import/extends/from targets outside the template folders.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tsr_lsp.jinja_lint import knowledge as K
from tsr_lsp.jinja_lint.expr import ATTR, CONST, NAME, SEQ, Node
from tsr_lsp.jinja_lint.model import ERROR, WARNING

if TYPE_CHECKING:
    from tsr_lsp.jinja_lint.analyzer import Analyzer, Frame

RESOURCE = "JL054"
INCLUDE_PATH = "JL055"
# filters that look up attributes named by a string: which positional argument names one
_ATTRIBUTE_ARG: dict[str, int | None] = {
    "map": None,
    "select": None,
    "reject": None,
    "selectattr": 0,
    "rejectattr": 0,
    "groupby": 0,
    "sum": 0,
    "sort": None,
    "unique": None,
    "min": None,
    "max": None,
    "join": None,
    "dictsort": None,
}
# filters and methods whose integer argument is a size (width, padding, count, length)
_SIZE_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice", "tojson"})
_SIZE_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "to_bytes"})
_PERCENT_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def big_number(a: Analyzer) -> int:
    """Integers from here on are beyond what the sandbox lets one value grow by."""
    return a.options.max_range * 10


def _resource(a: Analyzer, message: str, start: int, end: int | None = None) -> None:
    a.add(RESOURCE, a.sandbox_severity, message, start, end or start + 1)


def _int(node: Node) -> int | None:
    if node[0] == CONST and type(node[1]) in (int, float) and node[1] == node[1]:
        return int(min(node[1], 10**18))
    return None


# ---------------------------------------------------------------------- expressions


def source_tokens(a: Analyzer) -> None:
    """More tokens than the sandbox compiles: compiling is not interruptible, and its time
    and memory grow with the tokens inside tags."""
    from tsr_lsp.prompts.sandbox import MAX_SOURCE_TOKENS, count_tokens

    if count_tokens(a.source, MAX_SOURCE_TOKENS) > MAX_SOURCE_TOKENS:
        _resource(
            a,
            f"more than {MAX_SOURCE_TOKENS:,} tokens (tags, names, operators): too big to "
            "compile within the sandbox's budget",
            0,
        )


def repetition(a: Analyzer, left: Node, right: Node, pos: int) -> None:
    """``x * N`` with a constant count of at least ``max_range`` (the sandbox's range)."""
    for value, count in ((left, right), (right, left)):
        n = _int(count)
        if n is not None and n >= a.options.max_range and _int(value) is None:
            if value[0] == CONST and isinstance(value[1], str) and len(value[1]) * n > 200_000:
                return  # JL052 (on_big) already says so
            _resource(a, f"repeats a value {n:,} times: big values exhaust memory", pos)
            return


def percent(a: Analyzer, fmt: Node, pos: int) -> None:
    """``'%0999999999d' % x``: widths beyond the sandbox's limits."""
    if fmt[0] == CONST and isinstance(fmt[1], str):
        _widths(a, fmt[1], _PERCENT_WIDTH.findall(fmt[1]), pos, "'%' formatting")


def _widths(a: Analyzer, text: str, groups: list[Any], pos: int, what: str) -> None:
    for group in groups:
        for g in group if isinstance(group, tuple) else (group,):
            if g == "*":
                _resource(a, f"{what} takes its width from an argument ('*')", pos)
                return
            if g and g.isdigit() and int(g) >= big_number(a):
                _resource(a, f"{what} pads to {int(g):,} characters", pos)
                return


def _brace_format(a: Analyzer, text: str, pos: int) -> None:
    for spec in _BRACE_SPEC.findall(text):
        if "{" in spec:
            _resource(a, "a format spec takes its width from an argument (nested '{...}')", pos)
            return
        for number in re.findall(r"\d+", spec):
            if int(number) >= big_number(a):
                _resource(a, f"str.format pads to {int(number):,} characters", pos)
                return


# ---------------------------------------------------------------------- filters


def filter_call(
    a: Analyzer, name: str, pos: int, subject: Node, args: list[Node], kwargs: dict[str, Node]
) -> None:
    named: list[Node] = []
    if name in _ATTRIBUTE_ARG:
        index = _ATTRIBUTE_ARG[name]
        if index is not None and len(args) > index:
            named.append(args[index])
        if "attribute" in kwargs:
            named.append(kwargs["attribute"])
    for node in named:
        if node[0] == CONST and isinstance(node[1], str):
            for part in node[1].split("."):
                a.on_attr(subject, part, node[2])
    if name == "attr" and args and args[0][0] == CONST and args[0][1] in K.FORMAT_METHODS:
        a.add(
            "JL051",
            ERROR,
            f"attr('{args[0][1]}') reaches str.{args[0][1]}: format strings can walk to "
            "private attributes (a known sandbox-escape pattern)",
            args[0][2],
            args[0][2] + len(args[0][1]) + 2,
        )
    if name == "sum":
        start = kwargs.get("start", args[1] if len(args) > 1 else None)
        if start is not None and (
            start[0] == SEQ or (start[0] == CONST and isinstance(start[1], (str, list)))
        ):
            _resource(
                a,
                "sum(start=...) of lists or strings concatenates them again and again "
                "(quadratic work, unbounded memory); use 'join' or a loop",
                pos,
                pos + len(name),
            )
    if name in _SIZE_FILTERS:
        _size_args(a, [*args, *kwargs.values()], f"'{name}'", pos, pos + len(name))
    elif name == "map" and args and args[0][0] == CONST and args[0][1] in _SIZE_FILTERS:
        _size_args(a, [*args[1:], *kwargs.values()], f"map('{args[0][1]}')", pos, pos + 3)
    if name == "format":
        percent(a, subject, pos)


def _size_args(a: Analyzer, args: list[Node], what: str, start: int, end: int) -> None:
    for node in args:
        n = _int(node)
        if n is not None and n >= big_number(a):
            _resource(a, f"{what} with a size of {n:,}: beyond the sandbox's limits", start, end)
            return


# ---------------------------------------------------------------------- calls


def call(a: Analyzer, func: Node, args: list[Node], pos: int) -> None:
    if func[0] == ATTR:
        obj, attr, at = func[1], func[2], func[3]
        if attr in K.FORMAT_METHODS:
            if obj[0] == CONST and isinstance(obj[1], str):
                _brace_format(a, obj[1], at)
            else:
                a.add(
                    "JL051",
                    a.sandbox_severity,
                    f"str.{attr} on a computed string: its fields are not under your control "
                    "(a known sandbox-escape and memory-attack pattern); use '~' or the "
                    "'format' filter on a literal",
                    at,
                    at + len(attr),
                )
        elif attr in _SIZE_METHODS:
            _size_args(a, args, f"'.{attr}()'", at, at + len(attr))
    elif func[0] == NAME:
        if func[1] == "lipsum":
            _size_args(a, args[:1], "lipsum()", func[2], func[2] + 6)
        elif func[1] == "loop":
            _recursive_loop(a, args, func[2])
        else:
            _self_call(a, func[1], args, func[2])


def _innermost(a: Analyzer, tag: str) -> Frame | None:
    for frame in reversed(a.frames):
        if frame.tag == tag:
            return frame
    return None


def _recursive_loop(a: Analyzer, args: list[Node], pos: int) -> None:
    """``loop(items)`` inside ``{% for x in items recursive %}``: the same items forever."""
    frame = _innermost(a, "for")
    source = getattr(frame.info, "source", None) if frame is not None else None
    if args and source is not None and args[0][:2] == source[:2] and args[0][0] == NAME:
        _resource(a, f"loop({args[0][1]}) recurses into the same items: it never ends", pos)


class LoopInfo:
    """What a for frame remembers for the checks: its iterable."""

    __slots__ = ("source",)

    def __init__(self, source: Node) -> None:
        self.source = source


def _self_call(a: Analyzer, name: str, args: list[Node], pos: int) -> None:
    frame = _innermost(a, "macro")
    sig = frame.info if frame is not None else None
    if sig is None or getattr(sig, "name", None) != name:
        return
    calls: list[int] = a.self_calls.setdefault(id(frame), [])
    calls.append(pos)
    params = list(getattr(sig, "params", []))
    same = len(args) == len(params) and all(
        n[0] == NAME and n[1] == p for n, p in zip(args, params, strict=True)
    )
    if same:
        _resource(a, f"{name}() calls itself with the same arguments: it never ends", pos)


def macro_closed(a: Analyzer, frame: Frame) -> None:
    calls = a.self_calls.pop(id(frame), [])
    if len(calls) >= 2:
        sig = frame.info
        a.add(
            RESOURCE,
            WARNING,
            f"{getattr(sig, 'name', 'this macro')}() calls itself {len(calls)} times: the "
            "work multiplies at every level (exponential); the sandbox stops it at its time "
            "budget",
            calls[0],
            calls[0] + 1,
        )


# ---------------------------------------------------------------------- statements


def doubling_set(a: Analyzer, root: str, uses: int, ops: set[str], start: int, end: int) -> None:
    """``{% set ns.s = ns.s ~ ns.s %}`` in a loop: the value doubles on every iteration."""
    if uses >= 2 and ops & {"~", "+", "*"} and _innermost(a, "for") is not None:
        _resource(
            a, f"'{root}' grows from itself twice on every loop iteration (doubling)", start, end
        )


def include_target(a: Analyzer, kind: str, name: str, start: int, end: int) -> None:
    """Prompt and chat templates render without a loader: any include is refused there. Other
    Jinja loaders treat a leading '/' as their own root, but '..' and drive or home paths
    point outside the template folders."""
    from tsr_lsp.jinja_lint.context import CHAT, PROMPT

    parts = re.split(r"[\\/]", name)
    if ".." in parts or _DRIVE.match(name) or name.startswith("~"):
        a.add(
            INCLUDE_PATH,
            ERROR,
            f"{kind} {name!r} reaches outside the template folders ('..' or a home or drive path)",
            start,
            end,
        )
    elif a.kind in (PROMPT, CHAT):
        a.add(
            INCLUDE_PATH,
            ERROR,
            f"{kind} {name!r}: prompt templates render without a loader and cannot read "
            "other files",
            start,
            end,
        )
