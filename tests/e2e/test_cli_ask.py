"""`tsr-lsp ask` end to end: CLI -> LSP client -> server (via the daemon) -> real model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def ask(*args: str, daemon: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tsr_lsp", "ask", *args]
    if not daemon:
        cmd.append("--no-daemon")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(autouse=True)
def stop_daemon(home: Path):
    yield
    lock = home / "run" / "daemon.lock"
    if lock.exists():
        try:
            os.kill(int(lock.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def test_code_request_goes_to_a_code_model_and_returns_python(models_dir: Path) -> None:
    proc = ask(
        "--json",
        "--max-tokens",
        "160",
        "Write a Python function that parses a CSV file into a list of dicts",
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decision"]["model"] in ("coder", "fim")  # a code model
    assert out["decision"]["category"] == "code"
    assert "def " in out["text"] and "csv" in out["text"].lower()


def test_greeting_is_routed_by_the_evidence_and_streams(models_dir: Path) -> None:
    proc = ask("--max-tokens", "24", "Say hello to my friend Anna in one sentence")
    assert proc.returncode == 0, proc.stderr
    first, _, answer = proc.stdout.partition("\n")
    assert first.startswith("[route] "), first
    # the shipped graded outcomes choose the profile: the route line names the evidence,
    # and the profile it picks is the one that evidence names first
    model = first.split(" -> ", 1)[1].split(",", 1)[0]
    evidence = first.rsplit("; ", 1)[1]
    assert " predicted " in evidence and "similar calibrated tasks" in evidence, first
    assert evidence.split()[0] == model and model in ("general", "coder", "fim"), first
    assert answer.strip()


def test_unknown_profile_is_a_one_line_error(models_dir: Path) -> None:
    proc = ask("--model", "gpu-box", "hello", daemon=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown model profile 'gpu-box'" in proc.stderr


def test_corrupt_model_file_is_reported_and_others_keep_working(
    home: Path, tmp_path: Path, models_dir: Path
) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 1000)
    cfg = home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[models.broken]\npath = "{bad}"\ntags = ["code"]\ncost = 0.1\n')
    proc = ask("--model", "broken", "hello", daemon=False)
    assert proc.returncode == 1
    assert "broken.gguf" in proc.stderr
    proc = ask(
        "--json", "--max-tokens", "8", "Say hello to my friend Anna in one sentence", daemon=False
    )
    assert proc.returncode == 0, proc.stderr
    # the broken profile is tagged code and cheapest, but has no graded evidence
    assert json.loads(proc.stdout)["decision"]["model"] in ("general", "coder", "fim")
