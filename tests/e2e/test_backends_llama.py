"""llama_cpp and the pool with the real default models (small max_tokens)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import generate_cancelled
from tsr_lsp.backends.base import GenerationCancelled, GenerationRequest, ModelLoadError
from tsr_lsp.backends.llama_cpp import MAX_SUFFIX_STALE, LlamaCppBackend
from tsr_lsp.backends.pool import ModelPool
from tsr_lsp.bench import fim_data
from tsr_lsp.completion.context import file_prompt, locate
from tsr_lsp.config import CompletionSettings, ModelProfile, Settings, default_models


@pytest.fixture(scope="module")
def profiles() -> dict[str, ModelProfile]:
    return default_models()


@pytest.fixture(scope="module")
def general(profiles: dict[str, ModelProfile]) -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend("general", profiles["general"])
    b.load()
    yield b
    b.close()


@pytest.fixture(scope="module")
def coder(profiles: dict[str, ModelProfile]) -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend("coder", profiles["coder"])
    b.load()
    yield b
    b.close()


def test_chat_uses_the_gguf_chat_template_and_streams_in_order(
    general: LlamaCppBackend, models_dir: Path
) -> None:
    meta_template = general.llm.metadata["tokenizer.chat_template"]
    assert general.capabilities.chat_template and not general.capabilities.can_fim
    handler = general.llm._chat_handlers.get(general.llm.chat_format)
    assert general.llm.chat_format == "chat_template.default" and handler is not None
    assert "<|im_start|>" in meta_template  # SmolLM2's own ChatML template
    pieces: list[str] = []
    req = GenerationRequest(
        messages=[{"role": "user", "content": "Say hello to Anna."}], max_tokens=12, seed=7
    )
    out = general.generate(req, on_token=pieces.append)
    assert out.text.strip() and "".join(pieces) == out.text
    assert len(pieces) == out.completion_tokens >= 2
    assert out.ttft_s > 0 and out.total_s >= out.ttft_s


def test_fim_on_the_coder_fills_the_gap(coder: LlamaCppBackend) -> None:
    assert coder.capabilities.can_fim and coder.fim_ids is not None
    prefix = "def add(a, b):\n    "
    suffix = "\n\n\nprint(add(2, 3))\n"
    # A blank line ends an inline completion (the 0.5B model would otherwise ramble on
    # with more functions; trimming is the completion layer's policy, not the backend's).
    req = GenerationRequest(
        prompt=prefix, suffix=suffix, max_tokens=16, temperature=0.0, stop=["\n\n"]
    )
    middle = coder.generate(req).text
    assert "return" in middle and "a + b" in middle.replace("a+b", "a + b")
    compile(prefix + middle + suffix, "<fim>", "exec")  # it fits between the two halves


def test_a_chat_reports_only_the_prompt_tokens_it_evaluated(coder: LlamaCppBackend) -> None:
    """The same chat asked again finds its prompt in the KV cache and evaluates one token
    (to refresh the logits); llama.cpp's own counter reported the whole prompt."""
    coder.llm.reset()
    req = GenerationRequest(
        messages=[{"role": "user", "content": "Name a colour."}], max_tokens=3, temperature=0.0
    )
    first = coder.generate(req)
    assert first.evaluated_prompt_tokens == first.prompt_tokens > 5
    again = coder.generate(req)
    assert again.prompt_tokens == first.prompt_tokens and again.evaluated_prompt_tokens == 1


def test_a_chat_answer_goes_on_from_its_known_start(coder: LlamaCppBackend) -> None:
    """``answer_start`` follows the chat prompt: the text begins with it (streamed first,
    not counted as a generated token) and the model writes what comes after it. The prompt
    before it is the one ``create_chat_completion`` renders: the greedy answer that wrote
    the start itself goes on the same way."""
    messages = [
        {"role": "system", "content": "Reply with the code in one fenced block."},
        {
            "role": "user",
            "content": "Add a docstring to this python:\n```python\ndef mean(xs):\n"
            "    return sum(xs) / len(xs)\n```",
        },
    ]
    start = "```python\ndef mean(xs):\n"
    whole = coder.generate(GenerationRequest(messages=messages, max_tokens=24, temperature=0.0))
    assert whole.text.startswith(start)  # what the model writes first unaided
    pieces: list[str] = []
    req = GenerationRequest(messages=messages, max_tokens=12, temperature=0.0, answer_start=start)
    out = coder.generate(req, on_token=pieces.append)
    assert pieces[0] == start and "".join(pieces) == out.text
    assert out.completion_tokens == len(pieces) - 1 <= 12
    assert '"""' in out.text[len(start) :]  # it went on at the docstring
    assert whole.text.startswith(out.text[: len(start) + 8])


def test_user_text_that_looks_like_fim_tokens_stays_text(coder: LlamaCppBackend) -> None:
    tokens = coder.prompt_tokens(GenerationRequest(prompt="x = '<|fim_middle|>'", suffix=""))
    pre, _suf, mid = coder.fim_ids or (0, 0, 0)
    assert tokens[0] == pre and tokens[-1] == mid and tokens.count(mid) == 1


def test_kv_prefix_is_reused_and_prefill_warms_the_cache(coder: LlamaCppBackend) -> None:
    """Measured with llama.cpp's own counters: tokens evaluated per call."""
    body = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(10))
    first = GenerationRequest(prompt=body + "def g(x):\n    ", suffix="\n", max_tokens=4)
    warm = coder.prefill(first)
    assert warm.prompt_tokens > 120 and warm.evaluated_tokens > 0
    again = coder.prefill(first)
    assert again.evaluated_tokens == 0  # already in the cache
    out = coder.generate(first)
    assert out.evaluated_prompt_tokens <= 1  # the prefilled prompt is not evaluated again
    below = GenerationRequest(prompt=body + "def g(x):\n    y = 1\n    ", suffix="\n", max_tokens=4)
    moved = coder.generate(below)
    # one line further down: only the changed tail is evaluated, not the 120+ token prefix
    assert 0 < moved.evaluated_prompt_tokens < 20 < 120 < moved.prompt_tokens


def test_cancel_stops_within_one_token(general: LlamaCppBackend) -> None:
    req = GenerationRequest(
        messages=[{"role": "user", "content": "Write a long story about the sea."}],
        max_tokens=100,
        seed=1,
    )
    result, pieces = generate_cancelled(general, req, 3)
    assert result.completion_tokens == len(pieces) == 3
    assert result.finish_reason == "cancelled"


def _general_pair(pin_first: bool) -> Settings:
    """Two profiles on the small general model, each counted as 150 MB."""
    base = default_models()["general"]
    s = Settings()
    s.models = {
        "one": ModelProfile(path=base.path, n_ctx=512, memory_mb=150, pin=pin_first),
        "two": ModelProfile(path=base.path, n_ctx=512, memory_mb=150),
    }
    s.memory_budget_mb = 200
    return s


def test_real_models_queue_in_arrival_order(home: Path) -> None:
    pool = ModelPool(_general_pair(False))
    slot = pool.get("one")
    tokens: list[int] = []

    def run(i: int) -> None:
        req = GenerationRequest(prompt=f"Number {i}:", max_tokens=4, temperature=0.0)
        pool.generate("one", req, on_token=lambda _p: tokens.append(i))

    threads = []
    for i in range(3):
        t = threading.Thread(target=run, args=(i,))
        t.start()
        threads.append(t)
        while slot.lock.waiting + slot.lock.busy < i + 1:
            threading.Event().wait(0.002)
    for t in threads:
        t.join(60)
    runs = [i for n, i in enumerate(tokens) if n == 0 or tokens[n - 1] != i]
    assert runs == [0, 1, 2]
    pool.close()


def test_eviction_under_a_tiny_budget_and_pinning(home: Path) -> None:
    req = GenerationRequest(prompt="Hello", max_tokens=2, temperature=0.0)
    pool = ModelPool(_general_pair(False))
    pool.generate("one", req)
    pool.generate("two", req)  # 300 MB > 200 MB: "one" is evicted
    assert pool.loaded() == ["two"] and pool.evictions == ["one"]
    pool.close()

    pinned = ModelPool(_general_pair(True))
    pinned.generate("one", req)
    pinned.generate("two", req)  # "one" is pinned: it stays, the budget is exceeded instead
    assert pinned.loaded() == ["one", "two"] and pinned.evictions == []
    assert pinned.generate("one", req).completion_tokens > 0
    pinned.close()


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        ("truncated", "llama.cpp could not load the model"),
        ("not_gguf", "is not a GGUF file"),
        ("folder", "is a folder"),
        ("missing", "model file not found"),
    ],
)
def test_bad_model_files_are_clear_errors(
    tmp_path: Path, profiles: dict[str, ModelProfile], make: str, fragment: str
) -> None:
    target = tmp_path / "model.gguf"
    if make == "truncated":
        with open(profiles["general"].path, "rb") as src:
            target.write_bytes(src.read(2_000_000))
    elif make == "not_gguf":
        target.write_text("this is a README, not weights\n")
    elif make == "folder":
        target.mkdir()
    with pytest.raises(ModelLoadError, match=fragment):
        LlamaCppBackend("bad", ModelProfile(path=str(target))).load()


def test_spm_puts_the_suffix_first_and_typing_forward_reuses_it(coder: LlamaCppBackend) -> None:
    pre, suf, mid = coder.fim_ids or (0, 0, 0)
    below = "".join(f"    y{i} = x * {i}\n" for i in range(30))
    req = GenerationRequest(prompt="def f(x):\n    ", suffix="\n" + below, fim_order="spm")
    tokens = coder.prompt_tokens(req)
    assert tokens[0] == suf and tokens.index(pre) > 60 and tokens[-1] == mid
    coder.prefill(req)
    typed = dataclasses.replace(req, prompt="def f(x):\n    z = 1\n    ")
    # the suffix (60+ tokens) stays in the KV cache: only the typed line is evaluated
    assert 0 < coder.prefill(typed).evaluated_tokens < 10


def test_psm_typing_forward_moves_the_suffix_and_answers_as_before(coder: LlamaCppBackend) -> None:
    """Enter after a line: the suffix's cells are moved (a few tokens evaluated, not the
    whole suffix) and the answer is the one a fresh evaluation gives."""
    assert coder.can_move_suffix
    below = "    return total\n\n\n" + "".join(
        f"def g{i}(x):\n    return x * {i}\n\n\n" for i in range(8)
    )
    head = "def total_price(items):\n    total = 0\n    for item in items:"
    before = GenerationRequest(
        prompt=head, suffix="\n" + below, max_tokens=16, temperature=0.0, stop=["\n"]
    )
    after = dataclasses.replace(before, prompt=head + "\n        ")

    def answer(reuse: bool) -> tuple[int, str]:
        coder.llm.reset()
        coder.prefill(dataclasses.replace(before, reuse_suffix=reuse))
        req = dataclasses.replace(after, reuse_suffix=reuse)
        evaluated = coder.prefill(req).evaluated_tokens
        return evaluated, coder.generate(req).text

    fresh_n, fresh = answer(False)
    moved_n, moved = answer(True)
    assert fresh_n > 60 and 0 < moved_n < 20
    assert "total" in fresh and moved == fresh
    # typing on: the moved cells grow staler, so past MAX_SUFFIX_STALE tokens the suffix
    # is evaluated afresh
    typed = after.prompt
    counts = []
    for n in range(6):
        typed += f"price_{n} = item.price * item.count\n        "
        req = dataclasses.replace(after, prompt=typed, reuse_suffix=True)
        counts.append(coder.prefill(req).evaluated_tokens)
        assert coder.suffix_stale <= MAX_SUFFIX_STALE
    assert counts[0] < 30 and max(counts) > 60, counts
    # a rewritten line is never moved (its old cells saw text that is gone)
    coder.llm.reset()
    coder.prefill(dataclasses.replace(before, reuse_suffix=True))
    rewritten = dataclasses.replace(after, prompt=head[:-1] + "s:\n        ", reuse_suffix=True)
    assert coder.prefill(rewritten).evaluated_tokens > 60


def test_a_file_prewarmed_whole_serves_a_window_deep_in_it(coder: LlamaCppBackend) -> None:
    """``prefetchOnOpen`` for a client that sends no cursor: the file was evaluated whole
    when it opened, and a request deep in it takes its prefix window (~490 tokens) out of
    those cells; the suffix is evaluated, and the answer is the fresh one."""
    conf = CompletionSettings()
    lines = "".join(
        f"def scale_{i}(values):\n    out = []\n    for v in values:\n"
        f"        out.append(v * {i})\n    return out\n\n\n"
        for i in range(40)
    ).split("\n")
    line = 7 * 25 + 3  # scale_25's "out.append" line, emptied to its indentation
    masked = [*lines[:line], "        ", *lines[line + 1 :]]
    cur = locate("\n".join(masked), line, 8)
    assert cur is not None
    req = fim_data.line_request(conf, cur, reuse_suffix=True)
    suffix = coder.count_tokens(req.suffix or "")

    def open_then_ask(reuse: bool) -> tuple[int, str]:
        coder.llm.reset()
        opened = file_prompt(masked, prefix_tokens=conf.file_prewarm_tokens)
        warm = GenerationRequest(prompt=opened.prefix, suffix="", reuse_suffix=reuse)
        assert coder.prefill(warm).evaluated_tokens > 1000
        ask = dataclasses.replace(req, reuse_suffix=reuse)
        return coder.prefill(ask).evaluated_tokens, coder.generate(ask).text

    fresh_n, fresh = open_then_ask(False)
    moved_n, moved = open_then_ask(True)
    assert fresh_n > suffix + 400 and suffix < moved_n < suffix + 10, (fresh_n, moved_n)
    assert "out.append(v * 25)" in fresh and moved == fresh


def _above_eight_functions(prompt: str) -> GenerationRequest:
    """A one-line FIM request with eight small functions below (a suffix worth moving)."""
    below = "".join(f"def g{i}(x):\n    return x * {i}\n\n\n" for i in range(8))
    return GenerationRequest(
        prompt=prompt,
        suffix="\n" + below,
        max_tokens=8,
        temperature=0.0,
        stop=["\n"],
        reuse_suffix=True,
    )


def test_a_cancelled_suffix_move_leaves_a_cache_that_answers_right(coder: LlamaCppBackend) -> None:
    before = _above_eight_functions("def add(a, b):")
    after = dataclasses.replace(before, prompt="def add(a, b):\n    ")
    coder.llm.reset()
    coder.prefill(before)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        coder.prefill(after, cancel)
    # the next move starts clean (nothing left in the scratch sequence)
    coder.prefill(before)
    assert coder.prefill(after).evaluated_tokens < 20
    out = coder.generate(after).text
    coder.llm.reset()
    assert out == coder.generate(dataclasses.replace(after, reuse_suffix=False)).text
    assert "return" in out


def test_a_speculative_run_leaves_the_cache_as_it_found_it(coder: LlamaCppBackend) -> None:
    """``keep_cache`` (the completion after the shown one, as if it were accepted): the
    shown request's prompt is still cached afterwards, so asking it again evaluates one
    token and answers the same, and typing forward from it still moves the suffix. The
    same run without ``keep_cache`` leaves its own prompt, and the suffix is evaluated."""
    shown = _above_eight_functions("def add(a, b):\n    ")
    coder.llm.reset()
    first = coder.generate(shown).text
    accepted = shown.prompt + first + "\n\n\ndef sub(a, b):\n    "
    suffix = coder.count_tokens(shown.suffix or "")
    for keep in (False, True):
        coder.generate(shown)
        spec = dataclasses.replace(shown, prompt=accepted, keep_cache=keep)
        assert "return" in coder.generate(spec).text
        again = coder.generate(shown)
        assert again.text == first
        if keep:
            assert again.evaluated_prompt_tokens <= 1
        else:
            assert again.evaluated_prompt_tokens > suffix
    typed = dataclasses.replace(shown, prompt=shown.prompt + "return a")
    assert coder.prefill(typed).evaluated_tokens < 20
