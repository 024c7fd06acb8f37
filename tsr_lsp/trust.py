"""Workspace trust: a cloned project's config may not send your prompts or keys elsewhere.

A project's ``.tsr/config.toml`` comes with the repository. Keys in it that change where data
goes or what runs apply only to folders the user trusts (``tsr-lsp trust PATH``, or "Trust"
when the editor asks); until then they are ignored with a warning that names them:

- new model profiles (a profile is something that runs and receives prompts);
- a profile's ``backend``, ``path``, ``url`` and ``api_key_env`` (an endpoint and which of
  your environment variables is sent to it as a bearer token);
- ``memory.dir`` (where memory is written), ``router.weights`` (a file loaded to route),
  ``router.outcomes`` set to a file (graded outcomes that pick the model) and
  ``memory.embeddings`` set to a model folder (their keywords, e.g. "off", stay allowed);
- ``lint.template_paths`` and ``actions.tests_dir`` that leave the project (absolute, ``~`` or
  ``..``): the linter would read, and "Write tests" write, outside the cloned folder.

The editor's own layers (initializationOptions, workspace/configuration) are the user's
editor configuration and are not gated here; VS Code keeps an untrusted folder's workspace
settings out through Restricted Mode. The trusted folders live in the user config dir
(``trust.toml``, 0600); a folder is trusted when it or one of its parents is listed.

Pure apart from reading and writing that one file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tsr_lsp import paths

GATED_PROFILE_KEYS = frozenset({"backend", "path", "url", "api_key_env"})
GATED_KEYS = {
    "memory": frozenset({"dir", "embeddings"}),
    "router": frozenset({"weights", "outcomes"}),
}
# values of gated keys that name no file or endpoint: an untrusted project may set them
HARMLESS_VALUES = {
    ("memory", "embeddings"): frozenset({"auto", "minilm", "off"}),
    ("router", "outcomes"): frozenset({"", "off"}),
}
# keys an untrusted project may set only to relative paths that stay inside it
INSIDE_KEYS = {
    "lint": frozenset({"template_paths"}),
    "actions": frozenset({"tests_dir"}),
}
HEADER = (
    "# Folders whose .tsr/config.toml may set model endpoints, paths and keys (tsr-lsp trust)\n"
)


def trust_file() -> Path:
    return paths.config_dir() / "trust.toml"


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _resolved(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def stays_inside(value: Any) -> bool:
    """Whether a path setting (one path or a list) names only places inside the project."""
    values = value if isinstance(value, list) else [value]
    return all(
        isinstance(v, str)
        and not v.startswith("~")
        and not Path(v).is_absolute()
        and ".." not in Path(v).parts
        for v in values
    )


def _gated(section: str, key: str, value: Any) -> bool:
    if key in GATED_KEYS.get(section, ()):
        return value not in HARMLESS_VALUES.get((section, key), ())
    return key in INSIDE_KEYS.get(section, ()) and not stays_inside(value)


def trusted_folders(file: Path | None = None) -> list[Path]:
    """The trusted folders; a missing or unreadable file trusts nothing."""
    try:
        with (file or trust_file()).open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return []
    folders = data.get("folders")
    if not isinstance(folders, list):
        return []
    return [Path(f) for f in folders if isinstance(f, str) and f]


def is_trusted(project_root: Path, folders: Iterable[Path] | None = None) -> bool:
    root = _resolved(project_root)
    listed = trusted_folders() if folders is None else folders
    return any(root == f or f in root.parents for f in map(_resolved, listed))


def save(folders: Iterable[Path], file: Path | None = None) -> None:
    """Write the list (sorted, deduplicated) as a private file."""
    target = file or trust_file()
    paths.private_dir(target.parent)
    unique = sorted({str(_resolved(f)) for f in folders})
    lines = "".join(f"  {_toml_string(f)},\n" for f in unique)
    paths.write_private(target, f"{HEADER}folders = [\n{lines}]\n")


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def trust(folder: Path, file: Path | None = None) -> Path:
    root = _resolved(folder)
    save([*trusted_folders(file), root], file)
    return root


def revoke(folder: Path, file: Path | None = None) -> bool:
    """Remove ``folder`` from the list; False if it was not listed itself."""
    root = _resolved(folder)
    listed = [_resolved(f) for f in trusted_folders(file)]
    if root not in listed:
        return False
    save([f for f in listed if f != root], file)
    return True


def untrusted_view(
    raw: dict[str, Any], known_profiles: Iterable[str]
) -> tuple[dict[str, Any], list[str]]:
    """``raw`` (one settings layer, snake_case or camelCase keys) without what an untrusted
    project may not set, and the dotted names of what was left out."""
    known = set(known_profiles)
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        name = _snake(str(key))
        if name == "models" and isinstance(value, dict):
            models: dict[str, Any] = {}
            for profile, table in value.items():
                if profile not in known:
                    dropped.append(f"models.{profile}")
                    continue
                if not isinstance(table, dict):
                    models[profile] = table  # apply_layer reports the bad shape
                    continue
                models[profile] = {
                    k: v for k, v in table.items() if _snake(str(k)) not in GATED_PROFILE_KEYS
                }
                dropped += [
                    f"models.{profile}.{_snake(str(k))}"
                    for k in table
                    if _snake(str(k)) in GATED_PROFILE_KEYS
                ]
            kept[key] = models
        elif (name in GATED_KEYS or name in INSIDE_KEYS) and isinstance(value, dict):
            section: dict[str, Any] = {}
            for k, v in value.items():
                sub = _snake(str(k))
                if _gated(name, sub, v):
                    dropped.append(f"{name}.{sub}")
                else:
                    section[k] = v
            kept[key] = section
        else:
            kept[key] = value
    return kept, dropped
