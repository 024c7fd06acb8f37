"""The lsprotocol code cache: written once (private), used afterwards, harmless when bad."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

CODE = (
    "import sys\n"
    "from tsr_lsp.lspcache import load_lsprotocol\n"
    "load_lsprotocol()\n"
    "from lsprotocol import types\n"
    "a, b = types.Position(line=1, character=2), types.Position(line=1, character=2)\n"
    "assert a == b and a != types.Position(line=1, character=3)\n"
    "print(types.Range(start=a, end=b).end.character)\n"
)


def run(cache: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_written_once_then_used(tmp_path: Path) -> None:
    assert run(tmp_path) == "2"
    files = list((tmp_path / "tsr-lsp").glob("lsprotocol-*.marshal"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(files[0].parent.stat().st_mode) == 0o700
    before = files[0].stat().st_mtime_ns
    assert run(tmp_path) == "2"
    assert files[0].stat().st_mtime_ns == before  # nothing new compiled: not rewritten


def test_a_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    run(tmp_path)
    (cache,) = (tmp_path / "tsr-lsp").glob("lsprotocol-*.marshal")
    cache.write_bytes(b"\x00garbage")
    assert run(tmp_path) == "2"
    assert cache.stat().st_size > 100_000
