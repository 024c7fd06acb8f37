"""Rendering untrusted templates: Jinja's immutable sandbox plus a budget of work and memory.

The sandbox blocks attribute walks (``__class__``, ``__globals__``, ``mro``) and unsafe
``str.format``. On top of it, every render gets a budget and fails fast with a clear error
(``RenderError``) when it runs out:
- time: a wall-clock deadline, checked at every loop iteration, call, operator, filter,
  attribute access and output chunk (a single operation is bounded by the size caps below,
  so no uninterruptible step can run long);
- loop iterations, counted across all loops of one render (every ``for`` iterable is
  wrapped by a counting filter at parse time, recursive ``loop(...)`` calls included), and
  calls (macros calling themselves);
- size: no single value a template builds may exceed ``MAX_SIZE`` characters or items, and
  all values built in one render together may not exceed ``MAX_BUILT`` (the memory budget).
  Sizes are estimated *before* the work for everything that can amplify: repetition
  (``*``), ``+`` and ``~`` concatenation, ``%`` and ``str.format``, ``sum``, ``join``,
  ``replace``, ``indent``, padding and width arguments, ``expandtabs``, ``translate``;
- big integers (``**``, ``*``), ``range`` length, ``lipsum`` size, recursion depth, source
  size and tokens (compiling is not interruptible), and output size (checked while the
  output streams).
Includes, imports and extends have no loader: prompt templates are self-contained.
"""

from __future__ import annotations

import re
import string
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, Template, TemplateError, TemplateNotFound, nodes
from jinja2.runtime import LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

MAX_OUTPUT_CHARS = 200_000
MAX_SOURCE_CHARS = 500_000  # compiling is not budgeted: refuse sources no prompt needs
# Compiling costs time and memory by the tokens inside tags, not by characters: 100,000
# characters of `{{a}}` took 3 s and 150 MB (2 cores, load 8). 20,000 tokens compile in about
# 1 s; prompt templates have a few hundred, chat templates a few thousand.
MAX_SOURCE_TOKENS = 20_000
COMPILED_CACHE_CHARS = 1_000_000  # compiled templates kept, by their sources' total size
MAX_RANGE = 10_000
MAX_LOOP_ITERATIONS = 100_000
MAX_CALLS = 100_000  # function, method and macro calls in one render
MAX_SIZE = 1_000_000  # one value a template builds (characters or items)
MAX_BUILT = 20_000_000  # all values built in one render, summed (characters or items)
MAX_INT_BITS = 65_536  # ints a template computes (``**``, ``*``)
MAX_SECONDS = 1.0  # wall clock for one render
_GUARD = "_tsr_loop_guard"
_CONCAT = "_tsr_concat"
_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMATTER = string.Formatter()
_SEQUENCES = (str, list, tuple)


class RenderError(Exception):
    """A template could not be rendered; the message names the template and the reason."""


class _Budget:
    __slots__ = ("built", "calls", "deadline", "left", "limit", "max_built", "seconds")

    def __init__(self, limit: int, seconds: float, max_built: int) -> None:
        self.limit = limit
        self.left = limit
        self.calls = 0
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.max_built = max_built
        self.built = 0


_BUDGET: ContextVar[_Budget | None] = ContextVar("tsr_render_budget", default=None)


def _tick() -> _Budget | None:
    """The time check every guarded operation makes."""
    budget = _BUDGET.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise SecurityError(f"rendering took longer than {budget.seconds:g} s")
    return budget


def _charge(n: int, what: str, base: int = 0) -> None:
    """Account for ``n`` characters or items about to be built from inputs whose largest has
    ``base``: growth beyond MAX_SIZE in one step is refused (a big input passing through is
    not), and everything built counts against the memory budget."""
    if n - base > MAX_SIZE:
        raise SecurityError(f"{what} would build {n:,} items (limit {MAX_SIZE:,})")
    _tick()
    _account(n)


def _account(n: int) -> None:
    """Count what was built (results passing through) against the memory budget only."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.built += n
        if budget.built > budget.max_built:
            raise SecurityError(
                f"the template builds more than {budget.max_built:,} characters or items "
                "in total (the memory budget)"
            )


def _size(value: Any) -> int:
    """What ``str(value)`` roughly costs (containers: their repr)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return 8 * len(value) + 2
    return 24


def _items(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, dict, set, frozenset)) else 1


def _check_int(n: Any, what: str) -> None:
    if isinstance(n, int) and not isinstance(n, bool) and abs(n) > MAX_SIZE:
        raise SecurityError(f"{what} {n:,} is too big (limit {MAX_SIZE:,})")


# ---------------------------------------------------------------------- loops


def _loop_guard(iterable: Any) -> Any:
    """Wraps every for-loop iterable: counts iterations against the render's budget."""
    budget = _BUDGET.get()
    if budget is None:
        return iterable
    return _counted(iterable, budget)


def _counted(iterable: Any, budget: _Budget) -> Any:
    for item in iterable:
        budget.left -= 1
        if budget.left < 0:
            raise SecurityError(f"more than {budget.limit:,} loop iterations in one render")
        if time.monotonic() > budget.deadline:
            raise SecurityError(f"rendering took longer than {budget.seconds:g} s")
        yield item


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range too big ({len(rng):,} > {MAX_RANGE:,})")
    return rng


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
    from jinja2.utils import generate_lorem_ipsum

    if n * max > MAX_SIZE // 5:
        raise SecurityError("lipsum too big")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


# ---------------------------------------------------------------------- formatting


def _check_percent(fmt: str, args: Any) -> None:
    """``fmt % args``: widths bounded, and the result's size estimated."""
    widest = 0
    for m in _WIDTH.finditer(fmt):
        for group in m.groups():
            if group == "*":
                raise SecurityError("'*' widths are not allowed in '%' formatting")
            if group and group.isdigit():
                _check_int(int(group), "'%' padding")
                widest = max(widest, int(group))
    values = list(args.values()) if isinstance(args, dict) else args
    values = values if isinstance(values, tuple) else [values]
    biggest = max((_size(v) for v in values), default=0)
    _charge(len(fmt) + fmt.count("%") * max(biggest, widest), "'%' formatting")


def _check_brace_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """``fmt.format(...)``: no nested fields in a spec, widths bounded, size estimated."""
    fields = 0
    widest = 0
    try:
        parsed = list(_FORMATTER.parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _, field, spec, _ in parsed:
        if field is None:
            continue
        fields += 1
        if spec and "{" in spec:
            raise SecurityError("nested replacement fields in a format spec are not allowed")
        for number in re.findall(r"\d+", spec or ""):
            _check_int(int(number), "format width")
            widest = max(widest, int(number))
    biggest = max((_size(v) for v in (*args, *kwargs.values())), default=0)
    _charge(len(fmt) + fields * max(biggest, widest), "str.format")


# ---------------------------------------------------------------------- filters

# Estimators: (value, args after the value, kwargs) -> (size about to be built, size of the
# largest input, the value to pass on: iterables are materialised once so that sizing does
# not consume them).
Estimate = Callable[[Any, tuple[Any, ...], dict[str, Any]], tuple[int, int, Any]]


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return kwargs[name] if name in kwargs else (args[i] if len(args) > i else default)


Sized = tuple[int, int, Any]


def _est_sum(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Sized:
    items = list(value)
    start = _arg(args, kwargs, 1, "start", 0)
    if _arg(args, kwargs, 0, "attribute", None) is None and (
        isinstance(start, _SEQUENCES) or any(isinstance(x, _SEQUENCES) for x in items[:1])
    ):
        sizes = [_items(start), *(_items(x) for x in items)]
        total = sum(sizes)
        # each + copies everything so far: quadratic in the number of pieces
        if total * max(len(items), 1) // 2 > MAX_BUILT:
            raise SecurityError(f"'sum' would concatenate {total:,} items {len(items):,} times")
        return total, max(sizes), items
    return len(items), len(items), items


def _est_join(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Sized:
    items = list(value)
    sep = _arg(args, kwargs, 0, "d", "")
    sizes = [_size(x) for x in items]
    return sum(sizes) + _size(sep) * len(items), max(sizes, default=0), items


def _est_replace(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Sized:
    old, new = str(_arg(args, kwargs, 0, "old", "")), str(_arg(args, kwargs, 1, "new", ""))
    s = str(value)
    hits = s.count(old) if old else len(s) + 1
    return len(s) + hits * max(len(new) - len(old), 0), len(s), value


def _est_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Sized:
    width = _arg(args, kwargs, 0, "width", 4)
    _check_int(width, "'indent' width")
    pad = len(width) if isinstance(width, str) else int(width)
    s = str(value)
    return len(s) + (s.count("\n") + 1) * pad, len(s), value


def _est_wordwrap(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Sized:
    width = _arg(args, kwargs, 0, "width", 79)
    _check_int(width, "'wordwrap' width")
    s = str(value)
    lines = len(s) // max(int(width), 1)
    if lines > MAX_RANGE:
        raise SecurityError(f"'wordwrap' would make {lines:,} lines (limit {MAX_RANGE:,})")
    wrap = str(_arg(args, kwargs, 2, "wrapstring", None) or "\n")
    return len(s) + lines * len(wrap), len(s), value


def _est_width(grows: bool) -> Estimate:
    """Filters with a size argument (width, length, count): it must stay within bounds; when
    ``grows``, the result is as big as the argument (padding, fill items)."""

    def estimate(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Sized:
        base = _items(value) if isinstance(value, _SEQUENCES) else 0
        size = base
        for v in (*args[:1], *kwargs.values()):
            _check_int(v, "the size argument")
            if grows and isinstance(v, int) and not isinstance(v, bool):
                size = max(size, base + v)
        return size if grows else 0, base, value

    return estimate


def _est_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Sized:
    if isinstance(value, str):
        _check_percent(value, kwargs or tuple(args))
    return 0, 0, value


ESTIMATES: dict[str, Estimate] = {
    "sum": _est_sum,
    "join": _est_join,
    "replace": _est_replace,
    "indent": _est_indent,
    "wordwrap": _est_wordwrap,
    "format": _est_format,
    "center": _est_width(True),
    "slice": _est_width(True),
    "batch": _est_width(True),
    "truncate": _est_width(False),
    "tojson": _est_width(False),
}


def _guarded_filter(name: str, func: Any) -> Any:
    """``func`` with the render's time check, a size estimate before it runs (where one is
    known), and its result charged to the memory budget."""
    estimate = ESTIMATES.get(name)
    skip = 1 if _PassArg.from_obj(func) is not None else 0

    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if estimate is not None and len(args) > skip:
            size, base, value = estimate(args[skip], args[skip + 1 :], kwargs)
            _charge(size, f"'{name}'", base)
            args = (*args[:skip], value, *args[skip + 1 :])
        result = func(*args, **kwargs)
        if isinstance(result, (str, list)):
            _account(len(result))
        return result

    guarded.__dict__.update(getattr(func, "__dict__", {}))  # keep jinja's pass_* markers
    guarded.__doc__ = func.__doc__
    guarded.__name__ = getattr(func, "__name__", name)
    return guarded


def _concat(parts: list[Any], autoescape: bool = False) -> str:
    """``a ~ b ~ c`` (Jinja's Concat node), sized first."""
    sizes = [_size(p) for p in parts]
    _charge(sum(sizes), "'~' concatenation", max(sizes, default=0))
    return markup_join(parts) if autoescape else str_join(parts)


# ---------------------------------------------------------------------- str methods


def _check_str_method(s: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        _check_int(value, f"str.{name} argument")
    if name == "replace" and len(args) >= 2:
        size, base, _ = _est_replace(s, args, {})
        _charge(size, "str.replace", base)
    elif name == "join" and args:
        items = args[0] if isinstance(args[0], (list, tuple, str)) else ()
        sizes = [_size(x) for x in items]
        _charge(sum(sizes) + len(s) * len(items), "str.join", max(sizes, default=0))
    elif name in ("format", "format_map"):
        mapping = args[0] if name == "format_map" and args and isinstance(args[0], dict) else {}
        _check_brace_format(s, args if name == "format" else (), kwargs or mapping)
    elif name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else kwargs.get("tabsize", 8)
        _charge(len(s) + s.count("\t") * max(int(tab), 0), "str.expandtabs", len(s))
    elif name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _charge(max(len(s), args[0]), f"str.{name}", len(s))
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((_size(v) for v in args[0].values()), default=1)
        _charge(len(s) * max(longest, 1), "str.translate", len(s))


class _NoIncludes(BaseLoader):
    def get_source(self, environment: Any, template: str) -> Any:
        raise TemplateNotFound(
            template, f"prompt templates cannot include, import or extend files ({template!r})"
        )


class _Rewrite(NodeTransformer):
    """Every ``for`` iterable through the loop guard, every ``~`` through ``_concat``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _GUARD, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(list(node.nodes), lineno=node.lineno)
        return nodes.Filter(items, _CONCAT, [], [], None, None, lineno=node.lineno)


class PromptEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("keep_trailing_newline", True)
        kwargs.setdefault("undefined", StrictUndefined)
        kwargs.setdefault("autoescape", False)
        kwargs.setdefault("extensions", ["jinja2.ext.loopcontrols", "jinja2.ext.do"])
        kwargs.setdefault("loader", _NoIncludes())
        super().__init__(**kwargs)
        self.globals["range"] = _bounded_range
        self.globals["lipsum"] = _bounded_lipsum
        for name, func in list(self.filters.items()):
            self.filters[name] = _guarded_filter(name, func)
        self.filters[_GUARD] = _loop_guard
        self.filters[_CONCAT] = lambda parts: _concat(parts, bool(self.autoescape))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        rewritten: nodes.Template = _Rewrite().visit(tree)
        return rewritten

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, _SEQUENCES) and isinstance(times, int):
                    _charge(len(seq) * max(times, 0), "repetition", len(seq))
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise SecurityError("product too big")
        elif operator == "+":
            if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
                _charge(len(left) + len(right), "'+' concatenation", max(len(left), len(right)))
        elif (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * max(abs(left).bit_length(), 1) > 4096
        ):
            raise SecurityError("power too big")
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _tick()
        if budget is not None:
            budget.calls += 1
            if budget.calls > MAX_CALLS:
                raise SecurityError(f"more than {MAX_CALLS:,} calls in one render")
        if __obj is range:
            __obj = _bounded_range
        elif isinstance(__obj, LoopContext) and args:  # recursive loop(children)
            args = (_loop_guard(args[0]), *args[1:])
        else:
            # the sandbox hands out str.format as a wrapper around the bound method
            bound = getattr(__obj, "__wrapped__", __obj)
            owner = getattr(bound, "__self__", None)
            name = getattr(bound, "__name__", "")
            if isinstance(owner, str):
                _check_str_method(owner, name, args, kwargs)
            elif isinstance(owner, (int, bytes, list, tuple, dict)):
                for value in (*args, *kwargs.values()):
                    _check_int(value, f"{type(owner).__name__}.{name} argument")
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, (str, list)):
            _account(len(result))
        return result


_ENV = PromptEnvironment()


def count_tokens(source: str, limit: int) -> int:
    """Jinja's tokens in ``source``, counted up to ``limit + 1`` (lexing stops there; a
    token takes at least one character, so a short source is not lexed at all). A lexing
    error ends the count: the parser reports it."""
    if len(source) <= limit:
        return 0
    count = 0
    try:
        for _ in _ENV.lexer.tokenize(source):
            count += 1
            if count > limit:
                break
    except TemplateError:
        pass
    return count


class _CompiledCache:
    """Compiled templates by source, least recently used out first, bounded by the sources'
    total size (a compiled template holds ~60-120 bytes per source character, so a count
    bound let big previews pin hundreds of MB). Renders run in worker threads: locked."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self._items: OrderedDict[str, Template] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, source: str) -> Template:
        with self._lock:
            template = self._items.get(source)
            if template is not None:
                self._items.move_to_end(source)
                return template
        if count_tokens(source, MAX_SOURCE_TOKENS) > MAX_SOURCE_TOKENS:
            raise SecurityError(
                f"the template has more than {MAX_SOURCE_TOKENS:,} tokens (tags, names, "
                "operators): compiling it would take too long"
            )
        template = _ENV.from_string(source)
        if len(source) <= self.max_chars // 10:
            with self._lock:
                if source not in self._items:
                    self._items[source] = template
                    self.chars += len(source)
                while self.chars > self.max_chars:
                    self.chars -= len(self._items.popitem(last=False)[0])
        return template

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.chars = 0

    def __len__(self) -> int:
        return len(self._items)


# Compiled once per source: renders of the same prompt template skip Jinja's compiler.
_compile = _CompiledCache(COMPILED_CACHE_CHARS)


def render_string(
    source: str,
    variables: dict[str, Any],
    *,
    name: str = "<template>",
    max_chars: int = MAX_OUTPUT_CHARS,
    max_iterations: int = MAX_LOOP_ITERATIONS,
    max_seconds: float = MAX_SECONDS,
    max_built: int = MAX_BUILT,
) -> str:
    """Render ``source`` within the budget; any failure is a RenderError naming the reason."""
    if len(source) > MAX_SOURCE_CHARS:
        raise RenderError(
            f"{name}: the template has {len(source):,} characters (limit {MAX_SOURCE_CHARS:,})"
        )
    token = _BUDGET.set(_Budget(max_iterations, max_seconds, max_built))
    try:
        template = _compile(source)
        size = 0
        parts: list[str] = []
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > max_chars:
                raise RenderError(f"{name}: output exceeds {max_chars:,} characters")
            _tick()
            parts.append(chunk)
        return "".join(parts)
    except SecurityError as exc:
        raise RenderError(f"{name}: blocked by the sandbox: {exc}") from exc
    except (OverflowError, MemoryError) as exc:
        raise RenderError(f"{name}: blocked by the sandbox: {exc or type(exc).__name__}") from exc
    except RecursionError as exc:
        raise RenderError(
            f"{name}: recursion too deep (a macro or recursive loop calling itself?)"
        ) from exc
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise RenderError(f"{name}{where}: {exc}") from exc
    except RenderError:
        raise
    except Exception as exc:  # 1/0, int('x'), a bad argument: the template's fault
        raise RenderError(f"{name}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    finally:
        _BUDGET.reset(token)
