"""`tsr-lsp bench corruption`: what damage and crashes cost memory (docs/MEMORY.md).

Two measurements through the store the daemon uses (`MemoryService`), each probe in its own
process so a hang or an abort counts instead of taking the benchmark down:

- **Corruption matrix**: a store of acknowledged episodes is damaged on disk in one of
  `MODES` (segment files, meta.json, .managed.json, STORE.json, vectors, journal, lock
  files, leftovers) or by random bit flips in the index; then a fresh process does what the
  daemon would (open, prompt memory, search, record, history, consolidate, export, stats),
  restarts and exports again. Lost = acknowledged episodes missing after the restart.
- **kill -9 during ingest**: a writer process adds episodes (and compacts now and then)
  and prints each id once `add` returned; it is killed at a random moment, restarted,
  killed again ... Lost = acknowledged ids missing at the end.

`measure(quick)` returns one dict (the keys `bench reliability` aggregates); `quick` is the
short CI version (fewer kills, fewer random flips, a smaller store).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROBE_TIMEOUT_S = 120.0
PROJECT = "/bench/project"
WORDS = [
    "csv",
    "parser",
    "quoted",
    "fields",
    "header",
    "rows",
    "encoding",
    "utf8",
    "delimiter",
    "stream",
    "chunk",
    "json",
    "schema",
    "retry",
    "backoff",
    "timeout",
    "socket",
    "server",
    "client",
    "cache",
    "eviction",
    "index",
    "query",
    "latency",
    "thread",
    "pool",
    "queue",
    "worker",
    "lock",
    "mutex",
    "async",
    "await",
    "future",
    "promise",
    "render",
]


# ---------------------------------------------------------------------- the store
def _settings(folder: Path, embeddings: str = "off") -> Any:
    from tsr_lsp.config import Settings

    settings = Settings()
    settings.memory.dir = str(folder)
    settings.memory.embeddings = embeddings
    settings.memory.consolidate_delay_s = 3600.0
    return settings


def _episode(rng: random.Random, i: int) -> dict[str, Any]:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
    ep: dict[str, Any] = {"project": PROJECT, "text": f"{text} (item {i})"}
    if i % 5 == 0:
        ep.update(kind="turn", thread=f"s{i // 40}", seq=i, speaker="Ann" if i % 2 else "Bob")
    if i % 3 == 0:
        ep.update(
            category="code",
            model="coder",
            temperature=rng.choice([0.2, 0.7]),
            cot_steps=1,
            outcome=rng.choice(["accepted", "rejected", "edited"]),
        )
    return ep


def build(folder: Path, n: int, seed: int, embeddings: str = "off") -> list[str]:
    """A store of ``n`` acknowledged episodes in batches of 20 (several segments), with
    turns in threads and rated interactions (so consolidation has patterns to build)."""
    from tsr_lsp.memory.service import MemoryService

    rng = random.Random(seed)
    service = MemoryService(_settings(folder, embeddings))
    records = [_episode(rng, i) for i in range(n)]
    for i in range(0, n, 20):
        service.import_(records[i : i + 20])
    service.consolidate()
    ids = [ep["id"] for ep in service.export(PROJECT)]
    if service.store.dense is not None:
        service.store.dense.wait(60)
    service.close()
    return ids


# ---------------------------------------------------------------------- damage
def _files(folder: Path, suffix: str) -> list[Path]:
    return sorted(p for p in (folder / "index").glob(f"*{suffix}") if p.is_file())


def _largest(folder: Path, suffix: str) -> Path:
    return max(_files(folder, suffix), key=lambda p: p.stat().st_size)


def flip(path: Path, rng: random.Random, bits: int = 8, start: int = 0) -> None:
    data = bytearray(path.read_bytes())
    if len(data) <= start:
        return
    for _ in range(bits):
        i = rng.randrange(start, len(data))
        data[i] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def garbage(path: Path, rng: random.Random) -> None:
    path.write_bytes(rng.randbytes(max(16, path.stat().st_size)))


def replace_by_dir(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.mkdir()
    (path / "x").write_text("x")


def replace_by_file(path: Path) -> None:
    shutil.rmtree(path)
    path.write_text("x")


def _journal_middle(folder: Path, rng: random.Random) -> None:
    path = folder / "journal.log"
    data = path.read_bytes()
    lines = data.split(b"\n")
    i = rng.randrange(1, max(2, len(lines) - 2))
    line = bytearray(lines[i])
    if len(line) > 20:
        line[rng.randrange(10, len(line))] ^= 0x10
    lines[i] = bytes(line)
    path.write_bytes(b"\n".join(lines))


def _segment_deleted(folder: Path) -> None:
    seg = _largest(folder, ".store").stem
    for p in (folder / "index").glob(f"{seg}.*"):
        p.unlink()


def _stale_rebuild(folder: Path, rng: random.Random) -> None:
    new = folder / "index.new"
    new.mkdir()
    (new / "meta.json").write_bytes(rng.randbytes(64))
    (new / "READY").write_text("1")


def _vectors(folder: Path) -> Path:
    found = sorted(folder.glob("vectors-*.i8"))
    if not found:
        raise FileNotFoundError("no vector file (the static encoder is not built)")
    return found[0]


Damage = Callable[[Path, random.Random], object]


def _each(files: list[Path], fn: Callable[[Path], object]) -> None:
    for path in files:
        fn(path)


MODES: dict[str, Damage] = {
    "meta.json deleted": lambda f, r: (f / "index" / "meta.json").unlink(),
    "meta.json truncated": lambda f, r: truncate(f / "index" / "meta.json"),
    "meta.json garbage": lambda f, r: garbage(f / "index" / "meta.json", r),
    "meta.json bit flips": lambda f, r: flip(f / "index" / "meta.json", r),
    "meta.json empty": lambda f, r: (f / "index" / "meta.json").write_bytes(b""),
    ".managed.json garbage": lambda f, r: garbage(f / "index" / ".managed.json", r),
    ".managed.json deleted": lambda f, r: (f / "index" / ".managed.json").unlink(),
    "store file truncated": lambda f, r: truncate(_largest(f, ".store")),
    "store file bit flips": lambda f, r: flip(_largest(f, ".store"), r, 16),
    "idx file truncated": lambda f, r: truncate(_largest(f, ".idx")),
    "idx file garbage": lambda f, r: garbage(_largest(f, ".idx"), r),
    "term file truncated": lambda f, r: truncate(_largest(f, ".term")),
    "term file bit flips": lambda f, r: flip(_largest(f, ".term"), r, 16),
    "pos file garbage": lambda f, r: garbage(_largest(f, ".pos"), r),
    "fast file truncated": lambda f, r: truncate(_largest(f, ".fast")),
    "fast file bit flips": lambda f, r: flip(_largest(f, ".fast"), r, 16),
    "fieldnorm file garbage": lambda f, r: garbage(_largest(f, ".fieldnorm"), r),
    "deletion bitset bit flips": lambda f, r: flip(_largest(f, ".del"), r, 8, start=8),
    "segment file deleted": lambda f, r: _largest(f, ".store").unlink(),
    "whole segment deleted": lambda f, r: _segment_deleted(f),
    "every store file bit flips": lambda f, r: _each(_files(f, ".store"), lambda p: flip(p, r, 4)),
    "every file zero length": lambda f, r: _each(
        [p for p in (f / "index").iterdir() if p.is_file()], lambda p: p.write_bytes(b"")
    ),
    "index folder deleted": lambda f, r: shutil.rmtree(f / "index"),
    "index folder is a file": lambda f, r: replace_by_file(f / "index"),
    "writer lock garbage": lambda f, r: garbage(f / "index" / ".tantivy-writer.lock", r),
    "stale rebuild marked READY": _stale_rebuild,
    "STORE.json deleted": lambda f, r: (f / "STORE.json").unlink(),
    "STORE.json garbage": lambda f, r: garbage(f / "STORE.json", r),
    "STORE.json bit flips": lambda f, r: flip(f / "STORE.json", r, 4),
    "STORE.json newer schema": lambda f, r: (f / "STORE.json").write_text(
        (f / "STORE.json").read_text().replace('"schema_version": 1', '"schema_version": 7')
    ),
    "vectors truncated mid-record": lambda f, r: truncate(_vectors(f), 0.37),
    "vectors bit flips": lambda f, r: flip(_vectors(f), r, 64),
    "vectors garbage": lambda f, r: garbage(_vectors(f), r),
    "vectors replaced by a folder": lambda f, r: replace_by_dir(_vectors(f)),
    "journal torn last line": lambda f, r: (f / "journal.log").write_bytes(
        (f / "journal.log").read_bytes() + b'0badc0de {"op":"put","ep":{"id":"x'
    ),
    "journal line bit flip": _journal_middle,
    "journal deleted": lambda f, r: (f / "journal.log").unlink(),
    "journal.pos garbage": lambda f, r: garbage(f / "journal.pos", r),
    "journal.pos deleted": lambda f, r: (f / "journal.pos").unlink(),
}
VECTOR_MODES = {m for m in MODES if m.startswith("vectors")}


def random_flips(folder: Path, rng: random.Random) -> None:
    """1-16 random bit flips in random files of the index (what a bad disk does)."""
    files = [p for p in (folder / "index").iterdir() if p.is_file() and p.stat().st_size]
    for _ in range(rng.randint(1, 16)):
        flip(rng.choice(files), rng, 1)


# ---------------------------------------------------------------------- probe (a child)
def _probe(folder: Path, embeddings: str) -> dict[str, Any]:
    """What a daemon does with this store after a restart, twice. Every request is
    answered, with a result or a clear error; nothing may escape (a panic would)."""
    from tsr_lsp.memory.service import MemoryService
    from tsr_lsp.memory.store import MemoryError

    out: dict[str, Any] = {"escaped": [], "unclear": [], "errors": [], "notices": []}

    def attempt(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (MemoryError, ValueError, KeyError, OSError) as exc:
            out["errors"].append(f"{name}: {exc}"[:300])
        except Exception as exc:  # answered, but not with an error a user can act on
            out["unclear"].append(f"{name}: {type(exc).__name__}: {exc}"[:300])
        except BaseException as exc:  # would escape a request handler
            out["escaped"].append(f"{name}: {type(exc).__name__}: {exc}"[:300])
        return None

    def requests(service: MemoryService, first: bool) -> set[str]:
        attempt("open", lambda: service.store)
        attempt("prompt memory", lambda: service.prompt_memory(PROJECT, "csv parser", "code"))
        attempt("search", lambda: service.search("csv parser quoted", PROJECT, 5))
        if first:
            attempt("record", lambda: service.remember(PROJECT, "a fact stored after the damage"))
        attempt("history", lambda: service.history(PROJECT))
        attempt("consolidate", service.consolidate)
        exported = attempt("export", lambda: service.export(None)) or []
        stats = attempt("stats", service.stats) or {}
        out["notices"] += [str(n)[:200] for n in stats.get("notices", [])]
        attempt("close", service.close)
        return {e["id"] for e in exported}

    requests(MemoryService(_settings(folder, embeddings)), True)
    out["ids"] = sorted(requests(MemoryService(_settings(folder, embeddings)), False))
    return out


def _run_probe(folder: Path, embeddings: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "tsr_lsp.bench.corruption", "probe", str(folder), embeddings]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, env=_child_env(folder)
        )
    except subprocess.TimeoutExpired:
        return {"hung": True, "seconds": PROBE_TIMEOUT_S}
    seconds = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"crashed": proc.returncode, "stderr": proc.stderr[-500:], "seconds": seconds}
    result: dict[str, Any] = json.loads(lines[-1])
    result["seconds"] = seconds
    return result


def _child_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TSR_LSP_HOME"] = str(folder.parent / "home")
    env.setdefault("TSR_LSP_MODELS_DIR", str(_models_dir()))
    return env


def _models_dir() -> Path:
    from tsr_lsp import paths

    return paths.models_dir()


# ---------------------------------------------------------------------- kill -9
INGEST = "ingest"


def _ingest(folder: Path, start: int) -> None:
    """The writer killed by the benchmark: one episode per add (as tsr/generate records
    them), a batch now and then, a compaction every 40 adds; "ack ID" once acknowledged."""
    from tsr_lsp.memory.service import MemoryService
    from tsr_lsp.memory.validate import check_record

    service = MemoryService(_settings(folder))
    service.store  # noqa: B018 - open (and recover) before saying ready
    print("ready", flush=True)
    rng = random.Random(start)
    i = start
    while True:
        i += 1
        if i % 40 == 0:
            service.store.compact()
        batch = [
            check_record({**_episode(rng, i * 100 + j), "id": f"k{i * 100 + j}"})
            for j in range(10 if i % 7 == 0 else 1)
        ]
        acked = service.store.add(batch)
        print("".join(f"ack {key}\n" for key in acked), end="", flush=True)


def kill9(folder: Path, rounds: int, seed: int) -> dict[str, Any]:
    """``rounds`` writer processes killed with SIGKILL at random moments."""
    import signal

    rng = random.Random(seed)
    acked: set[str] = set()
    kills = 0
    for r in range(rounds):
        start = str(r * 10**6)
        cmd = [sys.executable, "-m", "tsr_lsp.bench.corruption", INGEST, str(folder), start]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=_child_env(folder)
        )
        lines: list[str] = []
        ready = threading.Event()

        def pump(
            p: subprocess.Popen[bytes] = proc,
            sink: list[str] = lines,
            ready: threading.Event = ready,
        ) -> None:
            assert p.stdout is not None
            for raw in p.stdout:
                line = raw.decode().strip()
                if line == "ready":
                    ready.set()
                sink.append(line)
            ready.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        ready.wait(60)
        time.sleep(rng.uniform(0.05, 1.2))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        reader.join(10)
        acked |= {ln[4:] for ln in lines if ln.startswith("ack ")}
    from tsr_lsp.memory.service import MemoryService

    service = MemoryService(_settings(folder))
    present = {e["id"] for e in service.export(None)}
    notices = list(service.store.notices)
    service.close()
    return {
        "kills": kills,
        "acknowledged": len(acked),
        "lost": len(acked - present),
        "notices": notices[-3:],
    }


# ---------------------------------------------------------------------- the matrix
def _encoder_ready() -> bool:
    from tsr_lsp.memory.static import encoder_dir, table_ready

    return table_ready(encoder_dir())


def measure(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """The corruption matrix and the kill -9 rounds; one dict of metrics."""
    n = 200 if quick else 820
    flips = 8 if quick else 40
    kills = 10 if quick else 50
    embeddings = "auto" if _encoder_ready() else "off"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tsr-bench-corruption-") as tmp:
        base = Path(tmp) / "template" / "memory"
        ids = set(build(base, n, seed, embeddings))
        skip = VECTOR_MODES if embeddings == "off" else set()
        cases: list[tuple[str, Damage]] = [(k, f) for k, f in MODES.items() if k not in skip]
        cases += [(f"random bit flips #{i}", random_flips) for i in range(flips)]
        results: dict[str, dict[str, Any]] = {}
        for i, (name, damage) in enumerate(cases):
            case = Path(tmp) / f"case{i}" / "memory"
            shutil.copytree(base, case)
            try:
                damage(case, random.Random(seed * 1000 + i))
            except (FileNotFoundError, ValueError):  # nothing of that kind in this store
                shutil.rmtree(case.parent, ignore_errors=True)
                continue
            got = _run_probe(case, embeddings)
            lost = len(ids - set(got.get("ids", [])))
            results[name] = {
                "lost": lost,
                "hung": bool(got.get("hung")),
                "crashed": got.get("crashed"),
                "escaped": len(got.get("escaped", [])),
                "unclear": len(got.get("unclear", [])),
                "errors": got.get("errors", [])[:3],
                "seconds": round(got.get("seconds", 0.0), 2),
                "notice": (got.get("notices") or [""])[0][:160],
            }
            shutil.rmtree(case.parent, ignore_errors=True)
        killed = kill9(Path(tmp) / "kill9" / "memory", kills, seed)
    bad = {
        name: r
        for name, r in results.items()
        if r["lost"] or r["hung"] or r["crashed"] is not None or r["escaped"] or r["unclear"]
    }
    return {
        "episodes": n,
        "corruption_modes": len([c for c in results if not c.startswith("random")]),
        "random_flip_cases": flips,
        "lost_episodes": sum(r["lost"] for r in results.values()) + killed["lost"],
        "corruption_lost_episodes": sum(r["lost"] for r in results.values()),
        "cases_with_loss": sum(1 for r in results.values() if r["lost"]),
        "crashes": sum(1 for r in results.values() if r["crashed"] is not None or r["escaped"]),
        "hangs": sum(1 for r in results.values() if r["hung"]),
        "unclear_errors": sum(r["unclear"] for r in results.values()),
        "cases_with_errors": sum(1 for r in results.values() if r["errors"]),
        "probe_max_ms": round(1000 * max(r["seconds"] for r in results.values()), 1),
        "kill9_rounds": killed["kills"],
        "kill9_acknowledged": killed["acknowledged"],
        "kill9_lost_episodes": killed["lost"],
        "embeddings": embeddings,
        "failed_cases": bad,
        "cases": results,
        "total_s": round(time.perf_counter() - started, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = measure(quick=bool(getattr(args, "quick", False)))
    if not args.json:  # the table: one line a case, then the totals
        for name, r in out.pop("cases").items():
            state = f"LOST {r['lost']}" if r["lost"] else "ok"
            print(f"{name:<32} {state:<8} {r['seconds']:>6.2f}s  {r['notice'][:70]}")
        out.pop("failed_cases")
    return out


def main(argv: list[str]) -> int:
    """Child entry points: ``probe DIR EMBEDDINGS`` and ``ingest DIR START``."""
    if argv[0] == "probe":
        print(json.dumps(_probe(Path(argv[1]), argv[2])), flush=True)
        return 0
    if argv[0] == INGEST:
        _ingest(Path(argv[1]), int(argv[2]))
        return 0
    return 2


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    raise SystemExit(main(sys.argv[1:]))
