"""The append-only journal of memory changes: what the index is rebuilt from.

The Tantivy index is a derived view; the journal is the record of every acknowledged change.
One record a line, ``b"%08x %s\\n" % (crc32(json), json)``:

    {"op": "head", "gen": "<random>", "v": 1}   first line of every journal file
    {"op": "put", "ep": {...}}                  an episode stored or replaced (same id)
    {"op": "del", "ids": [...]}                 episodes forgotten or evicted
    {"op": "del", "project": "/p"}              every episode of a project
    {"op": "clear"}                             everything
    {"op": "pat", "eps": [...]}                 the whole set of patterns, replaced

A change is appended and fsync'd *before* the index is written, so an acknowledged episode
survives the loss of the index. A line whose checksum fails costs only that change; a torn
last line (a crash mid-append) was never acknowledged and is cut off before the next append.
``journal.pos`` says up to where the index holds the journal (written after each commit,
checksummed); later records are replayed on open, which is safe because every record is
idempotent. Forget and compaction rewrite the journal (new ``gen``), so forgotten text leaves
the disk here too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsr_lsp.paths import private_file

log = logging.getLogger(__name__)

VERSION = 1
NAME = "journal.log"
POS_NAME = "journal.pos"


def encode(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def encode_put(payload: bytes) -> bytes:
    """The line of a put record from an episode's JSON payload (already encoded once for
    the index: ingest encodes each episode once)."""
    body = b'{"op":"put","ep":%s}' % payload
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode(line: bytes) -> dict[str, Any] | None:
    """The record of one line (without its newline), or None when it is damaged."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("op"), str) else None


@dataclass
class Fold:
    """The state a journal describes: live episodes (raw payloads by id) and patterns."""

    episodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    patterns: list[dict[str, Any]] = field(default_factory=list)
    gen: str = ""
    records: int = 0
    damaged: list[int] = field(default_factory=list)  # line numbers that failed their check
    torn: bool = False  # the last line was cut short (a crash mid-append)
    end: int = 0  # byte offset after the last complete line

    def apply(self, record: dict[str, Any]) -> None:
        """One record; unknown or malformed records are counted as damage by the caller."""
        op = record["op"]
        if op == "put":
            ep = record["ep"]
            self.episodes[str(ep["id"])] = ep
        elif op == "del":
            if "project" in record:
                project = record["project"]
                for key in [k for k, e in self.episodes.items() if e.get("project") == project]:
                    del self.episodes[key]
            for key in record.get("ids") or ():
                self.episodes.pop(str(key), None)
        elif op == "clear":
            self.episodes.clear()
            self.patterns = []
        elif op == "pat":
            self.patterns = list(record["eps"])
        elif op == "head":
            self.gen = str(record.get("gen", ""))
        else:
            raise ValueError(op)


def scan(data: bytes, start: int = 0) -> Iterator[tuple[int, int, dict[str, Any] | None]]:
    """(line number, byte offset after the line, record or None if damaged) for each
    complete line from ``start``; a trailing line without newline is not yielded."""
    pos, number = start, 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return
        number += 1
        yield number, nl + 1, decode(data[pos:nl])
        pos = nl + 1


def fold(data: bytes) -> Fold:
    out = Fold()
    for number, end, record in scan(data):
        out.end = end
        if record is None:
            out.damaged.append(number)
            continue
        try:
            out.apply(record)
        except (KeyError, TypeError, ValueError, AttributeError):
            out.damaged.append(number)
            continue
        out.records += 1
    out.torn = out.end < len(data)
    return out


class Journal:
    """The journal file of one memory directory (only the index's writer appends)."""

    def __init__(self, root: Path):
        self.path = root / NAME
        self.pos_path = root / POS_NAME
        self._fh: Any = None
        self._lock = threading.Lock()
        self._check_tail = True
        self.appended = 0  # records since the last rewrite (from journal.pos, then counted)

    def exists(self) -> bool:
        return self.path.is_file()

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read(self) -> bytes:
        return self.path.read_bytes() if self.exists() else b""

    def fold(self) -> Fold:
        return fold(self.read())

    def gen(self) -> str:
        """The generation named by the first line ("" when missing or damaged)."""
        try:
            with self.path.open("rb") as fh:
                record = decode(fh.readline().rstrip(b"\n"))
        except OSError:
            return ""
        return str(record.get("gen", "")) if record and record["op"] == "head" else ""

    # ------------------------------------------------------------------ writing
    def _open(self) -> Any:
        if self._fh is None or self._check_tail:
            self.close()
            if self._check_tail and self.exists():
                self._cut_torn_tail()
            self._fh = private_file(self.path, "ab")
            self._check_tail = False
        return self._fh

    def _cut_torn_tail(self) -> None:
        """A crash mid-append leaves a line without newline: cut it so the next record
        starts on its own line (that change was never acknowledged)."""
        size = self.size()
        if not size:
            return
        with self.path.open("rb+") as fh:
            back = min(size, 1 << 20)
            fh.seek(size - back)
            tail = fh.read(back)
            if tail.endswith(b"\n"):
                return
            nl = tail.rfind(b"\n")
            keep = size - back + nl + 1 if nl >= 0 else 0
            fh.truncate(keep)
            log.warning("memory: cut a torn journal line (%d bytes)", size - keep)

    def append(self, records: Iterable[dict[str, Any] | bytes]) -> None:
        """Append records (dicts, or lines from `encode_put`) and fsync; raises OSError
        when it could not (then nothing was acknowledged)."""
        with self._lock:
            fh = self._open()
            n = 0
            try:
                if fh.tell() == 0:
                    fh.write(encode(self._head()))
                for record in records:  # line by line: no second copy of a big batch
                    fh.write(record if isinstance(record, bytes) else encode(record))
                    n += 1
                if not n:
                    return
                fh.flush()
                os.fsync(fh.fileno())
            except BaseException:
                self._check_tail = True  # a partial line may be on disk
                raise
            self.appended += n

    @staticmethod
    def _head() -> dict[str, Any]:
        return {"op": "head", "gen": uuid.uuid4().hex, "v": VERSION}

    def rewrite(self, episodes: Iterable[dict[str, Any]], patterns: list[dict[str, Any]]) -> None:
        """Replace the journal by the given state (forget, compaction): a new generation,
        written aside, fsync'd, then renamed over the old file."""
        tmp = self.path.with_name(NAME + ".new")
        with self._lock:
            self.close()
            with private_file(tmp, "wb") as fh:
                fh.write(encode(self._head()))
                n = 0
                for ep in episodes:
                    fh.write(encode({"op": "put", "ep": ep}))
                    n += 1
                if patterns:
                    fh.write(encode({"op": "pat", "eps": patterns}))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            self.appended = n
            self._check_tail = False

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError as exc:
                log.warning("memory: closing the journal: %s", exc)
            self._fh = None

    # ------------------------------------------------------------------ position
    def read_pos(self) -> tuple[str, int, int] | None:
        """(generation, byte offset, documents) of what the index holds (documents -1 when
        not recorded), or None when unknown."""
        try:
            raw = self.pos_path.read_bytes()
        except OSError:
            return None
        record = decode(raw.rstrip(b"\n"))
        if record is None or record.get("op") != "pos":
            return None
        try:
            self.appended = int(record.get("records", 0))
            return str(record["gen"]), int(record["offset"]), int(record.get("docs", -1))
        except (KeyError, TypeError, ValueError):
            return None

    def write_pos(self, docs: int = -1) -> None:
        """Record that the index holds the journal up to its end, in ``docs`` documents
        (a different count on open means the index lost or regained some: reconciled)."""
        record = {
            "op": "pos",
            "gen": self.gen(),
            "offset": self.size(),
            "records": self.appended,
            "docs": docs,
        }
        tmp = self.pos_path.with_name(POS_NAME + ".tmp")
        with private_file(tmp, "wb") as fh:
            fh.write(encode(record))
        os.replace(tmp, self.pos_path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
