"""Finding and loading prompt templates by name.

Search order: the project's ``.tsr/templates/``, the user config dir's ``templates/``, the
shipped ``templates/``. Two formats: Jinja with TOML front matter (``NAME.jinja``) and the
seed toolkit's JSON (``NAME.json`` with ``system`` and ``template``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsr_lsp import paths
from tsr_lsp.prompts.frontmatter import parse_front_matter
from tsr_lsp.prompts.sandbox import RenderError, render_string

SUFFIXES = (".jinja", ".jinja2", ".j2", ".json")


@dataclass
class PromptTemplate:
    name: str
    body: str
    system: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)

    @property
    def route(self) -> dict[str, Any]:
        """Optional routing hints from the front matter's [route] table."""
        route = self.meta.get("route")
        return dict(route) if isinstance(route, dict) else {}

    def render(self, variables: dict[str, Any]) -> str:
        values = {name: _empty_for(kind) for name, kind in self.variables.items()}
        values.update(self.defaults)
        values.update(variables)
        return render_string(self.body, values, name=str(self.path or self.name))

    def sample_values(self) -> dict[str, Any]:
        """Values for a preview: declared samples, then defaults, then a placeholder."""
        values: dict[str, Any] = {}
        for name, kind in self.variables.items():
            if name in self.samples:
                values[name] = self.samples[name]
            elif name in self.defaults:
                values[name] = self.defaults[name]
            else:
                values[name] = _sample_for(name, kind)
        return values

    def render_system(self, variables: dict[str, Any]) -> str:
        if not self.system:
            return ""
        return render_string(self.system, variables, name=f"{self.path or self.name} (system)")


class SampleMapping(dict[str, Any]):
    """A preview stand-in for a mapping nobody gave a sample for: every key is another
    empty SampleMapping, so ``memory.episodes`` previews as empty instead of failing."""

    def __missing__(self, key: str) -> SampleMapping:
        return SampleMapping()


def _sample_for(name: str, kind: str) -> Any:
    base = kind.split("[", 1)[0]
    if base in ("mapping", "dict", "any"):
        return SampleMapping() if base != "any" else f"<{name}>"
    return {
        "list": [],
        "int": 1,
        "float": 0.5,
        "number": 1,
        "bool": True,
    }.get(base, f"<{name}>")


def _empty_for(kind: str) -> Any:
    return {"mapping": {}, "dict": {}, "list": [], "int": 0, "float": 0.0, "bool": False}.get(
        kind.split("[", 1)[0], ""
    )


def search_dirs(project_root: Path | None) -> list[Path]:
    dirs = []
    if project_root is not None:
        dirs.append(project_root / ".tsr" / "templates")
    dirs += [paths.user_templates_dir(), paths.shipped_templates_dir()]
    return dirs


def find_template(name: str, project_root: Path | None = None) -> Path | None:
    for folder in search_dirs(project_root):
        for suffix in SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def available_templates(project_root: Path | None = None) -> dict[str, Path]:
    """Every template name visible from a project, first match winning."""
    found: dict[str, Path] = {}
    for folder in search_dirs(project_root):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in SUFFIXES and path.stem not in found:
                    found[path.stem] = path
    return found


def parse_template(name: str, text: str, path: Path | None = None) -> PromptTemplate:
    if path is not None and path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RenderError(f"{path}: invalid JSON template ({exc})") from exc
        if not isinstance(data, dict) or "template" not in data:
            raise RenderError(f'{path}: a JSON template needs a "template" key')
        raw_vars = data.get("variables", {})
        if not isinstance(raw_vars, dict):
            raise RenderError(f'{path}: "variables" must be an object of name: type')
        return PromptTemplate(
            name=name,
            body=str(data["template"]),
            system=str(data.get("system", "")),
            variables={k: str(v) for k, v in raw_vars.items()},
            meta=data,
            path=path,
        )
    front = parse_front_matter(text)
    if front.error:
        raise RenderError(f"{path or name}: {front.error}")
    specs = front.specs
    return PromptTemplate(
        name=str(front.meta.get("name", name)),
        body=front.body,
        system=str(front.meta.get("system", "")),
        variables=front.variables,
        meta=front.meta,
        path=path,
        defaults={k: v["default"] for k, v in specs.items() if "default" in v},
        samples={k: v["sample"] for k, v in specs.items() if "sample" in v},
    )


def load_template(name: str, project_root: Path | None = None) -> PromptTemplate:
    path = find_template(name, project_root)
    if path is None:
        where = ", ".join(str(d) for d in search_dirs(project_root))
        raise RenderError(f"no prompt template named {name!r} (searched {where})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RenderError(f"{path}: cannot read template ({exc})") from exc
    return parse_template(name, text, path)
