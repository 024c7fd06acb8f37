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
- rss: the daemon's RSS after warm-up, its peak, and after the load, once idle. An idle
  daemon may start afresh in place meanwhile (``daemon.recycle_stranded_mb``): then
  ``rss_recycles`` counts it and ``rss_growth_ratio_unrecycled`` is what it held before.
- trust: a project whose ``.tsr/config.toml`` points a profile at a local HTTP listener with
  ``api_key_env`` naming a variable of the user: anything reaching the listener is an
  exfiltration. paths: one whose ``lint.template_paths`` and ``actions.tests_dir`` point
  outside it: a template read from there (``outside_reads``) or a test file written there
  (``outside_writes``, also through a symlinked tests folder once trusted) counts.
- files: group/world access on what tsr-lsp created.
- payloads: ``bench/payloads.py`` (sandbox and linter).
- redaction, corruption: ``bench/redaction.py`` and ``bench/corruption.py`` (memory's own
  measurements) when present.

This module is the run and the report (targets, merging the sections' metrics); the daemon
under test is ``bench/daemon_under_test.py``, fuzz and clients ``bench/load.py``, trust,
secrets and file modes ``bench/hostile_cases.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tsr_lsp.bench.daemon_under_test import Bench, make_home
from tsr_lsp.bench.hostile_cases import (
    exposed,
    paths_section,
    secrets_on_disk,
    secrets_section,
    trust_section,
)
from tsr_lsp.bench.load import clients_section, fuzz_section, open_document, template_uri
from tsr_lsp.bench.rawclient import Closed
from tsr_lsp.commands.daemon_cmd import terminate

log = logging.getLogger(__name__)

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
    "outside_reads": ("==", 0),  # an untrusted project's lint.template_paths outside it
    "outside_writes": ("==", 0),  # files Write tests put outside the project
    "exposed_paths": ("==", 0),
    "unanswered_requests": ("==", 0),
    "sections_aborted": ("==", 0),
    "secrets_stored": ("==", 0),
    "secrets_on_disk": ("==", 0),
}


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


# ---------------------------------------------------------------------- rss


async def _watch_rss(bench: Bench, stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], bench.rss_mb())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def _warm_up(bench: Bench) -> None:
    conn = await bench.connect("socket")
    uri = template_uri(bench, "warm.jinja")
    pos = {"line": 0, "character": 3}
    await open_document(conn, uri, "jinja", "{{ x }}")
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


async def _recycled(bench: Bench, rss_before: float) -> dict[str, Any]:
    """Whether the daemon recycled while idle, and the RSS ratio it had kept until then."""
    conn = await bench.connect("socket")
    try:
        reply = (await conn.request("tsr/status", {}, 60))[0] or {}
    finally:
        await bench.close(conn)
    info = (reply.get("result") or {}).get("daemonInfo") or {}
    recycles, kept = int(info.get("recycles", 0)), float(info.get("recycledRssMb", 0.0))
    out: dict[str, Any] = {"rss_recycles": recycles}
    if recycles and rss_before:
        out["rss_growth_ratio_unrecycled"] = round(kept / rss_before, 2)
    return out


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
        details["stalls"] = cl.pop("_stalls")  # each with the heavy actions running meanwhile
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
    out.update(await _recycled(bench, rss_before))
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
    log.info("reliability: paths outside an untrusted project")
    try:
        paths = await asyncio.wait_for(paths_section(bench), 300)
        details["paths"] = paths.pop("_paths")
        out.update(paths)
    except (TimeoutError, Closed) as exc:
        log.warning("reliability: section aborted: %r", exc)
        out["sections_aborted"] += 1


def _stop_daemon(bench: Bench) -> None:
    pid = bench.daemon_pid()
    if pid is not None:
        terminate(pid)


@contextlib.asynccontextmanager
async def warm_daemon(prefix: str) -> AsyncIterator[Bench]:
    """A daemon of its own (fake models, a fresh home), warmed up; stopped and removed after:
    the setting of the clients probes in scripts/."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    home, env = make_home(tmp)
    project = tmp / "project"
    project.mkdir()
    bench = Bench(home, env, home / "run" / "daemon.sock", False, project)
    try:
        await _warm_up(bench)
        yield bench
    finally:
        _stop_daemon(bench)
        shutil.rmtree(tmp, ignore_errors=True)


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
