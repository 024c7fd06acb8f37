"""Helpers shared by CLI commands."""

from __future__ import annotations

import sys
from pathlib import Path

from tsr_lsp.config import UNREADABLE, Settings, load_settings


def cli_settings(project_root: Path | None = None) -> Settings:
    """Settings for a CLI command. An unreadable config file is fatal here (exit 1 with the
    fix), while the language server keeps serving with the other layers and tells the editor;
    invalid values are warnings in both cases."""
    settings, warnings = load_settings(project_root if project_root is not None else Path.cwd())
    fatal = [w for w in warnings if UNREADABLE in w]
    if fatal:
        raise SystemExit(f"tsr-lsp: error: {fatal[0]}")
    for warning in warnings:
        print(f"tsr-lsp: warning: {warning}", file=sys.stderr)
    return settings
