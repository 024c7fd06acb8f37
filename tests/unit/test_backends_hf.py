"""hf_transformers with a tiny random-weights model folder built here, fully offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import generate_cancelled
from tests.unit.hf_tiny import build_tiny_model
from tsr_lsp.backends.base import GenerationRequest, ModelLoadError
from tsr_lsp.backends.hf_transformers import HfTransformersBackend
from tsr_lsp.backends.pool import ModelPool
from tsr_lsp.config import ModelProfile, Settings


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("hf") / "tiny")


@pytest.fixture(scope="module")
def loaded(tiny: Path) -> HfTransformersBackend:
    b = HfTransformersBackend("tiny", ModelProfile(backend="hf_transformers", path=str(tiny)))
    b.load()
    return b


def test_loads_offline_with_the_tokenizers_chat_template(loaded: HfTransformersBackend) -> None:
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert loaded.device == "cpu"  # "auto" on a machine without CUDA
    caps = loaded.capabilities
    assert caps.chat_template and caps.can_fim and caps.context_length == 256
    ids = loaded.input_ids(GenerationRequest(messages=[{"role": "user", "content": "say hello"}]))
    rendered = loaded.tokenizer.decode(ids)
    assert rendered.split() == ["<s>", "user", "say", "hello", "</s>", "<s>", "assistant"]


def test_chat_streams_in_order(loaded: HfTransformersBackend) -> None:
    pieces: list[str] = []
    req = GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=8, seed=1)
    out = loaded.generate(req, on_token=pieces.append)
    assert out.text and "".join(pieces) == out.text
    assert 0 < out.completion_tokens <= 8 and out.prompt_tokens > 0
    again = loaded.generate(req)
    assert again.text == out.text  # same seed, same answer


def test_cancel_stops_within_one_token(loaded: HfTransformersBackend) -> None:
    req = GenerationRequest(prompt="hello", max_tokens=60, temperature=1.0, repeat_penalty=1.0)
    result, pieces = generate_cancelled(loaded, req, 2)
    assert len(pieces) <= 3  # stops within one token of the cancel
    assert result.completion_tokens <= 3 < 60


def test_fim_prompt_is_prefix_suffix_middle_with_plain_user_text(
    loaded: HfTransformersBackend,
) -> None:
    pre, suf, mid = loaded.fim_ids or (0, 0, 0)
    ids = loaded.input_ids(GenerationRequest(prompt="def x", suffix="return y"))
    tok = loaded.tokenizer
    before = tok.encode("def x", add_special_tokens=False)
    after = tok.encode("return y", add_special_tokens=False)
    assert ids == [pre, *before, suf, *after, mid]
    out = loaded.generate(
        GenerationRequest(prompt="def x", suffix="return y", max_tokens=4, temperature=0)
    )
    assert out.completion_tokens <= 4


def test_model_without_chat_template_or_fim(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "plain", fim=False, chat_template=False)
    b = HfTransformersBackend("plain", ModelProfile(backend="hf_transformers", path=str(folder)))
    b.load()
    assert not b.capabilities.chat_template and not b.capabilities.can_fim
    out = b.generate(GenerationRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=3))
    assert out.completion_tokens <= 3
    with pytest.raises(Exception, match="no fill-in-the-middle tokens"):
        b.generate(GenerationRequest(prompt="a", suffix="b"))


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda p: p / "missing", "model folder not found"),
        (lambda p: (p / "f.gguf").write_bytes(b"GGUF") and p / "f.gguf", "needs a model folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no config.json"),
    ],
)
def test_bad_folders_are_clear_load_errors(tmp_path: Path, make: object, fragment: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    b = HfTransformersBackend("x", ModelProfile(backend="hf_transformers", path=str(path)))
    with pytest.raises(ModelLoadError, match=fragment):
        b.load()


def test_pool_runs_the_hf_backend_by_name(tiny: Path, home: Path) -> None:
    s = Settings()
    s.models = {"tiny": ModelProfile(backend="hf_transformers", path=str(tiny), tags=["general"])}
    pool = ModelPool(s)
    out = pool.generate("tiny", GenerationRequest(prompt="hello", max_tokens=3))
    assert out.completion_tokens <= 3 and pool.loaded() == ["tiny"]
    assert pool.status()["tiny"]["memoryMb"] > 0
    pool.close()
