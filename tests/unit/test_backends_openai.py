"""openai_http against real loopback servers that misbehave: refused, garbage, stalls, 429,
5xx, auth. The happy path against a real llama_cpp.server is in tests/e2e."""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from tests.unit.badservers import (
    Recorder,
    chat_chunk,
    free_port,
    models_ok,
    one_chunk_then_silence,
    send_json,
    send_sse,
    serve,
)
from tsr_lsp.backends.base import (
    BackendError,
    GenerationCancelled,
    GenerationRequest,
    ModelLoadError,
)
from tsr_lsp.backends.openai_http import OpenAIHttpBackend
from tsr_lsp.config import ModelProfile

CHAT = GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=8)


def backend(url: str, **kw: object) -> OpenAIHttpBackend:
    kw.setdefault("timeout_s", 1.0)
    profile = ModelProfile(backend="openai_http", url=url, **kw)  # type: ignore[arg-type]
    return OpenAIHttpBackend("remote", profile)


def test_connection_refused_is_a_quick_clear_load_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match="connection refused; is the server running"):
        backend(url).load()
    assert time.monotonic() - started < 1.0


def test_bad_url_names_the_fix() -> None:
    with pytest.raises(ModelLoadError, match="not an http"):
        backend("gpu-box:8080").load()


def test_garbage_instead_of_json_is_reported() -> None:
    def handler(_rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        body = b"<html>hello, I am not an API</html>"
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    with serve(handler) as (url, _rec), pytest.raises(ModelLoadError, match="not an OpenAI"):
        backend(url).load()


def test_garbage_in_the_event_stream_is_reported() -> None:
    def handler(_rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        if not models_ok(h):
            send_sse(h, [chat_chunk("Hel"), "{this is not json"])

    with serve(handler) as (url, _rec):
        b = backend(url)
        b.load()
        with pytest.raises(BackendError, match="not an OpenAI-compatible JSON"):
            b.generate(CHAT)


def test_server_that_never_answers_fails_within_the_timeout() -> None:
    def handler(rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        rec.release.wait(30)

    with serve(handler) as (url, _rec):
        started = time.monotonic()
        with pytest.raises(ModelLoadError, match=r"did not answer within 1s"):
            backend(url).load()
        assert time.monotonic() - started < 2.5


def test_stream_that_stalls_midway_fails_within_the_timeout() -> None:
    with serve(one_chunk_then_silence("Hello")) as (url, _rec):
        b = backend(url)
        b.load()
        pieces: list[str] = []
        started = time.monotonic()
        with pytest.raises(BackendError, match="stalled: no data for 1s"):
            b.generate(CHAT, on_token=pieces.append)
        assert pieces == ["Hello"]
        assert time.monotonic() - started < 2.5


def test_429_then_ok_is_retried_with_backoff() -> None:
    def handler(rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        if models_ok(h):
            return
        if rec.count("/chat/completions") == 1:
            send_json(h, 429, {"error": "slow down"}, Retry_After="0.2")
            return
        send_sse(h, [chat_chunk("Hel"), chat_chunk("lo", "stop")])

    with serve(handler) as (url, rec):
        b = backend(url)
        b.load()
        started = time.monotonic()
        out = b.generate(CHAT)
        assert out.text == "Hello" and out.finish_reason == "stop"
        assert rec.count("/chat/completions") == 2
        assert time.monotonic() - started >= 0.2  # Retry-After was honoured


def test_persistent_5xx_gives_up_after_max_retries() -> None:
    def handler(_rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        if not models_ok(h):
            send_json(h, 503, {"error": "overloaded"})

    with serve(handler) as (url, rec):
        b = backend(url, max_retries=2)
        b.load()
        with pytest.raises(BackendError, match="answered 503"):
            b.generate(CHAT)
        assert rec.count("/chat/completions") == 3


def test_api_key_comes_from_the_env_and_never_shows(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-test-0123456789abcdef"

    def handler(_rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("Authorization") != f"Bearer {secret}-right":
            send_json(h, 401, {"error": f"bad key {h.headers.get('Authorization')}"})
        else:
            models_ok(h)

    caplog.set_level(logging.DEBUG)
    with serve(handler) as (url, rec):
        b = backend(url, api_key_env="TSR_TEST_KEY")
        with pytest.raises(ModelLoadError, match=r"\$TSR_TEST_KEY, which is not set"):
            b.load()
        monkeypatch.setenv("TSR_TEST_KEY", secret)
        with pytest.raises(ModelLoadError) as err:
            b.load()
        assert "check the key in $TSR_TEST_KEY" in str(err.value)
        assert secret not in str(err.value) and secret not in caplog.text
        assert secret not in repr(b.profile)
        monkeypatch.setenv("TSR_TEST_KEY", secret + "-right")
        b.load()
        assert rec.requests[-1]["headers"]["Authorization"] == f"Bearer {secret}-right"


def test_cancel_while_the_server_is_silent_returns_promptly() -> None:
    with serve(one_chunk_then_silence("one")) as (url, _rec):
        b = backend(url, timeout_s=20.0)
        b.load()
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(GenerationCancelled) as err:
            b.generate(CHAT, cancel=cancel)
        assert time.monotonic() - started < 2.0
        assert err.value.result.text == "one"


def test_fim_uses_the_profile_template_on_completions() -> None:
    def handler(_rec: Recorder, h: BaseHTTPRequestHandler) -> None:
        if not models_ok(h):
            send_sse(h, [{"choices": [{"index": 0, "text": "x + y", "finish_reason": "stop"}]}])

    template = "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"
    with serve(handler) as (url, rec):
        b = backend(url, fim_template=template)
        b.load()
        assert b.capabilities.can_fim
        out = b.generate(GenerationRequest(prompt="def add(x, y):\n    return ", suffix="\n"))
        body = rec.requests[-1]["body"]
        assert rec.requests[-1]["path"] == "/v1/completions"
        assert (
            body["prompt"]
            == "<|fim_prefix|>def add(x, y):\n    return <|fim_suffix|>\n<|fim_middle|>"
        )
        assert body["model"] == "tiny"  # taken from GET /models
        assert out.text == "x + y"
    with pytest.raises(BackendError, match="fim_template"):
        backend(url).generate(GenerationRequest(prompt="a", suffix="b"))
