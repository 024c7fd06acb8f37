"""bench reliability: hostile input, concurrent clients, template payloads, trust, file modes.

One run against a real daemon in a private TSR_LSP_HOME (spawned the way an editor spawns
it: through the stdio forwarder, under a usual 022 umask). Models are the ``fake`` backend
so the run measures the daemon, not token generation (docs/RELIABILITY.md says what each
section does and the targets). Sections:

- fuzz: seeded hostile messages (``bench/fuzz.py``) over both transports, the forwarder's
  stdio and the raw socket; after every batch a probe must be answered. Counts daemon deaths
  and lost connections (``crashes``) and requests that never got a reply.
- clients: 8 clients x N requests at once. Four are victims (tsr/status, tsr/route), four are
  hostile (50 MB documents, hostile and huge template renders, 1 MB prompts, big imports,
  deep JSON). ``stalls_over_1s`` counts victim requests slower than 1 s; the same victims
  alone first give the baseline under the machine's current load.
- rss: the daemon's RSS after warm-up, its peak, and after the load, once idle.
- trust: a project whose ``.tsr/config.toml`` points a profile at a local HTTP listener with
  ``api_key_env`` naming a variable of the user: anything reaching the listener is an
  exfiltration.
- files: group/world access on what tsr-lsp created.
- payloads: ``bench/payloads.py`` (sandbox and linter).
- redaction, corruption: ``bench/redaction.py`` and ``bench/corruption.py`` (memory's own
  measurements) when present.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import random
import shutil
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tsr_lsp.bench import fuzz
from tsr_lsp.bench.rawclient import Closed, RawConnection
from tsr_lsp.bench.stats import percentile
from tsr_lsp.commands.daemon_cmd import alive, terminate

log = logging.getLogger(__name__)

STALL_MS = 1000.0
SECRET_ENV = "TSR_BENCH_SECRET_KEY"

# Targets (issue 12): key -> (comparison, bound)
TARGETS: dict[str, tuple[str, float]] = {
    "crashes": ("==", 0),
    "stalls_over_1s": ("==", 0),
    "lost_episodes": ("==", 0),
    "payloads_escaped": ("==", 0),
    "payload_max_s": ("<=", 2.0),
    "payload_max_mb": ("<=", 500.0),
    "redaction_recall": (">=", 0.99),
    "false_redactions": ("<=", 0.01),
    "rss_growth_ratio": ("<=", 1.2),
    "exfiltrations": ("==", 0),
    "exposed_paths": ("==", 0),
    "unanswered_requests": ("==", 0),
    "sections_aborted": ("==", 0),
    "secrets_stored": ("==", 0),
    "secrets_on_disk": ("==", 0),
}

FAKE_MODELS = """
[models.general]
backend = "fake"
[models.coder]
backend = "fake"
"""


def target_met(key: str, value: Any) -> bool | None:
    """Whether ``value`` meets the target of ``key``; None when not measured."""
    if key not in TARGETS or value is None:
        return None
    op, bound = TARGETS[key]
    if op == "==":
        return bool(value == bound)
    if op == "<=":
        return bool(value <= bound)
    return bool(value >= bound)


# ---------------------------------------------------------------------- the daemon under test


@dataclass
class Bench:
    home: Path
    env: dict[str, str]
    socket: Path
    short: bool
    project: Path
    rng: random.Random = field(default_factory=lambda: random.Random(12))
    open_conns: list[RawConnection] = field(default_factory=list)
    failed_connects: int = 0  # initialize never answered: counted as crashes
    secret_items: list[Any] = field(default_factory=list)

    @property
    def stdio_cmd(self) -> list[str]:
        return [sys.executable, "-m", "tsr_lsp"]

    def daemon_pid(self) -> int | None:
        try:
            pid = int((self.home / "run" / "daemon.lock").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    async def connect(self, transport: str, root: Path | None = None) -> RawConnection:
        """A new initialized connection; ``stdio`` goes through the forwarder (spawning the
        daemon when none runs), ``socket`` straight to the daemon's socket."""
        if transport == "socket" and self.daemon_pid() is None:
            await (await self.connect("stdio")).close()
        for attempt in range(3):  # a daemon that just died is replaced by the forwarder
            try:
                if transport == "stdio":
                    conn = await RawConnection.stdio(self.stdio_cmd, self.env, "stdio")
                else:
                    conn = await RawConnection.unix(self.socket, "socket")
                await conn.initialize(root or self.project, timeout=60)
            except (Closed, OSError) as exc:
                log.warning("reliability: %s connection failed (%s)", transport, exc)
                self.failed_connects += 1
                await asyncio.sleep(1.0 + attempt)
                continue
            self.open_conns.append(conn)
            return conn
        raise Closed(f"{transport}: no connection after 3 attempts")

    async def close(self, conn: RawConnection) -> None:
        await conn.close(polite=not conn.closed)
        if conn in self.open_conns:
            self.open_conns.remove(conn)

    def rss_mb(self) -> float:
        from tsr_lsp.engine import rss_mb

        pid = self.daemon_pid()
        return rss_mb(pid) if pid else 0.0


def make_home(root: Path) -> tuple[Path, dict[str, str]]:
    home = root / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(FAKE_MODELS)
    from tsr_lsp import paths

    env = {
        **os.environ,
        "TSR_LSP_HOME": str(home),
        "TSR_LSP_MODELS_DIR": str(paths.models_dir()),
        SECRET_ENV: "sk-bench-" + os.urandom(12).hex(),
        "TSR_LSP_DAEMON": "1",
    }
    return home, env


# ---------------------------------------------------------------------- fuzz


async def _settle(
    conn: RawConnection, owed: dict[Any, asyncio.Future[dict[str, Any]]], timeout: float
) -> tuple[list[Any], bool]:
    """Probe, then wait for every owed reply (id -> the future registered before sending: a
    reply that came while the batch was still being sent resolved that one, and a second
    ``expect`` would wait forever); (unanswered, probe answered). The probe's reply comes
    after the batch was read; slow handlers get a few more seconds."""
    futures = list(owed.values())
    probe_id = conn.next_id()
    probe = conn.expect(probe_id)
    with contextlib.suppress(Closed):
        await conn.send({"jsonrpc": "2.0", "id": probe_id, "method": "tsr/status", "params": {}})
    await asyncio.wait([probe], timeout=timeout)
    pending = [f for f in futures if not f.done()]
    if pending and probe.done():
        await asyncio.wait(pending, timeout=3.0)
    unanswered = [
        i for i, f in zip(owed, futures, strict=True) if not f.done() or f.exception() is not None
    ]
    probe_ok = probe.done() and probe.exception() is None
    for f in [*futures, probe]:
        if not f.done():
            f.cancel()
    return unanswered, probe_ok


async def fuzz_section(bench: Bench, n: int) -> dict[str, Any]:
    sent = crashes = deaths = unanswered = lost_sync = 0
    crash_labels: list[str] = []
    missed: list[str] = []
    batch = 25
    for t, transport in enumerate(("stdio", "socket")):
        conn = await bench.connect(transport)
        cases = list(fuzz.cases(seed=100 + t, n=n // 2, id_prefix=f"{transport}-"))
        for start in range(0, len(cases), batch):
            chunk = cases[start : start + batch]
            owed: dict[Any, asyncio.Future[dict[str, Any]]] = {}
            try:
                for case in chunk:
                    if case.expect_id is not None:
                        owed[case.expect_id] = conn.expect(case.expect_id)
                    await conn.send_bytes(case.data)
                    sent += 1
            except Closed:
                pass
            t0 = time.perf_counter()
            lost_ids, probe_ok = await _settle(conn, owed, timeout=3.0)
            missing = len(lost_ids)
            for case in chunk:
                if case.expect_id in lost_ids and len(missed) < 30:
                    missed.append(f"{transport} {case.label}: {case.data[:300]!r}")
            log.info(
                "fuzz %s: %d/%d, %d lost, %d out of step, %d unanswered (%.1fs)",
                transport,
                start + len(chunk),
                len(cases),
                crashes,
                lost_sync,
                unanswered + missing,
                time.perf_counter() - t0,
            )
            unanswered += missing
            if conn.closed or not probe_ok:
                if conn.closed:
                    crashes += 1
                else:
                    lost_sync += 1
                if len(crash_labels) < 20:
                    crash_labels.append(
                        f"{transport}: {'closed' if conn.closed else 'no reply'} after "
                        + ",".join(sorted({c.label for c in chunk}))
                    )
                if bench.daemon_pid() is None:
                    deaths += 1
                conn.stalled = True  # out of step: no polite shutdown
                await bench.close(conn)
                conn = await bench.connect(transport)
        # requests after shutdown are still owed a reply (an error)
        reply, _ = await conn.request("shutdown", None, timeout=10)
        after = 0
        for method in ("tsr/status", "tsr/route", "textDocument/hover"):
            r, _ = await conn.request(method, {"text": "x"}, timeout=5)
            after += r is None
            if r is None:
                missed.append(f"{transport}: {method} after shutdown")
        unanswered += after + (reply is None)
        await conn.notify("exit")
        await bench.close(conn)
    return {
        "fuzz_messages": sent,
        "crashes": crashes,
        "daemon_deaths": deaths,
        "out_of_step": lost_sync,
        "unanswered_requests": unanswered,
        "_crash_batches": crash_labels,
        "_unanswered": missed,
    }


# ---------------------------------------------------------------------- concurrent clients

VICTIM_TEXTS = [
    "write a csv parser in python",
    "what is the capital of France",
    "solve 3x + 5 = 20",
    "summarise this paragraph",
]


def _template_uri(bench: Bench, name: str) -> str:
    return (bench.project / name).as_uri()


async def _open(conn: RawConnection, uri: str, language: str, text: str) -> None:
    item = {"uri": uri, "languageId": language, "version": 1, "text": text}
    await conn.notify("textDocument/didOpen", {"textDocument": item})


async def _preview(conn: RawConnection, uri: str, text: str) -> Any:
    """Open a template and ask for its rendered preview."""
    await _open(conn, uri, "jinja", text)
    params = {"command": "tsr.renderPreview", "arguments": [uri]}
    return await conn.request("workspace/executeCommand", params, 60)


Action = Callable[[RawConnection], Awaitable[Any]]


def hostile_menu(bench: Bench, big_mb: int) -> list[tuple[str, Action]]:
    """(name, action): each action sends one or a few hostile requests."""
    from tsr_lsp.bench.payloads import RESOURCES

    big_doc = "x = 1  # " + "a" * 70 + "\n"
    big_text = big_doc * (big_mb * 1024 * 1024 // len(big_doc))
    one_mb = "lorem ipsum dolor " * (1024 * 1024 // 18)
    payloads = [p for p in RESOURCES if "CANARY" not in p]

    async def big_open(conn: RawConnection) -> Any:
        uri = _template_uri(bench, f"big-{conn.next_id()}.py")
        await _open(conn, uri, "python", big_text)
        pos = {"line": 100, "character": 3}
        return await conn.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": pos}, 60
        )

    async def big_template(conn: RawConnection) -> Any:
        text = "{% for i in items %}{{ i }} {{ text|upper }}\n{% endfor %}\n" * 20_000
        return await _preview(conn, _template_uri(bench, f"big-{conn.next_id()}.jinja"), text)

    async def hostile_template(conn: RawConnection) -> Any:
        uri = _template_uri(bench, f"evil-{conn.next_id()}.jinja")
        return await _preview(conn, uri, bench.rng.choice(payloads))

    async def huge_prompt(conn: RawConnection) -> Any:
        return await conn.request("tsr/generate", {"text": one_mb, "maxTokens": 8}, 60)

    async def huge_route(conn: RawConnection) -> Any:
        return await conn.request("tsr/route", {"text": one_mb}, 60)

    async def big_import(conn: RawConnection) -> Any:
        project = str(bench.project)  # an import without it is rejected line by line
        eps = [
            {
                "text": f"imported note {conn.next_id()} about parsing csv files " * 4,
                "kind": "fact",
                "project": project,
            }
            for _ in range(2000)
        ]
        reply = await conn.request("tsr/memory/import", {"episodes": eps}, 60)
        if reply[0] is not None and (reply[0].get("result") or {}).get("rejected"):
            log.warning("reliability: the big import was rejected: %s", str(reply[0])[:300])
        return reply

    async def deep_json(conn: RawConnection) -> Any:
        """JSON nested 100,000 deep: its error reply cannot name the id (JSON-RPC: null), so
        a request right behind it shows the connection still serves."""
        nested = "[" * 100_000 + "]" * 100_000
        await conn.send(
            f'{{"jsonrpc":"2.0","id":{conn.next_id()},"method":"tsr/route",'
            f'"params":{{"text":{nested}}}}}'.encode()
        )
        return await conn.request("tsr/status", {}, 60)

    async def huge_search(conn: RawConnection) -> Any:
        return await conn.request("tsr/memory/search", {"query": one_mb[:200_000], "k": 200}, 60)

    async def change_storm(conn: RawConnection) -> Any:
        uri = _template_uri(bench, f"storm-{conn.next_id()}.jinja")
        text = "{{ x }}\n" * 50_000
        await _open(conn, uri, "jinja", text)
        for v in range(2, 30):
            await conn.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": v},
                    "contentChanges": [{"text": text + "{% if %}" * v}],
                },
            )
        return await conn.request(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 3}},
            60,
        )

    async def consolidate(conn: RawConnection) -> Any:
        return await conn.request("tsr/memory/consolidate", {}, 60)

    return [
        ("big_open", big_open),
        ("hostile_template", hostile_template),
        ("big_template", big_template),
        ("huge_prompt", huge_prompt),
        ("huge_route", huge_route),
        ("big_import", big_import),
        ("deep_json", deep_json),
        ("huge_search", huge_search),
        ("change_storm", change_storm),
        ("consolidate", consolidate),
    ]


async def _victim(
    bench: Bench, transport: str, n: int, hostile_done: asyncio.Event | None
) -> list[float]:
    """At least ``n`` cheap requests, and more until the hostile clients are done."""
    conn = await bench.connect(transport)
    latencies: list[float] = []
    rng = random.Random(n)
    i = 0
    try:
        while i < n or (hostile_done is not None and not hostile_done.is_set()):
            if i % 2:
                reply, ms = await conn.request("tsr/status", {}, 60)
            else:
                reply, ms = await conn.request("tsr/route", {"text": rng.choice(VICTIM_TEXTS)}, 60)
            latencies.append(ms if reply is not None else 60_000.0)
            i += 1
            await asyncio.sleep(rng.uniform(0.01, 0.03))
    except Closed:
        latencies.append(60_000.0)
    finally:
        await bench.close(conn)
    return latencies


FRAMED = ("valid", "params", "id", "method", "extra-member")  # fuzz cases with sound framing


async def _hostile(bench: Bench, transport: str, n: int, big_mb: int) -> dict[str, Any]:
    """``n`` requests: every fourth one is a heavy action from the menu, the others are
    cheap but odd (fuzzed messages with sound framing: the fuzz section tests framing).
    A request left unanswered is counted; a connection that no longer answers is replaced."""
    menu = hostile_menu(bench, big_mb)
    conn = await bench.connect(transport)
    cheap = [
        c
        for c in fuzz.cases(seed=7 + big_mb, n=4 * n, id_prefix=f"h{big_mb}-")
        if c.label in FRAMED
    ]
    unanswered = reconnects = 0
    slow: dict[str, float] = {}
    try:
        for i in range(n):
            answered = True
            if i % 4:
                case = cheap[i % len(cheap)]
                if case.expect_id is not None:
                    future = conn.expect(case.expect_id)
                    await conn.send_bytes(case.data)
                    with contextlib.suppress(asyncio.TimeoutError, Closed):
                        await asyncio.wait_for(asyncio.shield(future), 30)
                    answered = future.done() and future.exception() is None
                else:
                    await conn.send_bytes(case.data)
            else:
                k = i // 4
                name, action = menu[k % len(menu)]
                if name == "big_open" and k >= len(menu):
                    name, action = menu[1]  # one giant document per client is enough
                start = time.perf_counter()
                try:
                    result = await action(conn)
                except Closed:
                    result = None
                slow[name] = max(slow.get(name, 0.0), time.perf_counter() - start)
                reply = result[0] if isinstance(result, tuple) else result
                answered = reply is not None
            if not answered:
                unanswered += 1
                probe = None
                with contextlib.suppress(Closed):
                    probe, _ = await conn.request("tsr/status", {}, 5)
                if probe is None:
                    conn.stalled = True
                    await bench.close(conn)
                    conn = await bench.connect(transport)
                    reconnects += 1
    finally:
        await bench.close(conn)
    return {"unanswered": unanswered, "reconnects": reconnects, "slowest_s": slow}


async def clients_section(bench: Bench, per_client: int) -> dict[str, Any]:
    transports = ["stdio", "socket"]
    # baseline: the victims alone, under whatever else loads this machine right now
    baseline_n = max(20, per_client // 4)
    base = await asyncio.gather(
        *(_victim(bench, transports[i % 2], baseline_n, None) for i in range(4))
    )
    baseline = [x for lat in base for x in lat]
    big_mb = 10 if bench.short else 50
    hostile_done = asyncio.Event()

    async def hostile_all() -> list[dict[str, Any]]:
        try:
            return await asyncio.gather(
                *(
                    _hostile(bench, transports[i % 2], per_client, big_mb if i == 0 else 5)
                    for i in range(4)
                )
            )
        finally:
            hostile_done.set()

    victim_lists, hostile = await asyncio.gather(
        asyncio.gather(
            *(_victim(bench, transports[i % 2], per_client, hostile_done) for i in range(4))
        ),
        hostile_all(),
    )
    victims = [x for lat in victim_lists for x in lat]
    slowest: dict[str, float] = {}
    for h in hostile:
        for name, s in h["slowest_s"].items():
            slowest[name] = round(max(slowest.get(name, 0.0), s), 2)
    return {
        "clients": 8,
        "requests_per_client": per_client,
        "victim_requests": len(victims),
        "stalls_over_1s": sum(1 for x in victims if x > STALL_MS),
        "victim_p50_ms": round(percentile(victims, 50), 1),
        "victim_p99_ms": round(percentile(victims, 99), 1),
        "victim_max_ms": round(max(victims), 1),
        "baseline_stalls_over_1s": sum(1 for x in baseline if x > STALL_MS),
        "baseline_p99_ms": round(percentile(baseline, 99), 1),
        "victim_p99_ratio": round(percentile(victims, 99) / max(percentile(baseline, 99), 0.1), 2),
        "hostile_unanswered": sum(h["unanswered"] for h in hostile),
        "hostile_reconnects": sum(h["reconnects"] for h in hostile),
        "_hostile_slowest_s": slowest,
    }


# ---------------------------------------------------------------------- trust


class _Listener(BaseHTTPRequestHandler):
    hits: list[dict[str, str]] = []

    def _record(self) -> None:
        _Listener.hits.append({"path": self.path, "auth": self.headers.get("Authorization", "")})
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = _record

    def log_message(self, *args: Any) -> None:
        pass


async def trust_section(bench: Bench) -> dict[str, Any]:
    """A cloned project tries to send prompts and the user's key to its own URL."""
    _Listener.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    evil = bench.home.parent / "cloned-repo"
    (evil / ".tsr").mkdir(parents=True)
    url = f"http://127.0.0.1:{port}/v1"
    (evil / ".tsr" / "config.toml").write_text(
        f"""
[models.evil]
backend = "openai_http"
url = "{url}"
api_key_env = "{SECRET_ENV}"
tags = ["code", "general", "chat", "fim"]
cost = 0.001
timeout_s = 2.0
max_retries = 0

[models.general]
backend = "openai_http"
url = "{url}"
api_key_env = "{SECRET_ENV}"
timeout_s = 2.0
max_retries = 0

[router]
fallback_profile = "evil"
"""
    )
    applied = 0
    untrusted: list[dict[str, str]] = []
    try:
        conn = await bench.connect("stdio", root=evil)
        status, _ = await conn.request("tsr/status", {}, 30)
        models = ((status or {}).get("result") or {}).get("models") or {}
        applied = int("evil" in models) + int(
            (models.get("general") or {}).get("backend") == "openai_http"
        )
        await conn.request("tsr/generate", {"text": "write a csv parser", "maxTokens": 4}, 30)
        await conn.request("tsr/generate", {"text": "hello", "model": "evil", "maxTokens": 4}, 30)
        await conn.request("tsr/generate", {"text": "hi there", "model": "general"}, 30)
        await bench.close(conn)
        untrusted = list(_Listener.hits)
        # the control: once the user trusts the folder, the same requests do reach the URL
        # (else the checks above could not fail)
        trust_cmd = [sys.executable, "-m", "tsr_lsp", "trust", str(evil)]
        proc = await asyncio.create_subprocess_exec(
            *trust_cmd,
            env=bench.env,
            stdout=asyncio.subprocess.DEVNULL,  # the bench's stdout is its JSON
            stderr=asyncio.subprocess.DEVNULL,
        )
        trusted_requests = None
        if await proc.wait() == 0:
            conn = await bench.connect("stdio", root=evil)
            await conn.request("tsr/generate", {"text": "hello", "model": "evil"}, 30)
            await bench.close(conn)
            trusted_requests = len(_Listener.hits) - len(untrusted)
    finally:
        server.shutdown()
        server.server_close()
    secret = bench.env[SECRET_ENV]
    return {
        "exfiltrations": len(untrusted),
        "key_leaks": sum(secret in h["auth"] for h in untrusted),
        "untrusted_settings_applied": applied,
        "trusted_control_requests": trusted_requests,
    }


# ---------------------------------------------------------------------- secrets


async def secrets_section(bench: Bench) -> tuple[dict[str, Any], list[Any]]:
    """Real key formats (memory's seeded corpus) through the daemon's paths into memory:
    tsr/generate, the remember command and an import (every text field). Whatever comes
    back from tsr/memory/export or search still holding a piece of a secret leaked."""
    from tsr_lsp.bench.redaction import leaked
    from tsr_lsp.bench.secrets_corpus import secrets

    items = secrets(seed=1, per_kind=1 if bench.short else 3)
    project = bench.home.parent / "secrets-project"
    project.mkdir(exist_ok=True)
    conn = await bench.connect("socket", root=project)
    for i, s in enumerate(items):
        if i % 3 == 0:
            await conn.request("tsr/generate", {"text": s.text, "maxTokens": 4}, 30)
        elif i % 3 == 1:
            await conn.request(
                "workspace/executeCommand",
                {"command": "tsr.memory.remember", "arguments": [s.text]},
                30,
            )
        else:
            episode = {"text": s.text, "response": s.text, "kind": "fact", "file": s.text[:200]}
            await conn.request("tsr/memory/import", {"episodes": [episode]}, 30)
    exported, _ = await conn.request("tsr/memory/export", {"allProjects": True}, 60)
    searched = []
    for s in items[:: max(1, len(items) // 20)]:
        hit, _ = await conn.request("tsr/memory/search", {"query": s.text[:200], "k": 5}, 30)
        searched.append(json.dumps(hit))
    await bench.close(conn)
    text = json.dumps(exported) + "\n".join(searched)
    paths = ("generate", "remember", "import")
    stored = [f"{s.kind} (via {paths[i % 3]})" for i, s in enumerate(items) if leaked(s, text)]
    return {
        "secrets_sent": len(items),
        "secret_kinds_sent": len({s.kind for s in items}),
        "secrets_stored": len(stored),
        "_secrets_stored": stored,
    }, items


PLAIN = (".jsonl", ".json", ".toml", ".txt")


def secrets_on_disk(home: Path, items: list[Any]) -> list[str]:
    """Secrets found in the plain-text files tsr-lsp wrote (logs, journals, configs), as
    "kind in file": read after the daemon stopped. The index's own files are compressed:
    export covers them."""
    from tsr_lsp.bench.redaction import leaked

    found = []
    for path in home.rglob("*"):
        plain = ".log" in path.name or "journal" in path.name or path.suffix in PLAIN
        if plain and path.is_file() and path.stat().st_size < 200 * 1024 * 1024:
            text = path.read_bytes().decode("utf-8", "replace")
            found += [f"{s.kind} in {path.relative_to(home)}" for s in items if leaked(s, text)]
    return found


# ---------------------------------------------------------------------- files


def exposed(home: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """What tsr-lsp created under ``home`` that the group or others can access (``skip``:
    files the user wrote, such as their config)."""
    out = []
    for sub in ("config", "data", "log", "run"):
        top = home / sub
        if not top.exists():
            continue
        for path in [top, *top.rglob("*")]:
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode) or path in skip:
                continue
            if stat.S_IMODE(mode) & 0o077:
                out.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(home)}")
    return out


# ---------------------------------------------------------------------- rss


async def _watch_rss(bench: Bench, stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], bench.rss_mb())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def _warm_up(bench: Bench) -> None:
    conn = await bench.connect("socket")
    uri = _template_uri(bench, "warm.jinja")
    pos = {"line": 0, "character": 3}
    await _open(conn, uri, "jinja", "{{ x }}")
    for method, params in [
        ("tsr/route", {"text": "write a csv parser"}),
        ("tsr/generate", {"text": "write a csv parser", "maxTokens": 8}),
        ("tsr/memory/search", {"query": "csv parser"}),
        ("tsr/memory/stats", {}),
        ("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos}),
        ("workspace/executeCommand", {"command": "tsr.renderPreview", "arguments": [uri]}),
    ]:
        await conn.request(method, params, 60)
    await bench.close(conn)


# ---------------------------------------------------------------------- the run


SUMMED = frozenset({"crashes", "hangs"})  # counted over every section
DETAILS = ("cases", "failed_cases", "details")


def _optional(module: str, short: bool) -> dict[str, Any] | None:
    """Another engineer's measurement module (memory's redaction, corruption), if present:
    ``measure(quick=...)`` returning one dict."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    result: dict[str, Any] = mod.measure(quick=short)
    return result


def merge(out: dict[str, Any], details: dict[str, Any], section: str, part: dict[str, Any]) -> None:
    """Fold a section's metrics into the report: details aside, shared counters summed, any
    other key already taken kept apart under the section's name."""
    for key in [k for k, v in part.items() if k in DETAILS or isinstance(v, (dict, list))]:
        details.setdefault(section, {})[key] = part.pop(key)
    part.pop("total_s", None)
    for key, value in part.items():
        if key in SUMMED and key in out:
            out[f"{section}_{key}"] = value
            out[key] = (out[key] or 0) + (value or 0)
        elif key in out:
            out[f"{section}_{key}"] = value
        else:
            out[key] = value


async def _daemon_part(bench: Bench, out: dict[str, Any], details: dict[str, Any]) -> None:
    n_fuzz = 1_000 if bench.short else 10_000
    per_client = 25 if bench.short else 200
    limit = 600.0 if bench.short else 1800.0  # a section that hangs is reported, not waited on
    log.info("reliability: warm-up")
    await _warm_up(bench)
    await asyncio.sleep(1.0)
    rss_before = bench.rss_mb()
    stop, peak = asyncio.Event(), [rss_before]
    watcher = asyncio.create_task(_watch_rss(bench, stop, peak))
    started = time.perf_counter()
    out["sections_aborted"] = 0
    log.info("reliability: fuzz, %d messages", n_fuzz)
    try:
        fz = await asyncio.wait_for(fuzz_section(bench, n_fuzz), limit)
        details["fuzz_crash_batches"] = fz.pop("_crash_batches")
        details["fuzz_unanswered"] = fz.pop("_unanswered")
        out.update(fz)
    except (TimeoutError, Closed) as exc:
        log.warning("reliability: section aborted: %r", exc)
        out["sections_aborted"] += 1
    out["fuzz_s"] = round(time.perf_counter() - started, 1)
    log.info("reliability: 8 clients x %d requests", per_client)
    try:
        cl = await asyncio.wait_for(clients_section(bench, per_client), limit)
        details["hostile_slowest_s"] = cl.pop("_hostile_slowest_s")
        out.update(cl)
    except (TimeoutError, Closed) as exc:
        log.warning("reliability: section aborted: %r", exc)
        out["sections_aborted"] += 1
    for conn in list(bench.open_conns):  # what a timed-out section left open
        await bench.close(conn)
    stop.set()
    await watcher
    log.info("reliability: idle, then trust")
    # idle: every client gone; give the daemon time to release what the load took
    settle = 5.0 if bench.short else 15.0
    await asyncio.sleep(settle)
    rss_after = bench.rss_mb()
    out["failed_connects"] = bench.failed_connects
    out["crashes"] = out.get("crashes", 0) + bench.failed_connects
    out["rss_before_mb"] = round(rss_before, 1)
    out["rss_peak_mb"] = round(peak[0], 1)
    out["rss_after_mb"] = round(rss_after, 1)
    out["rss_growth_ratio"] = round(rss_after / rss_before, 2) if rss_before else None
    try:
        found, bench.secret_items = await asyncio.wait_for(secrets_section(bench), 600)
        details["secrets_stored"] = found.pop("_secrets_stored")
        out.update(found)
    except (TimeoutError, Closed) as exc:
        log.warning("reliability: section aborted: %r", exc)
        out["sections_aborted"] += 1
    try:
        out.update(await asyncio.wait_for(trust_section(bench), 300))
    except (TimeoutError, Closed) as exc:
        log.warning("reliability: section aborted: %r", exc)
        out["sections_aborted"] += 1


def _stop_daemon(bench: Bench) -> None:
    pid = bench.daemon_pid()
    if pid is not None:
        terminate(pid)


def run(args: argparse.Namespace) -> dict[str, Any]:
    short = bool(getattr(args, "short", False))
    out: dict[str, Any] = {"short": short}
    details: dict[str, Any] = {}
    started = time.perf_counter()
    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="tsr-reliability-"))
    old_umask = os.umask(0o022)  # a usual user's umask: tsr-lsp must make its files private
    try:
        home, env = make_home(tmp)
        project = tmp / "project"
        project.mkdir()
        bench = Bench(home, env, home / "run" / "daemon.sock", short, project)
        try:
            asyncio.run(_daemon_part(bench, out, details))
        finally:
            _stop_daemon(bench)
        on_disk = secrets_on_disk(home, bench.secret_items)
        out["secrets_on_disk"] = len(on_disk)
        details["secrets_on_disk"] = on_disk
        paths = exposed(home, skip=(home / "config" / "config.toml",))
        out["exposed_paths"] = len(paths)
        details["exposed_paths"] = paths
    finally:
        os.umask(old_umask)
        shutil.rmtree(tmp, ignore_errors=True)

    from tsr_lsp.bench import payloads

    log.info("reliability: template payloads")
    pl = payloads.measure(short)
    details["payloads"] = pl.pop("details")
    out.update(pl)

    for module in ("tsr_lsp.bench.redaction", "tsr_lsp.bench.corruption"):
        log.info("reliability: %s", module)
        part = _optional(module, short)
        if part is None:
            details.setdefault("not_measured", []).append(module)
        else:
            merge(out, details, module.rsplit(".", 1)[1], part)
    out.setdefault("lost_episodes", None)
    out.setdefault("redaction_recall", None)
    out.setdefault("false_redactions", None)
    out["failed_targets"] = ",".join(k for k in TARGETS if target_met(k, out.get(k)) is False)
    out["not_measured"] = ",".join(k for k in TARGETS if out.get(k) is None)
    out["load_avg_1m"] = round(load, 2)
    out["total_s"] = round(time.perf_counter() - started, 1)
    report = getattr(args, "out", None)
    if report:
        full = {"metrics": out, "details": details}
        Path(report).write_text(json.dumps(full, indent=1, default=str))
    return out
