"""Static word vectors (meaning features), the code-difficulty label rule and its calibration
in the shipped router."""

from __future__ import annotations

import numpy as np
import pytest

from tsr_lsp.config import Settings
from tsr_lsp.router import static
from tsr_lsp.router.corpus import code_difficulty
from tsr_lsp.router.decision import RouteRequest
from tsr_lsp.router.features import tokens
from tsr_lsp.router.loader import load_router
from tsr_lsp.router.policy import decide


def _cos(a: str, b: str) -> float:
    vectors = static.load()
    assert vectors is not None, "shipped static vectors missing"
    return float(vectors.pool(tokens(a)) @ vectors.pool(tokens(b)))


def test_shipped_vectors_load_and_features_are_deterministic() -> None:
    vectors = static.load()
    assert vectors is not None and vectors.table.shape[1] == static.DIM
    feats = static.features(tokens("Write a poem about the sea"))
    assert len(feats) == 2 * static.DIM and feats == static.features(
        tokens("Write a poem about the sea")
    )
    assert np.isclose(np.linalg.norm(feats[: static.DIM]), 1.0, atol=1e-3)
    assert static.features(["zzqxj"]) == [0.0] * (2 * static.DIM)  # no known word: zeros


def test_related_wording_is_closer_than_unrelated_wording() -> None:
    assert _cos("write a poem about rain", "compose a sonnet on rainfall") > _cos(
        "write a poem about rain", "summarise this quarterly report"
    )
    assert _cos("hello there", "hi, how are you") > _cos("hello there", "solve for x")


def test_file_round_trips_and_damage_is_refused(tmp_path) -> None:
    table = np.arange(2 * static.DIM, dtype=np.float16).reshape(2, static.DIM)
    blob = static.to_bytes(["alpha", "beta"], table, {"k": 1})
    back = static.from_bytes(blob)
    assert back.index == {"alpha": 0, "beta": 1} and np.array_equal(back.table, table)
    assert static.to_bytes(["alpha", "beta"], table, {"k": 1}) == blob
    broken = blob[:-3] + b"\0\0\0"
    with pytest.raises(ValueError, match="checksum"):
        static.from_bytes(broken)
    path = tmp_path / "bad.tsrv"
    path.write_bytes(broken)
    assert static.load(path) is None  # routing goes on without meaning features


def test_code_difficulty_rule() -> None:
    assert (
        code_difficulty("Write a Python function that parses a CSV file into a list of dicts")
        == 0.1
    )
    hard = "Design a thread-safe LRU cache with a lock-free read path; explain the concurrency"
    assert code_difficulty(hard) >= 0.6


def test_shipped_router_gives_common_code_tasks_little_cot() -> None:
    settings = Settings()
    router = load_router(settings)
    assert router.name == "pretrained"

    def route(text: str):  # type: ignore[no-untyped-def]
        req = RouteRequest(text)
        pred = router.predict(req)
        return pred, decide(pred, req, settings, set(settings.models))

    pred, easy = route("Write a Python function that parses a CSV file into a list of dicts")
    assert easy.category == "code" and easy.cot_steps <= 1
    hard_pred, _ = route(
        "Design a distributed, fault-tolerant job scheduler in Go with leader election, "
        "retries and a web dashboard; explain the architecture and write the core code"
    )
    assert hard_pred.difficulty > pred.difficulty + 0.2
