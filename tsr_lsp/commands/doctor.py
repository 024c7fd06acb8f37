"""`tsr-lsp doctor`: check the installation; every failure comes with what to do."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

from tsr_lsp import paths
from tsr_lsp.config import load_settings

Check = tuple[str, bool, str]  # (what, ok, detail or fix)

REQUIRED = [
    "pygls",
    "lsprotocol",
    "jinja2",
    "tantivy",
    "platformdirs",
    "cattrs",
    "numpy",
    "llama_cpp",
]
OPTIONAL = {
    "torch": "needed for `tsr-lsp router train` and the hf_transformers backend: "
    "pip install 'tsr-lsp[train]'",
    "transformers": "needed for the hf_transformers backend: pip install 'tsr-lsp[hf]'",
}


def _module(name: str) -> Check:
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # import errors of native modules are not always ImportError
        return name, False, f"cannot import ({exc}); reinstall: pip install -e ."
    from importlib.metadata import PackageNotFoundError, version

    dist = {"llama_cpp": "llama-cpp-python", "jinja2": "Jinja2"}.get(name, name)
    try:
        found = version(dist)
    except PackageNotFoundError:
        found = str(getattr(mod, "__version__", "") or "")
    return name, True, found


def _writable(label: str, folder: Path) -> Check:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".tsr-doctor"
        probe.write_text("ok")
        probe.unlink()
        return label, True, str(folder)
    except OSError as exc:
        return label, False, f"{folder} not writable ({exc}); fix permissions or set TSR_LSP_HOME"


def checks() -> list[Check]:
    from tsr_lsp.commands.models import profile_state

    out: list[Check] = []
    ok_py = sys.version_info >= (3, 11)
    out.append(("python", ok_py, sys.version.split()[0] if ok_py else "Python 3.11+ is required"))
    out += [_module(name) for name in REQUIRED]
    for name, why in OPTIONAL.items():
        what, ok, detail = _module(name)
        out.append((f"{what} (optional)", ok, detail if ok else why))
    settings, warnings = load_settings(Path.cwd())
    config_file = paths.user_config_file()
    out.append(
        (
            "config",
            not warnings,
            f"{config_file}" + ("" if config_file.exists() else " (not created; defaults)"),
        )
    )
    out += [("config warning", False, w) for w in warnings]
    out.append(_writable("data dir", paths.data_dir()))
    out.append(_writable("models dir", paths.models_dir()))
    out.append(_writable("runtime dir", paths.runtime_dir()))
    for name, prof in settings.models.items():
        state = profile_state(name, prof)
        detail = state["location"] if not state["problem"] else state["problem"]
        out.append((f"model {name} ({prof.backend})", not state["problem"], detail))
    from tsr_lsp.backends import known_backends

    out.append(("backends", True, ", ".join(known_backends())))
    return out


def run(args: argparse.Namespace) -> int:
    failed = 0
    color: Callable[[str, bool], str] = (
        (lambda s, ok: f"\033[{32 if ok else 31}m{s}\033[0m")
        if sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        else (lambda s, ok: s)
    )
    for what, ok, detail in checks():
        mark = color("ok  " if ok else "FAIL", ok)
        if not ok and "(optional)" in what:
            mark = color("warn", True)
        elif not ok:
            failed += 1
        print(f"{mark} {what:<28} {detail}")
    print("all good" if not failed else f"{failed} problem(s); fix them as shown above")
    return 1 if failed else 0
