"""The model pool with the fake backend: lazy loading, fair queueing, cancellation, LRU
eviction, pinning, failures reported once, fallback, per-session profiles. The same
behaviours are checked with the real default models in tests/e2e/test_backends_llama.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.helpers import cancel_after
from tsr_lsp.backends.base import GenerationCancelled, GenerationRequest, ModelLoadError
from tsr_lsp.backends.fake import FakeBackend
from tsr_lsp.backends.pool import ModelPool, set_owner
from tsr_lsp.config import ModelProfile, Settings
from tsr_lsp.engine import Engine, GenerateOptions
from tsr_lsp.router.decision import RouteRequest


def settings_with(budget: int = 4096, **profiles: ModelProfile) -> Settings:
    s = Settings()
    s.models = dict(profiles)
    s.memory_budget_mb = budget
    s.memory.enabled = False  # memory has its own tests; its background thread is not needed
    s.router.fallback_profile = next(iter(profiles))
    return s


def fake(mb: int = 1, delay: str = "", **kw: object) -> ModelProfile:
    return ModelProfile(backend="fake", memory_mb=mb, model=delay, **kw)  # type: ignore[arg-type]


def ask(text: str = "one two three", max_tokens: int = 50) -> GenerationRequest:
    return GenerationRequest(prompt=text, max_tokens=max_tokens)


def test_models_load_lazily_once(home: Path) -> None:
    pool = ModelPool(settings_with(a=fake()))
    before = FakeBackend.loads
    assert pool.loaded() == []
    stages: list[str] = []
    pool.generate("a", ask(), progress=lambda stage, _msg: stages.append(stage))
    pool.generate("a", ask(), progress=lambda stage, _msg: stages.append(stage))
    assert FakeBackend.loads == before + 1
    assert stages == ["begin", "end"]  # progress only for the one real load
    assert pool.loaded() == ["a"]


def test_one_generation_at_a_time_in_arrival_order(home: Path) -> None:
    pool = ModelPool(settings_with(a=fake(delay="0.02")))
    slot = pool.get("a")
    tokens: list[int] = []  # which request produced each token, in time order

    def run(i: int) -> None:
        pool.generate("a", ask("w " * 5, 5), on_token=lambda _p: tokens.append(i))

    threads = []
    for i in range(4):
        t = threading.Thread(target=run, args=(i,))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while slot.lock.waiting + slot.lock.busy < i + 1 and time.monotonic() < deadline:
            time.sleep(0.002)  # request i is queued before request i+1 is sent
    for t in threads:
        t.join(10)
    runs = [i for n, i in enumerate(tokens) if n == 0 or tokens[n - 1] != i]
    assert runs == [0, 1, 2, 3]  # no interleaving, and first come first served
    assert len(tokens) == 4 * 5  # max_tokens each


def test_connections_take_turns(home: Path) -> None:
    """Editor A queues four generations, then editor B asks once: B runs right after A's
    first, not behind all of A's (arrival order is kept within each editor)."""
    pool = ModelPool(settings_with(a=fake(delay="0.02")))
    slot = pool.get("a")
    tokens: list[str] = []

    def run(owner: str, tag: str) -> None:
        set_owner(owner)
        pool.generate("a", ask("w " * 3, 3), on_token=lambda _p: tokens.append(tag))

    threads = []
    for n, (owner, tag) in enumerate(
        [("A", "a1"), ("A", "a2"), ("A", "a3"), ("A", "a4"), ("B", "b1")]
    ):
        t = threading.Thread(target=run, args=(owner, tag))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5
        while slot.lock.waiting + slot.lock.busy < n + 1 and time.monotonic() < deadline:
            time.sleep(0.002)
    for t in threads:
        t.join(10)
    runs = [tag for n, tag in enumerate(tokens) if n == 0 or tokens[n - 1] != tag]
    assert runs == ["a1", "b1", "a2", "a3", "a4"]


def test_each_connection_s_worker_threads_carry_its_owner(home: Path) -> None:
    from tsr_lsp.backends.pool import current_owner
    from tsr_lsp.server.app import EngineHolder, TsrLanguageServer

    engines = EngineHolder()
    one, two = TsrLanguageServer(engines), TsrLanguageServer(engines)
    owners = [s.thread_pool.submit(current_owner).result(5) for s in (one, two, one)]
    assert owners[0] is not None and owners[0] is owners[2] and owners[0] is not owners[1]
    for s in (one, two):
        s.thread_pool.shutdown()


def test_cancel_while_queued_returns_at_once(home: Path) -> None:
    pool = ModelPool(settings_with(a=fake(delay="0.05")))
    slot = pool.get("a")
    busy = threading.Thread(target=pool.generate, args=("a", ask("w " * 20, 20)))
    busy.start()
    while not slot.lock.busy:
        time.sleep(0.002)
    cancel = threading.Event()
    cancel.set()
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        pool.generate("a", ask(), cancel=cancel)
    assert time.monotonic() - started < 0.5
    busy.join(5)


def test_cancel_mid_stream_stops_within_one_token(home: Path) -> None:
    pool = ModelPool(settings_with(a=fake(delay="0.01")))
    cancel, seen, on_token = cancel_after(3)

    with pytest.raises(GenerationCancelled) as err:
        pool.generate("a", ask("w " * 40, 40), on_token=on_token, cancel=cancel)
    assert len(seen) <= 4
    assert err.value.result.finish_reason == "cancelled"


def test_lru_eviction_under_budget_spares_pinned_and_busy(home: Path) -> None:
    s = settings_with(budget=10, pinned=fake(4, pin=True), a=fake(4), b=fake(4), c=fake(4))
    pool = ModelPool(s)
    pool.get("pinned")
    pool.get("a")
    assert pool.loaded() == ["pinned", "a"]
    pool.get("b")  # 12 > 10: the least recently used unpinned model (a) goes
    assert pool.loaded() == ["pinned", "b"] and pool.evictions == ["a"]
    pool.get("pinned")  # touch: pinned is most recent, still never a victim
    pool.get("c")
    assert set(pool.loaded()) == {"pinned", "c"} and pool.evictions == ["a", "b"]
    # a busy model is not evicted under its generation
    slot_c = pool.get("c")
    assert slot_c.lock.try_acquire()
    try:
        pool.get("a")
        assert "c" in pool.loaded()
        assert pool.used_mb() > s.memory_budget_mb  # over budget rather than kill c
    finally:
        slot_c.lock.release()


def test_evicted_model_reloads_on_next_use(home: Path) -> None:
    pool = ModelPool(settings_with(budget=5, a=fake(4), b=fake(4)))
    pool.generate("a", ask())
    pool.generate("b", ask())
    assert pool.loaded() == ["b"]
    out = pool.generate("a", ask("hello"))
    assert out.text.startswith("[a]") and pool.loaded() == ["a"]


def test_failed_load_is_reported_once_and_retried_when_the_file_appears(
    home: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "model.bin"
    pool = ModelPool(settings_with(a=fake(path=str(missing))))
    with pytest.raises(ModelLoadError) as first:
        pool.generate("a", ask())
    assert getattr(first.value, "first_report", False)
    assert "model.bin" in str(first.value) and "'a'" in str(first.value)
    with pytest.raises(ModelLoadError) as second:
        pool.generate("a", ask())
    assert not getattr(second.value, "first_report", False)
    assert str(second.value) == str(first.value)
    assert pool.failed() == {"a": str(first.value)}
    missing.write_text("now it exists")
    assert pool.generate("a", ask()).text.startswith("[a]")
    assert pool.failed() == {}


def test_same_name_different_profile_gets_its_own_model(home: Path) -> None:
    pool = ModelPool(settings_with(a=fake()))
    other = fake(delay="0")
    other.tags = ["code"]
    pool.generate("a", ask())
    pool.generate("a", ask(), profile=other)
    assert len(pool.status()) == 1  # status is by name...
    assert len(pool._slots) == 2  # ...but two distinct models are loaded


def test_prefill_goes_through_the_queue(home: Path) -> None:
    pool = ModelPool(settings_with(a=fake()))
    first = pool.prefill("a", ask("a b c d"))
    again = pool.prefill("a", ask("a b c d e"))
    assert (first.evaluated_tokens, again.evaluated_tokens) == (4, 1)


def test_engine_falls_back_to_a_profile_with_the_same_tags(home: Path, tmp_path: Path) -> None:
    s = settings_with(
        general=fake(tags=["general"]),
        coder=fake(path=str(tmp_path / "gone.gguf"), tags=["code"]),
        coder2=fake(tags=["code"], cost=5.0),
    )
    engine = Engine(s)
    events: list[tuple[str, dict]] = []
    out = engine.generate(
        RouteRequest("Write a Python function that parses a CSV file"),
        on_event=lambda k, p: events.append((k, p)),
    )
    kinds = [k for k, _ in events]
    assert out.decision.model == "coder2" and out.decision.fallback
    assert "unavailable" in kinds and kinds.count("decision") == 2
    assert events[kinds.index("unavailable")][1]["firstReport"] is True
    # the router now skips the broken profile up front, without another load attempt
    events.clear()
    out = engine.generate(RouteRequest("Write a Python function that sorts a list"))
    assert out.decision.model == "coder2"
    assert engine.status()["models"]["coder"]["error"]


def test_forced_broken_model_is_an_error_not_a_silent_swap(home: Path, tmp_path: Path) -> None:
    s = settings_with(
        general=fake(tags=["general"]),
        coder=fake(path=str(tmp_path / "gone.gguf"), tags=["code"]),
    )
    with pytest.raises(ModelLoadError, match=r"gone\.gguf"):
        Engine(s).generate(RouteRequest("hi"), options=GenerateOptions(model="coder"))
