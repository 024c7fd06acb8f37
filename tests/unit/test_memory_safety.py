"""Memory that survives bad data: validated imports, healed poison, a writer lock that is
always released, the journal the index is rebuilt from, panics that never escape."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import held_elsewhere
from tsr_lsp.cli import main
from tsr_lsp.config import MemorySettings, Settings
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.journal import Fold, decode, encode, fold
from tsr_lsp.memory.recovery import segment_damage
from tsr_lsp.memory.service import MemoryService
from tsr_lsp.memory.store import EpisodeStore, MemoryError
from tsr_lsp.memory.validate import check_import, check_record, heal_record


def settings_at(folder: Path) -> Settings:
    s = Settings()
    s.memory.embeddings = "off"
    s.memory.dir = str(folder)
    s.memory.consolidate_delay_s = 3600
    return s


def store_at(path: Path) -> EpisodeStore:
    return EpisodeStore(path, MemorySettings(embeddings="off"), embedder=None)


POISON = [
    {"project": "/p", "text": ["a", "list"], "category": "code"},  # list where a string goes
    {"project": "/p", "text": "ok", "seq": 2**70},  # OverflowError in Tantivy
    {"project": "/p", "text": "ok", "kind": "gossip"},  # unknown kind
    {"project": "/p", "text": "ok", "ts": float("nan")},
    {"project": "/p", "text": "ok", "temperature": True},  # a bool is not a number here
    {"project": "/p", "text": "ok", "meta": {"date": 5}},  # code reads meta.date as text
    {"project": "/p", "text": "ok", "id": "has spaces"},
    {"project": "/p", "text": "   "},
    {"project": "/p"},
    ["not", "an", "object"],
    {"project": "/p", "text": "ok", "kind": "pattern"},  # derived: never imported
]


def test_every_bad_field_is_rejected_with_its_name() -> None:
    checked = check_import([*POISON, {"project": "/p", "text": "fine"}])
    assert [n for n, _ in checked.rejected] == list(range(1, len(POISON) + 1))
    messages = dict(checked.rejected)
    assert messages[1] == "field 'text': expected a string, got list"
    assert "field 'seq': out of range" in messages[2]
    assert "field 'kind': unknown value 'gossip'" in messages[3]
    assert messages[9] == "missing 'text'"
    assert [ep.text for ep in checked.valid] == ["fine"]
    assert check_record({"project": "/p", "text": "x", "seq": 3.0}).seq == 3  # 3.0 is an int


def test_import_keeps_the_good_records_and_names_the_bad_lines(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSR_LSP_DAEMON", "0")
    src = tmp_path / "in.jsonl"
    good = {"project": "/p", "text": "csv parsing kept", "outcome": "accepted", "category": "code"}
    lines = [json.dumps(good), "", json.dumps(POISON[0]), json.dumps(POISON[1])]
    src.write_text("\n".join(lines) + "\n")
    assert main(["memory", "import", "--atomic", str(src)]) == 1
    assert "nothing imported: 2 of 3 records are invalid (line 3:" in capsys.readouterr().err
    assert main(["memory", "import", str(src)]) == 1  # the default: the rest is kept
    err = capsys.readouterr().err
    assert f"{src} line 3: field 'text': expected a string, got list" in err
    assert f"{src} line 4: field 'seq': out of range" in err
    # what was kept works with everything that used to break on poison
    assert main(["memory", "consolidate"]) == 0
    assert main(["memory", "forget", "--project", "/p"]) == 0
    assert "forgot 1 episodes" in capsys.readouterr().out


def _poison_the_index(store: EpisodeStore, raw: dict[str, Any]) -> None:
    """Write a payload the way an older tsr-lsp did, without any checks."""
    import tantivy

    doc = tantivy.Document()
    doc.add_text("id", raw["id"])
    doc.add_text("project", "/p")
    doc.add_text("kind", "interaction")
    doc.add_text("outcome", "accepted")
    doc.add_integer("ts", 1)
    doc.add_text("text", "poison")
    doc.add_bytes("payload", json.dumps(raw).encode())
    writer = store._get_writer()
    writer.add_document(doc)
    store._commit()


def test_poison_stored_by_an_older_version_heals(tmp_path: Path) -> None:
    service = MemoryService(settings_at(tmp_path / "m"))
    service.remember("/p", "a good fact")
    raw = {
        "id": "old1",
        "project": "/p",
        "text": ["x", "y"],
        "category": ["code"],
        "outcome": "accepted",
        "seq": "7",
        "meta": [],
    }
    _poison_the_index(service.store, raw)
    healed = service.store.get("old1")
    assert healed is not None and healed.text == "x y" and healed.category == "code"
    assert healed.seq == 0 and healed.meta == {}
    service.consolidate()  # used to fail forever with "unhashable type: 'list'"
    report = service.check()
    assert not report["ok"] and "1 stored episodes with malformed fields" in report["problems"]
    assert "1 episodes of the index are not in the journal" in report["problems"]
    repaired = service.check(repair=True)
    assert repaired["repaired"]
    assert service.check()["ok"]
    assert service.forget(ids=["old1"]) == 1
    assert [e["text"] for e in service.export(None)] == ["a good fact"]


def test_a_failed_write_releases_the_writer_and_keeps_the_episode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_at(tmp_path / "m")
    store.add([Episode(project="/p", text="first")])
    # a value the checks would refuse, forced past them: fails while building the document
    monkeypatch.setattr("tsr_lsp.memory.store.sanitized", lambda ep: ep)
    with pytest.raises(OverflowError):
        store.add([Episode(project="/p", text="bad", seq=2**70)])
    monkeypatch.undo()
    # a failure inside Tantivy after the journal append: rolled back, rebuilt, acknowledged
    real_commit = EpisodeStore._commit
    calls = {"n": 0}

    def flaky_commit(self: EpisodeStore) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("No space left on device")
        real_commit(self)

    monkeypatch.setattr(EpisodeStore, "_commit", flaky_commit)
    (key,) = store.add([Episode(project="/p", text="written while the disk hiccuped")])
    monkeypatch.undo()
    assert store._writer is None  # dropped, not left holding the directory lock
    store.add([Episode(project="/p", text="later writes work")])  # no "another process"
    texts = {e.text for e in store.recent("/p")}
    assert texts == {"first", "written while the disk hiccuped", "later writes work"}
    assert any("rebuilt it from the journal" in n for n in store.notices)
    store.close()
    assert store_at(tmp_path / "m").get(key) is not None


def test_the_journal_replays_what_the_index_missed(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([Episode(project="/p", text="in both")])
    # a crash between the fsync'd journal append and the index commit
    lost = Episode(project="/p", text="only in the journal")
    store.journal.append([{"op": "put", "ep": lost.to_json()}])
    store.close()
    again = store_at(tmp_path / "m")
    assert {e.text for e in again.recent("/p")} == {"in both", "only in the journal"}
    assert any("replayed 1 journal records" in n for n in again.notices)


class PanicException(BaseException):  # what pyo3 raises for a Rust panic (by name)
    pass


def test_a_panic_in_tantivy_never_escapes_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = MemoryService(settings_at(tmp_path / "m"))
    service.remember("/p", "csv parsing with quoted fields")
    real = EpisodeStore._search
    panics = {"n": 1}

    def panicking(self: EpisodeStore, *a: Any, **kw: Any) -> Any:
        if panics["n"]:
            panics["n"] -= 1
            raise PanicException("index out of bounds: the len is 20 but the index is 20")
        return real(self, *a, **kw)

    monkeypatch.setattr(EpisodeStore, "_search", panicking)
    (hit,) = service.search("csv", "/p")  # recovered, then answered
    assert hit["text"] == "csv parsing with quoted fields"
    assert service.store.recoveries == 1
    panics["n"] = 100  # keeps panicking: a clear error, never the panic itself
    with pytest.raises(MemoryError, match="PanicException"):
        service.search("csv", "/p")
    assert service.prompt_memory("/p", "csv") == {"episodes": [], "patterns": []}


def _flip_segments(folder: Path, seed: int) -> None:
    rng = random.Random(seed)
    for path in sorted((folder / "index").glob("*.store")):
        data = bytearray(path.read_bytes())
        for _ in range(16):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))


def test_a_damaged_segment_costs_no_acknowledged_episode(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    for i in range(0, 60, 20):
        store.add([Episode(project="/p", text=f"episode {j} about csv") for j in range(i, i + 20)])
    store.close()
    _flip_segments(tmp_path / "m", 1)
    again = store_at(tmp_path / "m")
    assert again.count("/p") == 60
    assert len({e.text for e in again.iter_all("/p")}) == 60


def test_a_flipped_bit_in_a_segment_is_caught_before_tantivy_reads_it(tmp_path: Path) -> None:
    """Some flips (a length) abort the process inside Tantivy; the CRC32 footers catch
    every flip first, and the index is rebuilt from the journal."""
    store = store_at(tmp_path / "m")
    store.add([Episode(project="/p", text=f"episode {j} about csv") for j in range(20)])
    store.close()
    index = tmp_path / "m" / "index"
    assert segment_damage(index) is None
    target = sorted(index.glob("*.fieldnorm"))[0]
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    assert segment_damage(index) == f"{target.name}: checksum mismatch"
    again = store_at(tmp_path / "m")
    assert any("rebuilt it from the journal" in n and target.name in n for n in again.notices)
    assert again.count("/p") == 20
    assert segment_damage(index) is None


def test_segment_check_reads_in_chunks_and_finds_a_flip_past_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tsr_lsp.memory.recovery as recovery

    store = store_at(tmp_path / "m")
    store.add([Episode(project="/p", text=f"episode {j} about csv") for j in range(40)])
    store.close()
    index = tmp_path / "m" / "index"
    monkeypatch.setattr(recovery, "CRC_CHUNK", 7)  # many chunks, odd boundaries
    assert segment_damage(index) is None
    target = max(index.glob("*.store"), key=lambda f: f.stat().st_size)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x40  # inside the body, far past the first chunk
    target.write_bytes(bytes(data))
    assert segment_damage(index) == f"{target.name}: checksum mismatch"
    target.write_bytes(bytes(data[:5]))
    assert segment_damage(index) == f"{target.name}: too short for a footer"


def test_memory_check_reports_and_repairs_a_damaged_journal(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TSR_LSP_DAEMON", "0")
    service = MemoryService(Settings())
    for i in range(5):
        service.remember("/p", f"fact number {i}")
    service.close()
    assert main(["memory", "check"]) == 0
    journal = service.store.journal.path
    lines = journal.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"fact", b"fakt")  # its checksum no longer matches
    journal.write_bytes(b"\n".join(lines))
    assert main(["memory", "check"]) == 1
    out = capsys.readouterr().out
    assert "1 damaged journal lines" in out and "1 episodes of the index are not in" in out
    assert main(["memory", "check", "--repair"]) == 0
    assert main(["memory", "check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["ok"] and report["journalEpisodes"] == 5 == report["indexEpisodes"]


def test_journal_lines_are_checksummed_and_a_torn_tail_is_ignored() -> None:
    put = {"op": "put", "ep": {"id": "a", "project": "/p", "text": "x"}}
    line = encode(put)
    assert decode(line.rstrip(b"\n")) == put
    assert decode(line.replace(b'"x"', b'"y"').rstrip(b"\n")) is None
    data = encode({"op": "head", "gen": "g"}) + line + line.replace(b'"a"', b'"b"')[:-1]
    state = fold(data)
    assert isinstance(state, Fold) and list(state.episodes) == ["a"] and state.torn
    assert state.gen == "g" and state.damaged == []


def test_healing_never_raises() -> None:
    rng = random.Random(3)
    values: list[Any] = [None, 1, -1, 2**80, 1.5, float("inf"), "s", ["a"], {"k": 1}, True]
    for _ in range(300):
        raw = {
            k: rng.choice(values)
            for k in (
                "project",
                "text",
                "kind",
                "id",
                "ts",
                "seq",
                "meta",
                "outcome",
                "temperature",
                "thread",
            )
        }
        ep, _repaired = heal_record(raw)
        check_record(
            {**ep.to_json(), "text": ep.text or "x"},
            kinds=("interaction", "fact", "decision", "turn", "pattern"),
        )


def test_an_index_that_silently_lost_a_document_is_reconciled(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([Episode(project="/p", text=f"episode {i}", id=f"e{i}") for i in range(5)])
    # what a flipped bit in a deletion bitset does: the index opens fine, one doc is gone
    writer = store._get_writer()
    writer.delete_documents_by_term("id", "e3")
    store._commit()
    store.close()
    again = store_at(tmp_path / "m")
    assert again.get("e3") is not None and again.count("/p") == 5
    assert any("reconciled (5 episodes)" in n for n in again.notices)
    again.close()
    assert store_at(tmp_path / "m").notices == []  # and the next open is quiet


def test_a_silently_altered_payload_is_caught_by_its_checksum(tmp_path: Path) -> None:
    from tsr_lsp.memory.validate import seal

    store = store_at(tmp_path / "m")
    (key,) = store.add([Episode(project="/p", text="the original words", id="e1")])
    good = store.payload(store.get(key))  # type: ignore[arg-type]
    flipped = seal(good)[:-9].replace(b"original", b"origiNal") + seal(good)[-9:]
    doc = store._document(Episode(project="/p", text="the original words", id="e1"), "", "")
    import tantivy

    bad = tantivy.Document()
    for name in ("id", "project", "kind", "outcome", "text"):
        bad.add_text(name, doc.get_first(name) or "")
    bad.add_integer("ts", 1)
    bad.add_bytes("payload", flipped)  # one character changed, the crc of the original
    writer = store._get_writer()
    writer.delete_documents_by_term("id", "e1")
    writer.add_document(bad)
    store._commit()
    assert store.get("e1").text == "the original words"  # type: ignore[union-attr]
    assert store.recoveries == 1


def test_prompts_and_routing_do_not_wait_for_a_rebuild(tmp_path: Path) -> None:
    import threading
    import time

    service = MemoryService(settings_at(tmp_path / "m"))
    service.remember("/p", "csv parsing with quoted fields")
    service.store.recovering = True  # another request is rebuilding a damaged index
    holder = threading.Thread(target=service.store._lock.acquire)  # ... and holds the lock
    holder.start()
    holder.join()
    start = time.monotonic()
    assert service.prompt_memory("/p", "csv parsing") == {"episodes": [], "patterns": []}
    with pytest.raises(MemoryError, match="being opened or rebuilt"):
        service.history("/p")
    assert time.monotonic() - start < 0.5


def test_an_export_imports_again_whatever_kinds_it_holds(tmp_path: Path) -> None:
    """Every kind `memory export` writes (completions included) is one `import` takes."""
    from tsr_lsp.memory.episodic import STORED_KINDS

    source = MemoryService(settings_at(tmp_path / "a"))
    source.remember("/p", "a pinned fact")
    source.import_([{"project": "/p", "text": "a turn", "kind": "turn", "thread": "s1"}])
    done = Episode(project="/p", text="def area(r):", response="return 3.14 * r * r")
    done.language, done.outcome = "python", "accepted"
    source.record_completion(done)
    exported = source.export("/p")
    source.close()
    kinds = {e["kind"] for e in exported}
    assert kinds == {"fact", "turn", "completion"} and kinds < set(STORED_KINDS)
    target = MemoryService(settings_at(tmp_path / "b"))
    out = target.import_(exported)
    assert out["rejected"] == [] and out["imported"] == 3
    assert target.completion_stats("/p")["accepted"] == 1
    target.close()


def test_a_big_import_is_stored_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index buffers what a write adds until its commit: an import commits every
    IMPORT_BATCH episodes, so its working memory does not grow with the import."""
    from tsr_lsp.memory import service as service_module

    monkeypatch.setattr(service_module, "IMPORT_BATCH", 40)
    service = MemoryService(settings_at(tmp_path / "m"))
    sizes: list[int] = []
    add = service.store.add
    monkeypatch.setattr(service.store, "add", lambda eps: sizes.append(len(eps)) or add(eps))
    records = [{"project": "/p", "text": f"note {i} on csv parsing"} for i in range(100)]
    assert service.import_(records)["imported"] == 100
    assert sizes == [40, 40, 20]
    assert sorted(e["text"] for e in service.export("/p")) == sorted(r["text"] for r in records)
    service.close()


def test_routing_does_not_wait_for_a_write_under_way(tmp_path: Path) -> None:
    """An import or a compaction holds the store's write lock for seconds: routing's
    history and statistics come back at once (from before the write, or none) instead."""
    from concurrent.futures import ThreadPoolExecutor

    service = MemoryService(settings_at(tmp_path / "m"))
    service.remember("/p", "the csv parser takes a delimiter")
    before = service.history("/p")
    service.remember("/p", "the csv parser skips blank lines")  # a new generation
    with held_elsewhere(service.store._lock), ThreadPoolExecutor(1) as pool:
        assert pool.submit(service.history, "/p").result(timeout=3) == before
        with pytest.raises(MemoryError, match="routing without history"):
            pool.submit(service.history, "/other").result(timeout=3)
        with pytest.raises(MemoryError, match="without its statistics"):
            pool.submit(service.setting_stats, "code").result(timeout=3)
    assert service.setting_stats("code") == []  # read normally once the write is done
    service.close()


def test_routing_keeps_its_older_feedback_while_a_write_holds_the_store(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feedback routing reads once a minute waits for no write either: the request
    routes with the previous read (every tsr/route of the reliability bench's victims
    waited for one import when they all refreshed at once), and reads again afterwards."""
    from concurrent.futures import ThreadPoolExecutor

    from tsr_lsp.engine import Engine
    from tsr_lsp.router.decision import RouteRequest

    engine = Engine(settings_at(tmp_path / "m"))
    service = engine.memory
    rated = {"project": "/p", "kind": "interaction", "category": "code", "outcome": "accepted"}
    service.import_([{**rated, "text": "parse a csv file into dicts"}])
    ask = RouteRequest("Write a Python function that parses a CSV file")
    engine.route(ask)
    assert [e.text for e in engine._feedback_cache[1]] == ["parse a csv file into dicts"]
    service.import_([{**rated, "text": "split a csv line on commas"}])
    monkeypatch.setattr(Engine, "FEEDBACK_REFRESH_S", 0.0)  # every request reads again
    monkeypatch.setattr(Engine, "FEEDBACK_RETRY_S", 0.0)
    with held_elsewhere(service.store._lock), ThreadPoolExecutor(1) as pool:
        assert pool.submit(engine.route, ask).result(timeout=3).category == "code"
        assert len(engine._feedback_cache[1]) == 1  # the read from before the write
    engine.route(ask)
    assert len(engine._feedback_cache[1]) == 2
    engine.close()


def test_forgetting_nothing_rewrites_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = MemoryService(settings_at(tmp_path / "m"))
    service.remember("/p", "the csv parser takes a delimiter")
    compactions: list[int] = []
    monkeypatch.setattr(service.store, "compact", lambda: compactions.append(1))
    assert service.forget(project="/nowhere") == 0
    assert compactions == []
    assert service.forget(project="/p") == 1
    assert compactions == [1]
    service.close()
