"""The real server over stdio, real default models, both client profiles."""

from __future__ import annotations

from typing import Any

import pytest
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.e2e.conftest import request


async def test_status_reports_profiles(client: LanguageClient) -> None:
    status = await request(client, "tsr/status", {})
    assert set(status["models"]) == {"general", "coder", "fim"}
    assert status["daemon"] is False


async def test_route_decision_shape(client: LanguageClient) -> None:
    decision = await request(
        client,
        "tsr/route",
        {"text": "Write a Python function that parses a CSV file into a list of dicts"},
    )
    # a code model: the 0.5B, or the 1.5B where graded outcomes favour it
    assert decision["model"] in ("coder", "fim") and decision["category"] == "code"
    for key in ("cot_steps", "temperature", "max_tokens", "template", "confidence", "explanation"):
        assert key in decision


async def test_generate_streams_a_real_answer(client: LanguageClient, models_dir: Any) -> None:
    token = "t-1"
    result = await request(
        client,
        "tsr/generate",
        {
            "text": "Say hello to Anna",
            "maxTokens": 12,
            "partialResultToken": token,
        },
    )
    model = result["decision"]["model"]
    assert model in ("general", "coder")  # small talk: one of the cheaper two, by the evidence
    assert result["text"].strip()
    assert 0 < result["usage"]["completionTokens"] <= 12
    reports = client.partial_results[token]  # type: ignore[attr-defined]
    assert reports[0]["event"] == "decision"
    assert reports[0]["model"] == model
    streamed = "".join(r["delta"] for r in reports if r["event"] == "delta")
    assert result["text"].strip() in streamed


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"text": ""}, "missing 'text'"),
        ({"text": "hi", "kind": "poetry"}, "unknown kind"),
        ({"text": "hi", "model": "gpu-box"}, "unknown model profile 'gpu-box'"),
        ({"text": "hi", "maxTokens": -3}, "maxTokens"),
    ],
)
async def test_bad_requests_get_clear_errors(
    client: LanguageClient, params: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(JsonRpcException) as err:
        await request(client, "tsr/generate", params)
    assert fragment in str(err.value)
    status = await request(client, "tsr/status", {})  # still serving
    assert status["models"]
