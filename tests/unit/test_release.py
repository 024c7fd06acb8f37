"""The memory release (a full garbage collection: it holds the interpreter up to a second)
waits until no client waits on a reply."""

from __future__ import annotations

import mmap
import pathlib
import time

import pytest

from tests.helpers import mapped_rss_kb
from tsr_lsp import release
from tsr_lsp.server.app import EngineHolder, TsrLanguageServer


def _wait_for(calls: list[float], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not calls and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_release_waits_while_a_request_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    monkeypatch.setattr(release, "QUIET_S", 0.2)
    monkeypatch.setattr(release, "release_memory", lambda: calls.append(time.monotonic()))
    release.activity.begin()
    try:
        release.release_later(0.05)
        time.sleep(0.5)
        assert calls == []  # a client waits on a reply: no collection now
    finally:
        release.activity.end()
    ended = time.monotonic()
    _wait_for(calls)
    assert len(calls) == 1 and calls[0] - ended >= 0.15  # once, after a quiet moment


def test_an_idle_daemon_releases_right_away(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    monkeypatch.setattr(release, "QUIET_S", 0.05)
    monkeypatch.setattr(release, "release_memory", lambda: calls.append(time.monotonic()))
    time.sleep(0.1)  # whatever ran before this test ended a while ago
    asked = time.monotonic()
    release.release_later(0.05)
    _wait_for(calls)
    assert len(calls) == 1 and calls[0] - asked < 1.0


def test_every_connection_counts_its_requests() -> None:
    a = TsrLanguageServer(EngineHolder(), in_daemon=True)
    b = TsrLanguageServer(EngineHolder(), in_daemon=True)
    before = release.activity.running
    first, second = a.protocol.begin_request(), b.protocol.begin_request()
    assert release.activity.running == before + 2 and release.activity.quiet_s() == 0.0
    a.protocol.end_request(first)
    assert release.activity.quiet_s() == 0.0  # b's request still runs
    b.protocol.end_request(second)
    assert release.activity.running == before


def test_a_slow_collection_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A full collection over SLOW_GC_S is logged with its generation; fast ones are not."""
    import gc
    import logging

    log = logging.getLogger("tsr-test-gc")
    before = list(gc.callbacks)
    try:
        release.watch_collections(log)
        old = release.SLOW_GC_S
        with caplog.at_level(logging.WARNING, logger="tsr-test-gc"):
            try:  # thresholds on both sides of any real collection: a loaded CI machine
                release.SLOW_GC_S = 60.0  # can take a quarter second over this process
                gc.collect()
                assert not caplog.records
                release.SLOW_GC_S = -1.0
                gc.collect()
            finally:
                release.SLOW_GC_S = old
        assert any("generation 2" in r.getMessage() for r in caplog.records)
    finally:
        gc.callbacks[:] = before


def test_page_out_drops_mapped_files_under_a_folder_only(tmp_path: pathlib.Path) -> None:
    """A library's mapped files (Tantivy's segments) leave RSS; other mappings stay."""
    mine, other = tmp_path / "index", tmp_path / "elsewhere"
    mine.mkdir()
    other.mkdir()
    maps = []
    for folder in (mine, other):
        path = folder / "seg.bin"
        path.write_bytes(b"x" * (4 << 20))
        with path.open("rb") as fh:
            m = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        sum(m[i] for i in range(0, len(m), 4096))  # fault every page in
        maps.append((str(path), m))
    before = [mapped_rss_kb(p) for p, _m in maps]
    assert min(before) >= 4000
    assert release.page_out(mine) == 1
    after = [mapped_rss_kb(p) for p, _m in maps]
    assert after[0] < before[0] // 4 and after[1] == before[1]
    assert maps[0][1][:1] == b"x"  # a hint, not a loss: the data reads back
    for _p, m in maps:
        m.close()


def test_an_idle_daemon_releases_once_more_per_quiet_spell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The release a burst asked for runs right after it, while closed connections' threads
    may still hold memory; the idle check releases once more when nobody has waited for
    ``IDLE_S``, and only once until the next request."""
    monkeypatch.setattr(release, "IDLE_S", 1.0)  # above a full collection of this process
    real = release.release_memory
    calls: list[float] = []

    def counting() -> None:
        calls.append(time.monotonic())
        real()

    monkeypatch.setattr(release, "release_memory", counting)
    release.activity.begin()
    release.activity.end()
    release.release_memory()  # the burst's own release, right after it
    assert not release.release_if_idle()  # not idle long enough yet
    time.sleep(1.1)
    assert release.release_if_idle() and len(calls) == 2
    assert not release.release_if_idle()  # once per quiet spell
    time.sleep(1.1)
    assert not release.release_if_idle() and len(calls) == 2
    release.activity.begin()
    assert not release.release_if_idle()  # a request runs
    release.activity.end()
    time.sleep(1.1)
    assert release.release_if_idle() and len(calls) == 3


STRANDED_SCRIPT = """
import ctypes
from tsr_lsp import release
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
blocks, survivors = [], []
for _ in range(5000):  # 5,000 x 4,000 bytes: ~20 MB of pages, each touched
    block = libc.malloc(4000)
    ctypes.memset(block, 1, 4000)
    blocks.append(block)
    survivors.append(libc.malloc(32))
libc.malloc_trim(0)
in_use = release.stranded_mb()
for block in blocks:
    libc.free(block)
libc.malloc_trim(0)
print(in_use, release.stranded_mb())
"""


def test_stranded_memory_counts_the_pages_free_chunks_pin() -> None:
    """Blocks of just under a page freed between small survivors: ``malloc_trim`` cannot
    return their pages (each free chunk keeps its first and last), and ``stranded_mb``
    shows them, while in use they counted as malloc's. In a fresh process with the daemon's
    allocator: this one's heap is full of free chunks the blocks would be carved from."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONMALLOC": "malloc"}
    out = subprocess.run(
        [sys.executable, "-c", STRANDED_SCRIPT], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    in_use, pinned = map(float, out.stdout.split())
    assert pinned - in_use > 12, (in_use, pinned)


def test_arena_residency_counts_the_heaps_not_mapped_blocks_or_files() -> None:
    smaps = [
        "5652942150-5652962150 rw-p 00000000 00:00 0                  [heap]",
        "Size:              32768 kB",
        "Rss:                4000 kB",
        "7f63e0000000-7f63e3b35000 rw-p 00000000 00:00 0 ",  # a thread arena's heap
        "Rss:                 300 kB",
        "7f63e3b35000-7f63e4000000 ---p 00000000 00:00 0 ",  # its reserved rest
        "Rss:                   0 kB",
        "7f63e5400000-7f63e9400000 rw-p 00000000 00:00 0 ",  # a block mapped on its own
        "Rss:               20000 kB",
        "7f63f0000000-7f63f1000000 r--p 00000000 08:01 42   /models/coder.gguf",
        "Rss:               50000 kB",
        "7f6400000000-7f6400100000 rw-p 00000000 08:01 43   /data/vectors.bin",
        "Rss:                 700 kB",
    ]
    assert release.arena_rss_kb(smaps) == 4300
