"""Rendering untrusted templates: Jinja's immutable sandbox plus bounds on size and ranges.

The sandbox blocks attribute walks (``__class__``, ``__globals__``, ``mro``) and unsafe
``str.format``; the bounds stop ``range(10**9)`` and runaway output.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_OUTPUT_CHARS = 200_000
MAX_RANGE = 10_000


class RenderError(Exception):
    """A template could not be rendered; the message names the template and the reason."""


def _bounded_range(*args: int) -> range:
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise SecurityError(f"range too big ({len(rng):,} > {MAX_RANGE:,})")
    return rng


class PromptEnvironment(ImmutableSandboxedEnvironment):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("keep_trailing_newline", True)
        kwargs.setdefault("undefined", StrictUndefined)
        kwargs.setdefault("autoescape", False)
        super().__init__(**kwargs)
        self.globals["range"] = _bounded_range

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is range:
            __obj = _bounded_range
        return super().call(__context, __obj, *args, **kwargs)


_ENV = PromptEnvironment()


def render_string(
    source: str,
    variables: dict[str, Any],
    *,
    name: str = "<template>",
    max_chars: int = MAX_OUTPUT_CHARS,
) -> str:
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
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise RenderError(f"{name}{where}: {exc}") from exc
