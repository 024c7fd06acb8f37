"""Training on a small fixture: it learns, it is reproducible, and weights round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tsr_lsp.config import CATEGORIES, Settings
from tsr_lsp.router.data import Example, load_jsonl
from tsr_lsp.router.decision import RouteRequest
from tsr_lsp.router.infer import (
    RouterWeights,
    TrainedRouter,
    WeightsError,
    adjust_prior,
    from_bytes,
    load_weights,
    prior_vector,
    save_weights,
    to_bytes,
)
from tsr_lsp.router.policy import decide
from tsr_lsp.router.train import TrainConfig, category_prior, train

FIXTURE = Path(__file__).parents[1] / "fixtures" / "router_small.jsonl"
FAST = TrainConfig(epochs=12, patience=4, val_fraction=0.25, min_df=1, max_vocab=4000)


@pytest.fixture(scope="module")
def trained() -> tuple:
    return train(load_jsonl(FIXTURE), FAST)


def test_training_improves_validation_accuracy(trained: tuple) -> None:
    _weights, report = trained
    before, best = report.val_accuracy[0], max(report.val_accuracy)
    assert report.val_size >= 40
    assert best >= before + 0.3 and best >= 0.6, report.val_accuracy


def test_training_is_reproducible_with_a_seed(trained: tuple) -> None:
    again, _ = train(load_jsonl(FIXTURE), FAST)
    assert to_bytes(again) == to_bytes(trained[0])


def test_save_load_round_trips_bit_exactly(trained: tuple, tmp_path: Path) -> None:
    weights = trained[0]
    path = tmp_path / "w.tsrw"
    save_weights(weights, path)
    loaded = load_weights(path)
    assert loaded.vocab == weights.vocab and loaded.meta == weights.meta
    for name, arr in weights.arrays.items():
        assert loaded.arrays[name].dtype == arr.dtype
        assert loaded.arrays[name].tobytes() == arr.tobytes()
    save_weights(loaded, tmp_path / "again.tsrw")
    assert (tmp_path / "again.tsrw").read_bytes() == path.read_bytes()
    req = RouteRequest("Summarise this review: great phone, bad battery")
    a = TrainedRouter(weights, "a").predict(req)
    b = TrainedRouter(loaded, "b").predict(req)
    assert a.scores == b.scores and a.difficulty == b.difficulty


def test_damaged_weights_are_refused_with_the_fix(trained: tuple, tmp_path: Path) -> None:
    blob = to_bytes(trained[0])
    with pytest.raises(WeightsError, match=r"checksum mismatch.*router train"):
        from_bytes(blob[:-10] + b"0" * 10, "w.tsrw")
    with pytest.raises(WeightsError, match="not a tsr-lsp router weights file"):
        from_bytes(b"PK\x03\x04 something else", "w.tsrw")


def test_fine_tuning_learns_settings_heads(trained: tuple) -> None:
    """User rows with temperature / model overrides train those heads; the policy then
    applies them inside the category's range."""
    base = trained[0]
    rows = [
        Example(f"Write a poem about {w}", "writing", temperature=0.95, model="poet")
        for w in (
            "rain",
            "dogs",
            "the sea",
            "autumn",
            "trains",
            "love",
            "bread",
            "snow",
            "mountains",
            "cities",
            "stars",
            "my cat",
        )
    ]
    tuned, _report = train(rows, TrainConfig(epochs=15, lr=5e-3, min_df=1, patience=15), base=base)
    assert tuned.meta["models"] == ["poet"] and tuned.meta["heads_trained"]["temperature"] > 0
    router = TrainedRouter(tuned, "tuned")
    request = RouteRequest("Write a poem about the moon")
    prediction = router.predict(request)
    assert prediction.category == "writing" and prediction.model == "poet"
    assert prediction.temperature is not None and prediction.temperature > 0.85
    settings = Settings()
    decision = decide(prediction, request, settings, set(settings.models) | {"poet"})
    pol = settings.router.policy["writing"]
    assert decision.model == "poet" and "learned from training data" in decision.explanation
    assert pol.temperature_min <= decision.temperature <= pol.temperature_max
    assert np.isclose(
        decision.temperature, min(pol.temperature_max, round(prediction.temperature, 2))
    )


def test_category_prior_moves_probabilities_by_bayes_rule(trained: tuple, tmp_path: Path) -> None:
    """Weights carry the real-user prior; the network's balanced probabilities are multiplied
    by it and renormalised, so a knowledge-leaning prior can flip a close call, not a sure one."""
    weights = trained[0]
    prior = weights.meta["category_prior"]
    assert prior == category_prior("real-users")
    assert prior["knowledge"] > 1 > prior["chat"] and abs(sum(prior.values()) - 8) < 1e-3
    probs = np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.30, 0.40])
    out = adjust_prior(probs, prior_vector(prior))
    ratio = out / probs
    assert np.isclose(out.sum(), 1.0) and out.argmax() == CATEGORIES.index("knowledge")
    assert np.allclose(ratio / ratio[0], [prior[c] / prior["code"] for c in CATEGORIES])
    assert adjust_prior(probs, None) is probs
    sure = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.98])
    assert adjust_prior(sure, prior_vector(prior)).argmax() == CATEGORIES.index("chat")
    req = RouteRequest("What should I pack for a week of hiking in Scotland?")
    plain = RouterWeights(weights.vocab, weights.arrays, {**weights.meta, "category_prior": None})
    a = TrainedRouter(weights, "a").predict(req).scores
    b = TrainedRouter(plain, "b").predict(req).scores
    assert np.isclose(
        a["knowledge"] / a["chat"],
        b["knowledge"] / b["chat"] * prior["knowledge"] / prior["chat"],
        rtol=1e-4,
    )


def test_category_prior_from_a_file_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "prior.json"
    path.write_text('{"code": 3, "chat": 1}')
    prior = category_prior(str(path))
    assert prior is not None and np.isclose(sum(prior.values()), 8, atol=1e-3)
    assert prior["code"] == pytest.approx(3 * prior["chat"], rel=1e-3)
    assert prior["math"] == prior["chat"]  # left out: weight 1
    assert category_prior("uniform") is None
    path.write_text('{"smalltalk": 2}')
    with pytest.raises(ValueError, match=r"unknown categories.*smalltalk"):
        category_prior(str(path))
    path.write_text('{"code": 0}')
    with pytest.raises(ValueError, match="positive"):
        category_prior(str(path))
    with pytest.raises(ValueError, match="cannot read"):
        category_prior(str(tmp_path / "missing.json"))
