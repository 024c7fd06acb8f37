"""Rendering untrusted templates: Jinja's immutable sandbox plus bounds on work and size.

The sandbox blocks attribute walks (``__class__``, ``__globals__``, ``mro``) and unsafe
``str.format``. On top of it, every render gets a budget:
- loop iterations, counted across all loops of one render (nested loops without any output
  are caught too): every ``for`` iterable is wrapped by a counting filter at parse time,
  recursive ``loop(...)`` calls included;
- ``range`` length; sequence repetition (``'x' * n``), powers and ``%`` padding; width
  arguments of filters and str methods; ``lipsum`` size; recursion depth;
- output size, checked while the output streams.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg

MAX_OUTPUT_CHARS = 200_000
MAX_RANGE = 10_000
MAX_LOOP_ITERATIONS = 100_000
MAX_SIZE = MAX_OUTPUT_CHARS  # any single value a template builds (strings, lists)
_GUARD = "_tsr_loop_guard"
_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?(\d{6,})")
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})


class RenderError(Exception):
    """A template could not be rendered; the message names the template and the reason."""


class _Budget:
    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit


_BUDGET: ContextVar[_Budget | None] = ContextVar("tsr_render_budget", default=None)


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
        yield item


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range too big ({len(rng):,} > {MAX_RANGE:,})")
    return rng


def _check_size(n: int, what: str) -> None:
    if n > MAX_SIZE:
        raise SecurityError(f"{what} would build {n:,} items (limit {MAX_SIZE:,})")


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
    from jinja2.utils import generate_lorem_ipsum

    if n * max > MAX_SIZE // 5:
        raise SecurityError("lipsum too big")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


def _width_filter(name: str, func: Any, position: int) -> Any:
    """A filter whose int argument (width, count) must stay within bounds."""

    def bounded(*args: Any, **kwargs: Any) -> Any:
        values = list(args[position : position + 1]) + [
            v for k, v in kwargs.items() if k in ("width", "slices", "indent", "linecount")
        ]
        for value in values:
            if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SIZE:
                raise SecurityError(f"'{name}' argument {value:,} is too big")
        return func(*args, **kwargs)

    bounded.__dict__.update(func.__dict__)  # keep jinja's pass_environment markers
    bounded.__doc__ = func.__doc__
    return bounded


def _check_percent(fmt: str) -> None:
    for m in _WIDTH.finditer(fmt):
        for group in m.groups():
            if group and group.isdigit() and int(group) > MAX_SIZE:
                raise SecurityError("'%' padding too big")
            if group == "*":
                raise SecurityError("'*' widths are not allowed in '%' formatting")


def _check_brace_format(fmt: str) -> None:
    for number in _BRACE_WIDTH.findall(fmt):
        if int(number) > MAX_SIZE:
            raise SecurityError("format width too big")


def _bounded_format(func: Any) -> Any:
    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            _check_percent(value)
        return func(value, *args, **kwargs)

    bounded.__doc__ = func.__doc__
    return bounded


class PromptEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("keep_trailing_newline", True)
        kwargs.setdefault("undefined", StrictUndefined)
        kwargs.setdefault("autoescape", False)
        kwargs.setdefault("extensions", ["jinja2.ext.loopcontrols", "jinja2.ext.do"])
        super().__init__(**kwargs)
        self.globals["range"] = _bounded_range
        self.globals["lipsum"] = _bounded_lipsum
        self.filters[_GUARD] = _loop_guard
        self.filters["format"] = _bounded_format(self.filters["format"])
        # filters whose first argument after the value is a size; a filter that takes the
        # environment or eval context gets it as its first positional argument
        for name in ("center", "indent", "wordwrap", "truncate", "slice", "batch", "tojson"):
            func = self.filters[name]
            position = 2 if _PassArg.from_obj(func) is not None else 1
            self.filters[name] = _width_filter(name, func, position)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _GUARD, [], [], None, None, lineno=loop.lineno)
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
                    _check_size(len(seq) * times, "repetition")
        elif (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * max(abs(left).bit_length(), 1) > 4096
        ):
            raise SecurityError("power too big")
        elif operator == "%" and isinstance(left, str):
            _check_percent(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is range:
            __obj = _bounded_range
        elif isinstance(__obj, LoopContext) and args:  # recursive loop(children)
            args = (_loop_guard(args[0]), *args[1:])
        elif getattr(__obj, "__name__", "") in _WIDTH_METHODS and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            for value in (*args, *kwargs.values()):
                if isinstance(value, int) and value > MAX_SIZE:
                    raise SecurityError(f"str.{__obj.__name__} width too big")
        elif getattr(__obj, "__name__", "") in ("format", "format_map") and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            _check_brace_format(__obj.__self__)
        elif (
            getattr(__obj, "__name__", "") == "replace"
            and isinstance(getattr(__obj, "__self__", None), str)
            and len(args) >= 2
        ):
            s, old, new = __obj.__self__, str(args[0]), str(args[1])
            grow = s.count(old) * max(len(new) - len(old), 0) if old else len(s) * len(new)
            _check_size(len(s) + grow, "str.replace")
        return super().call(__context, __obj, *args, **kwargs)


_ENV = PromptEnvironment()


def render_string(
    source: str,
    variables: dict[str, Any],
    *,
    name: str = "<template>",
    max_chars: int = MAX_OUTPUT_CHARS,
    max_iterations: int = MAX_LOOP_ITERATIONS,
) -> str:
    token = _BUDGET.set(_Budget(max_iterations))
    try:
        template = _ENV.from_string(source)
        size = 0
        parts: list[str] = []
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > max_chars:
                raise RenderError(f"{name}: output exceeds {max_chars:,} characters")
            parts.append(chunk)
        return "".join(parts)
    except SecurityError as exc:
        raise RenderError(f"{name}: blocked by the sandbox: {exc}") from exc
    except (OverflowError, MemoryError) as exc:
        raise RenderError(f"{name}: blocked by the sandbox: {exc}") from exc
    except RecursionError as exc:
        raise RenderError(
            f"{name}: recursion too deep (a macro or recursive loop calling itself?)"
        ) from exc
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise RenderError(f"{name}{where}: {exc}") from exc
    finally:
        _BUDGET.reset(token)
