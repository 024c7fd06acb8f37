"""Backends behind the real server: broken profiles fall back or fail clearly within their
timeouts, the server stays up, loading shows work-done progress, $/cancelRequest stops a
generation and frees the model for the next request. Both client capability profiles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient, client_capabilities

from tests.e2e.conftest import CLIENTS, request, server_config
from tests.unit.badservers import Recorder, free_port, serve


@pytest.fixture(scope="module")
def stall_url() -> Iterator[str]:
    def handler(rec: Recorder, _h: BaseHTTPRequestHandler) -> None:
        rec.release.wait(60)

    with serve(handler) as (url, _rec):
        yield url


@pytest_lsp.fixture(params=CLIENTS, config=server_config())
async def client(
    request: pytest.FixtureRequest,
    lsp_client: LanguageClient,
    tmp_path: Path,
    stall_url: str,
) -> AsyncIterator[None]:
    readme = tmp_path / "README.gguf"
    readme.write_text("not a model\n")
    models: dict[str, Any] = {
        "general": {"path": str(readme)},  # broken: chat requests must fall back
        "refused": {
            "backend": "openai_http",
            "url": f"http://127.0.0.1:{free_port()}/v1",
            "tags": ["remote"],
            "timeoutS": 2,
        },
        "stall": {"backend": "openai_http", "url": stall_url, "tags": ["remote"], "timeoutS": 1},
        "nofolder": {
            "backend": "hf_transformers",
            "path": str(tmp_path / "no-such-folder"),
            "tags": ["hf"],
        },
    }
    params = types.InitializeParams(
        capabilities=client_capabilities(request.param),
        root_uri=tmp_path.as_uri(),
        # quality 0: the cheapest calibrated profile answers, so small talk goes to the
        # broken general profile (at the default the evidence sends it to the coder)
        initialization_options={"models": models, "router": {"quality": 0.0}},
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_broken_profile_falls_back_and_is_reported_once(
    client: LanguageClient, models_dir: Path
) -> None:
    token = "chat-1"
    first = await request(
        client,
        "tsr/generate",
        {"text": "Say hello to my friend Anna", "maxTokens": 6, "partialResultToken": token},
    )
    assert first["decision"]["model"] == "coder" and first["decision"]["fallback"]
    assert "'general' unavailable: fallback 'coder'" in first["decision"]["explanation"]
    assert first["text"].strip()
    events = client.partial_results[token]  # type: ignore[attr-defined]
    unavailable = [e for e in events if e["event"] == "unavailable"]
    assert len(unavailable) == 1 and "is not a GGUF file" in unavailable[0]["reason"]
    told = [m.message for m in client.messages if "unavailable" in m.message]
    assert len(told) == 1 and "README.gguf" in told[0]

    second = await request(client, "tsr/generate", {"text": "Say hi to Bob", "maxTokens": 4})
    assert second["decision"]["model"] == "coder"
    assert len([m for m in client.messages if "unavailable" in m.message]) == 1  # once
    status = await request(client, "tsr/status", {})
    assert "not a GGUF file" in status["models"]["general"]["error"]
    assert status["models"]["coder"]["loaded"] and status["models"]["coder"]["pinned"]


@pytest.mark.parametrize(
    ("model", "fragment", "limit_s"),
    [
        ("refused", "connection refused", 2.0),
        ("stall", "did not answer within 1s", 3.0),
        ("nofolder", "model folder not found", 2.0),
    ],
)
async def test_bad_backends_fail_clearly_and_the_server_stays_up(
    client: LanguageClient, model: str, fragment: str, limit_s: float, models_dir: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(JsonRpcException) as err:
        await request(client, "tsr/generate", {"text": "hi", "model": model, "maxTokens": 4})
    assert fragment in str(err.value)
    assert time.monotonic() - started < limit_s
    ok = await request(client, "tsr/generate", {"text": "hi", "model": "coder", "maxTokens": 3})
    assert ok["usage"]["completionTokens"] > 0  # other profiles keep working


async def test_model_loading_shows_work_done_progress(
    client: LanguageClient, models_dir: Path
) -> None:
    await request(client, "tsr/generate", {"text": "hi", "model": "coder", "maxTokens": 2})
    loads = [
        reports
        for reports in client.progress_reports.values()
        if reports and "Loading model 'coder'" in (getattr(reports[0], "message", "") or "")
    ]
    assert len(loads) == 1
    kinds = [r.kind for r in loads[0]]
    assert kinds == ["begin", "end"] and "Loaded model 'coder'" in (loads[0][-1].message or "")


async def test_cancel_request_stops_generation_and_frees_the_model(
    client: LanguageClient, models_dir: Path
) -> None:
    token = "long-1"
    params = {
        "text": "Write a very long story about the sea.",
        "model": "coder",
        "maxTokens": 400,
        "partialResultToken": token,
    }
    pending = asyncio.ensure_future(
        client.protocol.send_request_async("tsr/generate", params, msg_id="gen-long")
    )
    deadline = time.monotonic() + 60
    while not any(
        e["event"] == "delta"
        for e in client.partial_results.get(token, [])  # type: ignore[attr-defined]
    ):
        assert time.monotonic() < deadline and not pending.done()
        await asyncio.sleep(0.01)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="gen-long"))
    with pytest.raises(JsonRpcException, match="cancel"):
        await asyncio.wait_for(pending, 10)
    started = time.monotonic()
    status = await request(client, "tsr/status", {})
    while status["models"]["coder"]["busy"]:
        assert time.monotonic() - started < 2, "the model kept generating after cancel"
        await asyncio.sleep(0.02)
        status = await request(client, "tsr/status", {})
    deltas = [e for e in client.partial_results[token] if e["event"] == "delta"]  # type: ignore[attr-defined]
    streamed = "".join(e["delta"] for e in deltas)
    assert len(streamed) < 400 * 3  # far from the 400 tokens asked for
    ok = await request(client, "tsr/generate", {"text": "hi", "model": "coder", "maxTokens": 3})
    assert ok["usage"]["completionTokens"] > 0
