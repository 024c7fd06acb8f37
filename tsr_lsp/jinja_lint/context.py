"""What kind of template a file is, and what its front matter declares.

The kind decides which names exist and how sure the linter may be:
- ``prompt``: has front matter; inputs are declared, so the environment is closed.
- ``chat``: a model chat template; the context is transformers' ``apply_chat_template``.
- ``generic``: any other Jinja file; its context is unknown to the linter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tsr_lsp.jinja_lint.model import ERROR, WARNING, Diagnostic, LineIndex
from tsr_lsp.prompts.frontmatter import parse_front_matter

PROMPT = "prompt"
CHAT = "chat"
GENERIC = "generic"
KINDS = (PROMPT, CHAT, GENERIC)

FRONT_KEYS = frozenset({"name", "description", "system", "variables", "route", "samples", "kind"})
ROUTE_KEYS = frozenset(
    {"category", "kind", "profile", "cot", "temperature", "top_p", "max_tokens", "tags"}
)
TYPE_RE = re.compile(
    r"^(str|string|int|float|number|bool|list|mapping|dict|any)(\[[\w, \[\]]*\])?$"
)
# "{#---" alone on its line opens front matter ("{#------- banner" is just a comment)
FRONT_OPEN = re.compile(r"\A\s*\{#-?---[ \t]*\r?\n")
_CHAT_HINT = re.compile(r"\b(add_generation_prompt|bos_token|eos_token|raise_exception)\b")
_MESSAGES = re.compile(r"\bmessages\b")
_KEY_LINE = re.compile(r"^[ \t]*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_-]+)[ \t]*=", re.M)
_TABLE_LINE = re.compile(r"^[ \t]*\[([^\]]*)\][ \t]*$", re.M)


@dataclass
class Declared:
    name: str
    type: str
    start: int  # offset of the key in the front matter
    end: int
    description: str = ""
    sample: Any = None


@dataclass
class FileContext:
    kind: str
    declared: dict[str, Declared] = field(default_factory=dict)
    body_start: int = 0  # offset where the template body starts (after front matter)
    front_start: int = -1
    front_end: int = -1
    meta: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    system: str = ""
    system_offset: int = -1  # where the system string's key sits (for diagnostics)


def detect_kind(source: str, path: str | None, forced: str = "auto") -> str:
    if forced in KINDS:
        return forced
    if FRONT_OPEN.match(source):
        return PROMPT
    lowered = (path or "").replace("\\", "/").lower()
    if "chat_template" in lowered:
        return CHAT
    if _MESSAGES.search(source) and _CHAT_HINT.search(source):
        return CHAT
    return GENERIC


def read_context(source: str, path: str | None, forced: str, lines: LineIndex) -> FileContext:
    kind = detect_kind(source, path, forced)
    ctx = FileContext(kind)
    if not FRONT_OPEN.match(source):
        return ctx
    opener = len(source) - len(source.lstrip())
    front = parse_front_matter(source)
    if not front.present:
        close = source.find("#}", opener)
        where = close if close != -1 else opener
        ctx.diagnostics.append(
            Diagnostic(
                "JL060",
                ERROR,
                "front matter opened with '{#---' is not closed by a '---#}' line",
                where,
                where + 2,
            )
        )
        return ctx
    ctx.front_start = opener
    ctx.body_start = len(source) - len(front.body)
    ctx.front_end = ctx.body_start
    if front.error:
        line = front.error_line if front.error_line is not None else 0
        start = lines.offset(line, 0)
        message = front.error.replace("front matter is not valid TOML: ", "front matter: ")
        ctx.diagnostics.append(Diagnostic("JL060", ERROR, message, start, lines.line_end(line)))
        ctx.declared = _declared_fallback(source, opener, ctx.body_start)
        return ctx
    ctx.meta = front.meta
    _check_schema(source, ctx, lines)
    return ctx


def _key_positions(source: str, start: int, end: int) -> dict[tuple[str, str], tuple[int, int]]:
    """(table, key) -> offsets, for pointing diagnostics at front-matter lines."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    table = ""
    region = source[start:end]
    events = sorted(
        [(m.start(), "t", m) for m in _TABLE_LINE.finditer(region)]
        + [(m.start(), "k", m) for m in _KEY_LINE.finditer(region)],
        key=lambda e: e[0],
    )
    for _, kind, m in events:
        if kind == "t":
            table = m.group(1).strip()
        else:
            key = m.group(1).strip("\"'")
            out.setdefault((table, key), (start + m.start(1), start + m.end(1)))
    return out


def _declared_fallback(source: str, start: int, end: int) -> dict[str, Declared]:
    """Declared names when the TOML is broken, so one typo doesn't flag every use."""
    return {
        key: Declared(key, "any", s, e)
        for (table, key), (s, e) in _key_positions(source, start, end).items()
        if table == "variables"
    }


def _check_schema(source: str, ctx: FileContext, lines: LineIndex) -> None:
    meta = ctx.meta
    keys = _key_positions(source, ctx.front_start, ctx.body_start)
    front_pos = (ctx.front_start, ctx.front_start + 5)

    def warn(table: str, key: str, message: str, severity: str = WARNING) -> None:
        s, e = keys.get((table, key), front_pos)
        ctx.diagnostics.append(Diagnostic("JL061", severity, message, s, e))

    for key in meta:
        if key not in FRONT_KEYS:
            warn(
                "",
                key,
                f"unknown front-matter key {key!r} (known: {', '.join(sorted(FRONT_KEYS))})",
            )
    for key in ("name", "description", "system"):
        if key in meta and not isinstance(meta[key], str):
            warn("", key, f"front-matter key {key!r} must be a string", ERROR)
    if isinstance(meta.get("system"), str):
        ctx.system = meta["system"]
        ctx.system_offset = keys.get(("", "system"), front_pos)[0]
    raw_samples = meta.get("samples")
    samples: dict[str, Any] = raw_samples if isinstance(raw_samples, dict) else {}
    variables = meta.get("variables", {})
    if not isinstance(variables, dict):
        warn("", "variables", "'variables' must be a table of name = \"type\"", ERROR)
        variables = {}
    for name, spec in variables.items():
        s, e = keys.get(("variables", name), front_pos)
        if isinstance(spec, dict):
            vtype = spec.get("type", "any")
            desc = spec.get("description", "")
            sample = spec.get("sample", samples.get(name))
        else:
            vtype, desc, sample = spec, "", samples.get(name)
        if not isinstance(vtype, str):
            warn("variables", name, f'type of variable {name!r} must be a string like "str"', ERROR)
            vtype = "any"
        elif not TYPE_RE.match(vtype):
            warn(
                "variables",
                name,
                f"unknown type {vtype!r} for {name!r} "
                "(str, int, float, bool, list, mapping, any; list[str] etc.)",
            )
        if not name.isidentifier():
            warn("variables", name, f"{name!r} is not a valid Jinja variable name", ERROR)
        ctx.declared[name] = Declared(name, vtype, s, e, str(desc), sample)
    route = meta.get("route")
    if route is not None:
        if not isinstance(route, dict):
            warn("", "route", "'route' must be a table of routing hints", ERROR)
        else:
            from tsr_lsp.config import CATEGORIES
            from tsr_lsp.config import KINDS as REQUEST_KINDS

            for key, allowed in (("category", CATEGORIES), ("kind", REQUEST_KINDS)):
                value = route.get(key)
                if value is not None and value not in allowed:
                    warn("route", key, f"route {key} {value!r} is not one of {', '.join(allowed)}")
            for key in route:
                if key not in ROUTE_KEYS:
                    warn(
                        "route",
                        key,
                        f"unknown route hint {key!r} (known: {', '.join(sorted(ROUTE_KEYS))})",
                    )
