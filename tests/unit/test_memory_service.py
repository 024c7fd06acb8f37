"""Memory through the Engine (fake backend: fast): episodes recorded and acknowledged,
retrieved into the prompt, outcomes consolidated into patterns the router reads."""

from __future__ import annotations

import time
from pathlib import Path

from tsr_lsp.config import ModelProfile, Settings
from tsr_lsp.engine import Engine, GenerateOptions
from tsr_lsp.memory.api import FeedbackSource
from tsr_lsp.memory.service import MemoryService
from tsr_lsp.memory.writer_lock import WRITER_BUSY
from tsr_lsp.router.decision import RouteRequest


def fake_settings(home: Path) -> Settings:
    s = Settings()
    s.models = {
        "general": ModelProfile(backend="fake", tags=["general", "chat"]),
        "coder": ModelProfile(backend="fake", tags=["code", "fim"], cost=2.0),
    }
    s.memory.embeddings = "off"
    s.memory.dir = str(home / "memory")
    s.memory.consolidate_delay_s = 0.05
    return s


def test_memory_does_not_open_until_used(home: Path) -> None:
    engine = Engine(fake_settings(home))
    assert isinstance(engine.memory, MemoryService)
    assert not engine.memory.opened
    assert not (home / "memory").exists()


def test_generate_records_an_episode_and_recalls_it_later(home: Path) -> None:
    engine = Engine(fake_settings(home))
    first = engine.generate(
        RouteRequest("Write a Python function that parses a CSV file", project="/proj"),
        options=GenerateOptions(file="/proj/csvparse.py"),
    ).to_json()
    assert first["episodeId"]
    stored = engine.memory.store.get(first["episodeId"])
    assert stored.file == "/proj/csvparse.py" and stored.category == first["decision"]["category"]
    assert stored.response  # the answer's summary
    engine.close()

    again = Engine(fake_settings(home))  # a new process would see the same
    out = again.generate(
        RouteRequest("continue with the CSV parser", project="/proj"),
        options=GenerateOptions(debug=True),
    ).to_json()
    assert out["memory"]["episodes"][0] == first["episodeId"]
    prompt = "\n".join(m["content"] for m in out["messages"])
    assert "parses a CSV file" in prompt
    other = again.generate(
        RouteRequest("continue with the CSV parser", project="/elsewhere"),
        options=GenerateOptions(debug=True),
    ).to_json()
    assert other["memory"]["episodes"] == []  # episodic memory is per project


def test_feedback_becomes_a_pattern_and_moves_the_routing(home: Path) -> None:
    engine = Engine(fake_settings(home))
    memory: MemoryService = engine.memory
    source: FeedbackSource = memory  # the router's contract (checked by mypy)
    assert source is memory

    def rate(temp: float, outcome: str) -> None:
        out = engine.generate(
            RouteRequest("Write a Python function for parsing a CSV file", project="/p"),
            options=GenerateOptions(temperature=temp),
        ).to_json()
        memory.feedback(out["episodeId"], outcome)

    for _ in range(4):
        rate(0.3, "accepted")
        rate(0.7, "rejected")
    deadline = time.time() + 10
    while time.time() < deadline and not memory.patterns():
        time.sleep(0.05)  # background consolidation after new outcomes
    patterns = memory.consolidate()
    topic = next(p for p in patterns if p.topic == "csv parsing")
    assert topic.statement.startswith("for csv parsing tasks, temperature 0.3")
    by_temp: dict[float, list[int]] = {}
    for s in memory.setting_stats("code"):  # the router may also have varied CoT
        if s.topic == "csv parsing":
            got = by_temp.setdefault(s.temperature, [0, 0])
            got[0] += s.accepted
            got[1] += s.tries
    assert by_temp == {0.3: [4, 4], 0.7: [0, 4]}
    history = memory.history("/p")
    assert history.recent_categories == {"code": 8}
    assert history.acceptance_by_category == {"code": 0.5}
    decision = engine.route(RouteRequest("Write a CSV parsing function in Python", project="/p"))
    assert decision.temperature == 0.3 and "feedback" in decision.explanation


def test_remember_pins_a_fact_that_reaches_the_prompt(home: Path) -> None:
    engine = Engine(fake_settings(home))
    engine.memory.remember("/p", "We decided to use the stdlib csv module, not pandas", "decision")
    out = engine.generate(
        RouteRequest("which csv library do we use?", project="/p"),
        options=GenerateOptions(debug=True),
    ).to_json()
    prompt = "\n".join(m["content"] for m in out["messages"])
    assert "decision: We decided to use the stdlib csv module" in prompt


def test_prompt_memory_respects_the_token_budget(home: Path) -> None:
    settings = fake_settings(home)
    settings.memory.prompt_token_budget = 40
    memory = MemoryService(settings)
    for i in range(6):
        memory.remember("/p", f"csv fact number {i}: " + "detail " * 20)
    got = memory.prompt_memory("/p", "csv facts")
    assert len(got["episodes"]) <= 1
    used = sum(len(e["summary"]) // 4 for e in got["episodes"])
    assert used <= 40


def test_export_import_and_forget(home: Path, tmp_path: Path) -> None:
    memory = MemoryService(fake_settings(home))
    memory.remember("/a", "fact a")
    memory.remember("/b", "fact b")
    dump = memory.export(None)
    assert {e["text"] for e in dump} == {"fact a", "fact b"}
    assert memory.forget(project="/a") == 1
    assert {e["text"] for e in memory.export(None)} == {"fact b"}
    assert memory.import_(dump) == {"imported": 1, "existing": 1, "rejected": []}
    assert memory.forget(everything=True) == 2
    assert memory.export(None) == []


def test_a_second_engine_sees_the_writer_is_elsewhere(home: Path) -> None:
    """Two processes on one memory (the daemon and a --no-daemon server): the one without
    the writer says why instead of dropping episodes silently; the writer says nothing."""
    writer, other = Engine(fake_settings(home)), Engine(fake_settings(home))
    settings = fake_settings(home)
    assert writer.memory_read_only(settings) is None  # nobody wrote yet
    writer.memory.remember("/proj", "we deploy on fridays")
    assert writer.memory_read_only(settings) is None  # it holds the writer itself
    assert other.memory_read_only(settings) == WRITER_BUSY  # memory not opened: the probe
    out = other.generate(RouteRequest("Write a CSV parser", project="/proj")).to_json()
    assert out["episodeId"] is None and other.memory.writer_elsewhere == WRITER_BUSY
    assert other.memory_read_only(settings) == WRITER_BUSY  # opened, still not the writer
    settings.memory.enabled = False
    assert other.memory_read_only(settings) is None  # this session keeps no memory
    writer.close()
    assert other.memory_read_only(fake_settings(home)) is None
    out = other.generate(RouteRequest("Write a CSV parser", project="/proj")).to_json()
    assert out["episodeId"] and other.memory.writer_elsewhere is None
    other.close()


def test_a_new_editor_of_a_daemon_that_writes_is_not_told_memory_is_read_only(
    home: Path,
) -> None:
    """Each daemon connection has its own server; they share the process's Engine. A new
    connection must see that Engine (the writer is its own), not probe the lock file."""
    from tsr_lsp.server.app import EngineHolder, TsrLanguageServer
    from tsr_lsp.server.custom import memory_read_only

    factory = EngineHolder(fake_settings(home))
    first = TsrLanguageServer(factory, in_daemon=True)
    first.engine.memory.remember("/proj", "we deploy on fridays")  # the daemon writes
    second = TsrLanguageServer(factory, in_daemon=True)  # another editor connects
    second.session.settings = fake_settings(home)
    assert second.engine_started
    assert memory_read_only(second) is None
    first.engine.close()
