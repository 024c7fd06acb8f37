"""openai_http against a real OpenAI-compatible server: `python -m llama_cpp.server` started
here on a free loopback port with the default general model (and an API key)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import generate_cancelled
from tests.unit.badservers import free_port
from tsr_lsp.backends.base import GenerationRequest, ModelLoadError
from tsr_lsp.backends.openai_http import OpenAIHttpBackend
from tsr_lsp.client import TsrClient, server_command
from tsr_lsp.config import ModelProfile
from tsr_lsp.modelfiles import spec_for

KEY = "test-key-not-a-secret"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    spec = spec_for("general")
    assert spec is not None
    model = Path(os.environ["TSR_LSP_MODELS_DIR"]) / spec.filename
    if not model.is_file():
        pytest.fail(f"default model missing: {model}; run `make setup`")
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024"]
    cmd += ["--n_threads", "2", "--verbose", "false", "--api_key", KEY, "--model_alias", "smol"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(
                    url + "/models", headers={"Authorization": f"Bearer {KEY}"}
                )
                urllib.request.urlopen(req, timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    pytest.fail(f"llama_cpp.server did not start: {err[-500:]}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def remote(server_url: str, monkeypatch: pytest.MonkeyPatch) -> OpenAIHttpBackend:
    monkeypatch.setenv("TSR_TEST_SERVER_KEY", KEY)
    profile = ModelProfile(
        backend="openai_http", url=server_url, api_key_env="TSR_TEST_SERVER_KEY", timeout_s=30
    )
    b = OpenAIHttpBackend("remote", profile)
    b.load()
    return b


def test_chat_streams_in_order(remote: OpenAIHttpBackend) -> None:
    assert remote.model == "smol"  # picked up from GET /models
    pieces: list[str] = []
    out = remote.generate(
        GenerationRequest(
            messages=[{"role": "user", "content": "Say hello to Anna."}], max_tokens=12, seed=1
        ),
        on_token=pieces.append,
    )
    assert out.text.strip() and "".join(pieces) == out.text
    assert len(pieces) >= 2  # streamed, not one block
    assert 0 < out.completion_tokens <= 12 and out.finish_reason in ("stop", "length")


def test_completions_with_a_raw_prompt(remote: OpenAIHttpBackend) -> None:
    out = remote.generate(
        GenerationRequest(prompt="The capital of France is", max_tokens=6, temperature=0.0)
    )
    assert out.text.strip()


def test_cancel_mid_stream_stops_within_one_token(remote: OpenAIHttpBackend) -> None:
    req = GenerationRequest(
        messages=[{"role": "user", "content": "Count from one to fifty in words."}],
        max_tokens=120,
        seed=3,
    )
    result, pieces = generate_cancelled(remote, req, 2)
    assert len(pieces) <= 3
    assert result.text == "".join(pieces)


def test_wrong_key_is_a_clear_error(server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSR_TEST_SERVER_KEY", "wrong")
    profile = ModelProfile(backend="openai_http", url=server_url, api_key_env="TSR_TEST_SERVER_KEY")
    with pytest.raises(ModelLoadError, match=r"refused the request \(401\)"):
        OpenAIHttpBackend("remote", profile).load()


async def test_daemon_serves_a_remote_profile_from_the_editor_settings(server_url: str) -> None:
    """A profile that exists only in the editor's initializationOptions reaches the pool,
    through the forwarder and the shared daemon (which reads the key from its own env)."""
    home = Path(os.environ["TSR_LSP_TEST_HOME"]) / "openai-daemon"
    remote: dict[str, Any] = {
        "backend": "openai_http",
        "url": server_url,
        "apiKeyEnv": "TSR_TEST_SERVER_KEY",
        "tags": ["remote"],
    }
    client = TsrClient()
    await client.start(
        server_command(),
        root=home,
        env={"TSR_LSP_HOME": str(home), "TSR_TEST_SERVER_KEY": KEY},
        initialization_options={"models": {"remote": remote}},
    )
    try:
        events: list[dict[str, Any]] = []
        result = await client.request(
            "tsr/generate", {"text": "Say hi", "model": "remote", "maxTokens": 8}, events.append
        )
        status = await client.request("tsr/status", {})
    finally:
        await client.stop()
    assert status["daemon"] is True
    assert result["decision"]["model"] == "remote"
    assert result["text"].strip()
    streamed = "".join(e["delta"] for e in events if e["event"] == "delta")
    assert result["text"].strip() in streamed
