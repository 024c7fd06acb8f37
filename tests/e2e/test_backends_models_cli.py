"""`tsr-lsp models add|list|verify` as a user runs them, for all three backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.badservers import Recorder, free_port, models_ok, serve
from tsr_lsp.modelfiles import spec_for


def tsr(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "TSR_LSP_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tsr_lsp", "models", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        cwd=home.parent,
    )


def config_text(home: Path) -> str:
    found = list(home.rglob("config.toml"))
    return found[0].read_text() if found else ""


def test_add_a_gguf_then_verify_by_loading(tmp_path: Path, models_dir: Path) -> None:
    home = tmp_path / "home"
    spec = spec_for("general")
    assert spec is not None
    gguf = models_dir / spec.filename
    out = tsr(home, "add", "mine", "--path", str(gguf), "--tags", "chat,small", "--pin")
    assert out.returncode == 0, out.stderr
    assert "added profile 'mine' (llama_cpp)" in out.stdout
    text = config_text(home)
    assert f"size = {gguf.stat().st_size}" in text and "pin = true" in text
    listed = tsr(home, "list")
    assert listed.returncode == 0
    row = next(line for line in listed.stdout.splitlines() if line.startswith("mine"))
    assert "llama_cpp" in row and "chat,small" in row and " yes " in row
    verified = tsr(home, "verify", "mine", "--load")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "mine: ok, loads in" in verified.stdout


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        ("readme", "is not a GGUF file"),
        ("missing", "does not exist"),
        ("empty_folder", "has no config.json"),
    ],
)
def test_add_refuses_what_cannot_load(tmp_path: Path, make: str, fragment: str) -> None:
    home = tmp_path / "home"
    target = tmp_path / "thing"
    if make == "readme":
        target.write_text("# not a model\n")
    elif make == "empty_folder":
        target.mkdir()
    out = tsr(home, "add", "bad", "--path", str(target))
    assert out.returncode == 1 and fragment in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert "[models.bad]" not in config_text(home)


def test_add_an_hf_folder_is_guessed_and_loads(tmp_path: Path) -> None:
    from tests.unit.hf_tiny import build_tiny_model

    home = tmp_path / "home"
    folder = build_tiny_model(tmp_path / "tiny")
    out = tsr(home, "add", "tiny", "--path", str(folder))
    assert out.returncode == 0 and "(hf_transformers)" in out.stdout
    verified = tsr(home, "verify", "tiny", "--load")
    assert verified.returncode == 0 and "tiny: ok, loads in" in verified.stdout


def test_endpoints_are_asked_by_verify_and_keys_stay_in_the_env(tmp_path: Path) -> None:
    home = tmp_path / "home"

    def handler(_rec: Recorder, h: object) -> None:
        models_ok(h)  # type: ignore[arg-type]

    with serve(handler) as (url, rec):
        out = tsr(home, "add", "box", "--url", url, "--api-key-env", "BOX_KEY", "--tags", "code")
        assert out.returncode == 0 and "(openai_http)" in out.stdout
        assert 'api_key_env = "BOX_KEY"' in config_text(home)
        missing = tsr(home, "verify", "box")
        assert missing.returncode == 1 and "$BOX_KEY, which is not set" in missing.stdout
        ok = tsr(home, "verify", "box", env={"BOX_KEY": "s3cret-value"})
        assert ok.returncode == 0 and "box: ok, answers in" in ok.stdout
        assert rec.requests[-1]["headers"]["Authorization"] == "Bearer s3cret-value"
        assert "s3cret-value" not in config_text(home)
    dead = tsr(home, "add", "dead", "--url", f"http://127.0.0.1:{free_port()}/v1")
    assert dead.returncode == 0
    refused = tsr(home, "verify", "dead")
    assert refused.returncode == 1 and "connection refused" in refused.stdout
