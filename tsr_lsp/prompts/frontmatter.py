"""Front matter of prompt templates: TOML inside a leading Jinja comment ``{#--- ... ---#}``.

Being a Jinja comment keeps the file valid Jinja for every other tool. Pure functions.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

_FRONT = re.compile(r"\A(\s*)\{#-?---[ \t]*\n(.*?)\n[ \t]*---[ \t]*-?#\}[ \t]*\n?", re.DOTALL)


@dataclass
class FrontMatter:
    meta: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    body_line: int = 0  # 0-based line where the body starts
    present: bool = False
    error: str | None = None
    error_line: int | None = None  # 0-based line in the whole file

    @property
    def variables(self) -> dict[str, str]:
        """name -> type. A variable is ``name = "type"`` or a table
        ``name = {type = "str", description = "...", default = ..., sample = ...}``."""
        return {name: str(spec.get("type", "any")) for name, spec in self.specs.items()}

    @property
    def specs(self) -> dict[str, dict[str, Any]]:
        raw = self.meta.get("variables", {})
        if not isinstance(raw, dict):
            return {}
        samples = self.meta.get("samples")
        samples = samples if isinstance(samples, dict) else {}
        out: dict[str, dict[str, Any]] = {}
        for name, spec in raw.items():
            entry = dict(spec) if isinstance(spec, dict) else {"type": spec}
            if str(name) in samples and "sample" not in entry:
                entry["sample"] = samples[str(name)]
            out[str(name)] = entry
        return out


def parse_front_matter(source: str) -> FrontMatter:
    match = _FRONT.match(source)
    if match is None:
        return FrontMatter(body=source)
    toml_text = match.group(2)
    body = source[match.end() :]
    body_line = source[: match.end()].count("\n")
    first_toml_line = match.group(1).count("\n") + 1
    try:
        meta = tomllib.loads(toml_text)
    except tomllib.TOMLDecodeError as exc:
        err_line = first_toml_line + _toml_error_line(str(exc), toml_text)
        return FrontMatter(
            {}, body, body_line, True, f"front matter is not valid TOML: {exc}", err_line
        )
    return FrontMatter(meta, body, body_line, True)


def _toml_error_line(message: str, toml_text: str) -> int:
    """0-based line of a TOML error inside the front matter (tomllib only says it in words)."""
    found = re.search(r"at line (\d+)", message)
    if found:
        return int(found.group(1)) - 1
    # "at end of document": usually a string that never closes; find where it opens.
    lines = toml_text.rstrip("\n").split("\n")
    for i, line in enumerate(lines):
        if '"""' not in line and "'''" not in line and _open_quote(line):
            return i
    return max(0, len(lines) - 1)


def _open_quote(line: str) -> bool:
    quote = ""
    escaped = False
    for ch in line:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
    return bool(quote)
