"""One client queues N heavy requests at once: tsr/memory/export of a 2,000-episode store
(5 MB each; reading its replies or not) or template render previews that use their whole
time budget; another client asks tsr/status every 0.2 s for 60 s. Prints the second
client's worst latency and the daemon's RSS (docs/RELIABILITY.md, server/lanes.py).

    python scripts/reliability_export_queue_probe.py [N=60] [read|noread|preview]

A private TSR_LSP_HOME with fake models; the daemon is stopped at the end.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tsr_lsp.bench.daemon_under_test import Bench, make_home
from tsr_lsp.bench.rawclient import frame
from tsr_lsp.bench.reliability import _stop_daemon

SLOW_TEMPLATE = "{% for i in range(10**9) %}{{ i }}{% endfor %}"


async def main(n_exports: int, mode: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="export-queue-"))
    home, env = make_home(root)
    project = root / "proj"
    project.mkdir()
    bench = Bench(home, env, home / "run" / "daemon.sock", True, project)
    loader = await bench.connect("socket")
    text = "lorem ipsum dolor sit amet " * 80
    episodes = [{"project": str(project), "text": f"episode {i} {text}"} for i in range(2000)]
    await loader.request("tsr/memory/import", {"episodes": episodes}, timeout=300)
    print(f"store ready, daemon RSS {bench.rss_mb():.0f} MB")
    victim = await bench.connect("socket")
    hostile = await bench.connect("socket")
    if mode == "noread":
        hostile._task.cancel()  # never reads a reply again
    uri = (project / "slow.j2").as_uri()
    if mode == "preview":
        doc = {"uri": uri, "languageId": "jinja", "version": 1, "text": SLOW_TEMPLATE}
        await hostile.notify("textDocument/didOpen", {"textDocument": doc})
    for i in range(n_exports):
        message = {"jsonrpc": "2.0", "id": 10_000 + i, "method": "tsr/memory/export"}
        params: dict[str, object] = {"project": str(project)}
        if mode == "preview":
            message["method"] = "workspace/executeCommand"
            params = {"command": "tsr.renderPreview", "arguments": [uri]}
        hostile.writer.write(frame({**message, "params": params}))
    await hostile.writer.drain()
    worst, peak = 0.0, 0.0
    end = time.monotonic() + 60
    while time.monotonic() < end:
        started = time.perf_counter()
        await victim.request("tsr/status", {}, timeout=60)
        worst = max(worst, time.perf_counter() - started)
        peak = max(peak, bench.rss_mb())
        await asyncio.sleep(0.2)
    print(f"victim worst {worst:.2f}s  daemon RSS peak {peak:.0f} MB now {bench.rss_mb():.0f} MB")
    hostile.writer.close()
    await asyncio.sleep(5)
    print(f"after the hostile client left: RSS {bench.rss_mb():.0f} MB")
    await victim.close()
    await loader.close()
    _stop_daemon(bench)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    asyncio.run(main(count, sys.argv[2] if len(sys.argv) > 2 else "noread"))
