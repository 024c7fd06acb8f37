"""Where tsr-lsp keeps its files (platformdirs; every path overridable for tests and CI).

``TSR_LSP_HOME`` moves everything (config, data, runtime, logs) under one folder, which is
what the test-suite uses to isolate itself. ``TSR_LSP_MODELS_DIR`` moves only the model
files, so isolated test homes can still share the large default models.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "tsr-lsp"


def _home() -> Path | None:
    home = os.environ.get("TSR_LSP_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP))


def models_dir() -> Path:
    override = os.environ.get("TSR_LSP_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    return data_dir() / "models"


def memory_dir() -> Path:
    return data_dir() / "memory"


def log_dir() -> Path:
    home = _home()
    return home / "log" if home else Path(platformdirs.user_log_dir(APP))


def runtime_dir() -> Path:
    """A private per-user folder for the daemon socket (XDG_RUNTIME_DIR when present)."""
    home = _home()
    if home:
        return home / "run"
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / APP
    return Path(platformdirs.user_cache_dir(APP)) / "run"


def user_config_file() -> Path:
    return config_dir() / "config.toml"


def user_templates_dir() -> Path:
    return config_dir() / "templates"


def shipped_templates_dir() -> Path:
    """The templates/ folder shipped with the package (repo checkout or installed wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    return here.parent / "templates"


def shared_data_dir() -> Path:
    """The public datasets (``../shared/data`` beside the repository).

    ``TSR_LSP_SHARED_DATA`` wins; then ``shared/data`` beside the repository or any of its
    parent folders (CI clones elsewhere); then this workplace's fixed location.
    """
    env = os.environ.get("TSR_LSP_SHARED_DATA")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    for parent in repo.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    fixed = Path("/work/shared/data")
    return fixed if fixed.is_dir() else repo.parent / "shared" / "data"
