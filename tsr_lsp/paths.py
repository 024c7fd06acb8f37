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
