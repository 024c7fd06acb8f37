"""Test isolation: every run gets its own TSR_LSP_HOME (config, memory, daemon socket),
while sharing the default models that `make setup` installed."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from tsr_lsp import paths

    os.environ.setdefault("TSR_LSP_MODELS_DIR", str(paths.models_dir()))
    home = tempfile.mkdtemp(prefix="tsr-test-")
    os.environ["TSR_LSP_HOME"] = home
    os.environ["TSR_LSP_TEST_HOME"] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    home = os.environ.get("TSR_LSP_TEST_HOME")
    if not home:
        return
    for lock in Path(home).rglob("daemon.lock"):  # stop daemons the tests started
        try:
            os.kill(int(lock.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def models_dir() -> Path:
    """The installed default models; missing models fail loudly (never a silent skip)."""
    from tsr_lsp.modelfiles import DEFAULT_MODELS

    folder = Path(os.environ["TSR_LSP_MODELS_DIR"])
    missing = [s.filename for s in DEFAULT_MODELS if not (folder / s.filename).is_file()]
    if missing:
        pytest.fail(f"default models missing in {folder}: {missing}; run `make setup`")
    return folder


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TSR_LSP_HOME for one test."""
    monkeypatch.setenv("TSR_LSP_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
