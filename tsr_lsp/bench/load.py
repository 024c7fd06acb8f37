"""The load sections of `bench reliability`: seeded hostile messages over both transports
(fuzz) and 8 concurrent clients, four of them hostile (docs/RELIABILITY.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tsr_lsp.bench import fuzz
from tsr_lsp.bench.daemon_under_test import Bench
from tsr_lsp.bench.rawclient import Closed, RawConnection
from tsr_lsp.bench.stats import percentile
from tsr_lsp.bench.victims import STALL_MS, VictimProcess, run_victims

log = logging.getLogger(__name__)


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


def template_uri(bench: Bench, name: str) -> str:
    return (bench.project / name).as_uri()


async def open_document(conn: RawConnection, uri: str, language: str, text: str) -> None:
    item = {"uri": uri, "languageId": language, "version": 1, "text": text}
    await conn.notify("textDocument/didOpen", {"textDocument": item})


async def _preview(conn: RawConnection, uri: str, text: str) -> Any:
    """Open a template and ask for its rendered preview."""
    await open_document(conn, uri, "jinja", text)
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
        uri = template_uri(bench, f"big-{conn.next_id()}.py")
        await open_document(conn, uri, "python", big_text)
        pos = {"line": 100, "character": 3}
        return await conn.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": pos}, 60
        )

    async def big_template(conn: RawConnection) -> Any:
        text = "{% for i in items %}{{ i }} {{ text|upper }}\n{% endfor %}\n" * 20_000
        return await _preview(conn, template_uri(bench, f"big-{conn.next_id()}.jinja"), text)

    async def hostile_template(conn: RawConnection) -> Any:
        uri = template_uri(bench, f"evil-{conn.next_id()}.jinja")
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
        uri = template_uri(bench, f"storm-{conn.next_id()}.jinja")
        text = "{{ x }}\n" * 50_000
        await open_document(conn, uri, "jinja", text)
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
    spans: list[list[Any]] = []  # [name, wall-clock start, end] of each heavy action
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
                start, wall = time.perf_counter(), time.time()
                try:
                    result = await action(conn)
                except Closed:
                    result = None
                slow[name] = max(slow.get(name, 0.0), time.perf_counter() - start)
                spans.append([name, round(wall, 3), round(time.time(), 3)])
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
    return {"unanswered": unanswered, "reconnects": reconnects, "slowest_s": slow, "spans": spans}


async def clients_section(bench: Bench, per_client: int) -> dict[str, Any]:
    transports = ["stdio", "socket"]
    # baseline: the victims alone, under whatever else loads this machine right now
    baseline = await run_victims(bench, max(20, per_client // 4))
    big_mb = 10 if bench.short else 50

    # the victims run in their own process: big hostile replies parsed here must not delay
    # them (bench/victims.py)
    victim_proc = VictimProcess(bench, per_client, until_stopped=True)
    await victim_proc.start()
    try:
        hostile = await asyncio.gather(
            *(
                _hostile(bench, transports[i % 2], per_client, big_mb if i == 0 else 5)
                for i in range(4)
            )
        )
    finally:
        victim_proc.stop()
        victims = await victim_proc.result()
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
        "_stalls": [
            [*stall, overlapping(stall, [s for h in hostile for s in h["spans"]])]
            for stall in victim_proc.stalls
        ],
    }


def overlapping(stall: list[Any], spans: list[list[Any]]) -> list[str]:
    """The heavy actions running while a victim's request ([start, ms, ...]) waited."""
    start, end = stall[0], stall[0] + stall[1] / 1000
    return sorted({name for name, s, e in spans if s < end and e > start})
