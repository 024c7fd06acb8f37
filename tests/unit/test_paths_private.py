"""File modes: what tsr-lsp keeps is private whatever the umask, while what it makes in the
user's project follows the user's own umask, also in a daemon started by a tsr-lsp process
whose umask is already private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tsr_lsp import paths


@pytest.fixture
def fresh_umask(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """umask 022 and no recorded user umask, restored afterwards."""
    monkeypatch.delenv(paths.USER_UMASK_ENV, raising=False)
    monkeypatch.setattr(paths, "_user_umask", None)
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_and_project_modes_under_umask_022(tmp_path: Path, fresh_umask: None) -> None:
    paths.make_umask_private()
    assert paths.current_umask() == 0o077
    assert os.environ[paths.USER_UMASK_ENV] == "022"  # what a daemon it starts inherits
    ours = paths.private_dir(tmp_path / "data" / "memory")
    paths.write_private(ours / "STORE.json", "{}")
    assert mode(tmp_path / "data") == mode(ours) == 0o700
    assert mode(ours / "STORE.json") == 0o600
    project = tmp_path / "project" / "prompts"
    paths.user_mkdir(project)
    (project / "a.jinja").write_text("")
    (project / "a.jinja").chmod(paths.user_file_mode())
    assert mode(project) == mode(project.parent) == 0o755
    assert mode(project / "a.jinja") == 0o644


def test_a_child_tsr_lsp_keeps_the_users_umask_not_its_parents(
    tmp_path: Path, fresh_umask: None
) -> None:
    """The forwarder makes its umask private before it spawns the daemon."""
    paths.make_umask_private()
    code = (
        "from tsr_lsp import paths; paths.make_umask_private(); "
        "print(oct(paths.user_file_mode()), oct(paths.current_umask()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["0o644", "0o77"]


def test_a_bad_recorded_umask_falls_back_to_the_process_one(
    monkeypatch: pytest.MonkeyPatch, fresh_umask: None
) -> None:
    monkeypatch.setenv(paths.USER_UMASK_ENV, "not octal")
    paths.make_umask_private()
    assert paths.user_file_mode() == 0o644
