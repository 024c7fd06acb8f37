"""Inline completion around the model: the pool's inline lane (never behind a chat of the
same model, prewarms give way), completion episodes and their statistics in memory, and
the feedback that moves completion settings. Fake backend; the real model is in
tests/e2e/test_inline_completion.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tsr_lsp.backends.base import GenerationCancelled, GenerationRequest
from tsr_lsp.backends.pool import INLINE, ModelPool
from tsr_lsp.config import ModelProfile, Settings
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.service import MemoryService, completion_table
from tsr_lsp.router.feedback import MIN_COMPLETIONS, CompletionOutcome, completion_settings


def pool_settings() -> Settings:
    s = Settings()
    s.models = {"coder": ModelProfile(backend="fake", memory_mb=1, model="0.01", tags=["fim"])}
    s.memory.enabled = False
    s.router.fallback_profile = "coder"
    return s


def _chat_running(pool: ModelPool, name: str) -> tuple[threading.Thread, list[float]]:
    """A 60-token chat of ``name`` that has produced its first 3 tokens (their times)."""
    chat_tokens: list[float] = []
    chat = threading.Thread(
        target=pool.generate,
        args=(name, GenerationRequest(prompt="w " * 60, max_tokens=60)),
        kwargs={"on_token": lambda _p: chat_tokens.append(time.monotonic())},
    )
    chat.start()
    while len(chat_tokens) < 3:
        time.sleep(0.005)
    return chat, chat_tokens


def test_the_inline_lane_is_its_own_instance_and_chat_pauses_for_it(home: Path) -> None:
    pool = ModelPool(pool_settings())
    chat, chat_tokens = _chat_running(pool, "coder")
    start = time.monotonic()
    result = pool.generate("coder", GenerationRequest(prompt="a b c", max_tokens=3), lane=INLINE)
    done = time.monotonic()
    assert chat.is_alive(), "the completion did not wait for the chat to finish"
    assert result.text == "[coder] a b"
    assert pool.is_loaded("coder") and pool.is_loaded("coder", lane=INLINE)
    # while the completion generated, the chat of the same model file produced at most the
    # token it was generating when the completion started
    during = [t for t in chat_tokens if start < t < done]
    assert len(during) <= 1, during
    chat.join()
    assert len(chat_tokens) == 60  # then it went on to the end


def test_a_chat_of_another_local_model_pauses_for_a_completion(home: Path) -> None:
    # the inline lane's model (the 1.5B "fim") is not the chat's, but they share the cores
    settings = pool_settings()
    settings.models["general"] = ModelProfile(backend="fake", memory_mb=1, model="0.01")
    pool = ModelPool(settings)
    chat, chat_tokens = _chat_running(pool, "general")
    start = time.monotonic()
    pool.generate("coder", GenerationRequest(prompt="a b c d e f", max_tokens=6), lane=INLINE)
    done = time.monotonic()
    assert [t for t in chat_tokens if start < t < done] in ([], [pytest.approx(start, abs=0.05)])
    chat.join()
    assert len(chat_tokens) == 60


def test_an_endpoints_chat_does_not_pause_for_a_local_completion() -> None:
    from tsr_lsp.backends.pool import _compute

    local = ModelProfile(backend="llama_cpp", path="/m/a.gguf")
    remote = ModelProfile(backend="openai_http", url="http://host:8080/v1")
    assert _compute(local) == _compute(ModelProfile(backend="llama_cpp", path="/m/b.gguf"))
    assert _compute(remote) != _compute(local)


def test_a_background_prefill_gives_way_to_a_completion(home: Path) -> None:
    pool = ModelPool(pool_settings())
    pool.get("coder", lane=INLINE)
    stop = threading.Event()
    stopped: list[bool] = []
    entered = threading.Event()

    backend = pool.get("coder", lane=INLINE).backend
    plain_prefill = backend.prefill

    def slow_prefill(request: GenerationRequest, cancel: threading.Event | None = None) -> object:
        entered.set()
        for _ in range(400):
            if cancel is not None and cancel.is_set():
                stopped.append(True)
                raise GenerationCancelled(None)  # type: ignore[arg-type]
            time.sleep(0.01)
        return plain_prefill(request, cancel)

    backend.prefill = slow_prefill  # type: ignore[method-assign]
    warm = threading.Thread(
        target=lambda: _swallow(
            lambda: pool.prefill(
                "coder", GenerationRequest(prompt="x"), cancel=stop, lane=INLINE, background=True
            )
        )
    )
    warm.start()
    entered.wait(2)
    started = time.monotonic()
    result = pool.generate("coder", GenerationRequest(prompt="a b", max_tokens=2), lane=INLINE)
    assert result.text == "[coder] a"
    assert stopped == [True] and stop.is_set()
    assert time.monotonic() - started < 3.5  # not the prefill's 4 s
    warm.join()


def test_a_speculative_generation_gives_way_to_a_completion(home: Path) -> None:
    """``preempt``: background generation (the line after a shown suggestion) stops for the
    next real completion instead of making it wait, and pauses no chat meanwhile."""
    pool = ModelPool(pool_settings())
    stop = threading.Event()
    tokens: list[float] = []
    outcome: list[str] = []

    def speculate() -> None:
        req = GenerationRequest(prompt="w " * 300, max_tokens=300)
        try:
            pool.generate("coder", req, on_token=lambda _p: tokens.append(1.0),
                          cancel=stop, lane=INLINE, preempt=stop)  # fmt: skip
            outcome.append("finished")
        except GenerationCancelled:
            outcome.append("stopped")

    spec = threading.Thread(target=speculate)
    spec.start()
    while len(tokens) < 3:
        time.sleep(0.005)
    assert not pool._inline_busy.get("local"), "background work pauses nobody"
    started = time.monotonic()
    result = pool.generate("coder", GenerationRequest(prompt="a b", max_tokens=2), lane=INLINE)
    spec.join()
    assert result.text == "[coder] a" and outcome == ["stopped"] and stop.is_set()
    assert time.monotonic() - started < 1.5  # not the 300 tokens' 3 s
    assert len(tokens) < 300


def _swallow(fn: object) -> None:
    try:
        fn()  # type: ignore[operator]
    except GenerationCancelled:
        pass


def outcome(lines: int, kind: str, chars: int = 40, kept: int = 0) -> CompletionOutcome:
    return CompletionOutcome(lines=lines, chars=chars, outcome=kind, accepted_chars=kept)


def test_feedback_turns_multiline_off_when_users_reject_it() -> None:
    n = MIN_COMPLETIONS
    single = [outcome(1, "accepted")] * n
    multi = [outcome(4, "rejected")] * (n - 2) + [outcome(4, "accepted")] * 2
    max_tokens, multiline, note = completion_settings(single + multi, 48, "auto")
    assert (max_tokens, multiline) == (48, "never") and "multi-line" in note
    # an explicit choice is the user's: never changed
    assert completion_settings(single + multi, 48, "always")[1] == "always"
    # too few outcomes: nothing moves
    assert completion_settings(single[:3] + multi[:3], 48, "auto") == (48, "auto", "")
    # multi-line accepted as often as single lines: nothing moves
    both = single + [outcome(4, "accepted")] * n
    assert completion_settings(both, 48, "auto") == (48, "auto", "")


def test_feedback_shortens_suggestions_users_keep_only_in_part() -> None:
    partial = [outcome(3, "edited", chars=100, kept=30)] * MIN_COMPLETIONS
    max_tokens, multiline, note = completion_settings(partial, 48, "auto")
    assert max_tokens == 16 and multiline == "auto"  # 48 * 0.3 = 14 -> at least 16
    assert "30%" in note
    mostly_kept = [outcome(3, "edited", chars=100, kept=80)] * MIN_COMPLETIONS
    assert completion_settings(mostly_kept, 48, "auto")[0] == 38


def test_completion_table_counts_outcomes_per_language() -> None:
    def ep(language: str, kind: str) -> Episode:
        return Episode(project="/p", text="x", kind="completion", language=language, outcome=kind)

    table = completion_table(
        [ep("python", "accepted"), ep("python", "rejected"), ep("go", "edited"), ep("go", "")]
    )
    assert (table["shown"], table["accepted"], table["partial"], table["rejected"]) == (3, 1, 1, 1)
    assert table["byLanguage"]["python"]["shown"] == 2
    assert table["byLanguage"]["go"]["partial"] == 1
    assert 0 < table["acceptanceRate"] < table["byLanguage"]["python"]["acceptanceRate"] + 0.5


def test_completion_episodes_stay_out_of_chat_memory_and_reach_stats(home: Path) -> None:
    s = Settings()
    s.memory.embeddings = "off"
    s.memory.dir = str(home / "memory")
    memory = MemoryService(s)
    first = memory.record_completion(
        Episode(project="/p", text="return len(text.split())", language="python", outcome="edited")
    )
    assert first is not None
    memory.update_completion(first, "accepted", {"acceptedLength": 24})
    memory.record_completion(
        Episode(project="/p", text="print(name)", language="python", outcome="rejected")
    )
    memory.record_completion(
        Episode(project="/other", text="fmt.Println(x)", language="go", outcome="accepted")
    )
    stats = memory.completion_stats("/p")
    assert (stats["shown"], stats["accepted"], stats["rejected"]) == (2, 1, 1)
    stored = memory.store.get(first)
    assert stored is not None and stored.kind == "completion"
    assert stored.outcome == "accepted" and stored.meta["acceptedLength"] == 24
    assert memory.completion_stats(None)["shown"] == 3
    assert set(memory.stats()["completions"]) == {"/p", "/other"}
    # chat retrieval never sees completions
    assert memory.search("return len text split", project="/p") == []
    assert memory.prompt_memory("/p", "return len text split")["episodes"] == []
    memory.close()


def test_memory_stats_prints_acceptance_per_project_and_language(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tsr_lsp.commands.memory_cmd import _print_completions

    def ep(language: str, kind: str) -> Episode:
        return Episode(project="/p", text="x", kind="completion", language=language, outcome=kind)

    table = completion_table([ep("python", "accepted"), ep("python", "rejected"), ep("go", "")])
    _print_completions({"/p": table})
    out = capsys.readouterr().out.splitlines()
    assert out[1].strip() == "/p"
    assert out[2].split()[:4] == ["all", "50%", "of", "2"]
    assert out[3].split()[:4] == ["python", "50%", "of", "2"]
