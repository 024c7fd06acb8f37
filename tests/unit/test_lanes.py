"""Heavy jobs of several connections (server/lanes.py): bounded, fair, and released even when
a request is cancelled while its thread runs."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tsr_lsp.server import lanes
from tsr_lsp.server.lanes import Lane


def test_one_job_per_connection_and_shared_slots_bound_the_process() -> None:
    running: dict[str, int] = {"a": 0, "b": 0, "c": 0}
    most = {"a": 0, "b": 0, "c": 0, "all": 0}
    lock = threading.Lock()
    order: list[str] = []

    def job(name: str) -> str:
        with lock:
            running[name] += 1
            order.append(name)
            most[name] = max(most[name], running[name])
            most["all"] = max(most["all"], sum(running.values()))
        time.sleep(0.02)
        with lock:
            running[name] -= 1
        return name

    async def main() -> list[str]:
        pool = ThreadPoolExecutor(max_workers=16)
        conns = {name: Lane() for name in running}
        tasks = [asyncio.ensure_future(conns["a"].run(pool, lambda: job("a"))) for _ in range(10)]
        await asyncio.sleep(0)  # connection a queued all of its work first
        tasks += [asyncio.ensure_future(conns[n].run(pool, lambda n=n: job(n))) for n in "bc"]
        done = await asyncio.gather(*tasks)
        pool.shutdown()
        return list(done)

    results = asyncio.run(main())
    assert sorted(results) == sorted(["a"] * 10 + ["b", "c"])
    assert most["a"] == most["b"] == most["c"] == 1
    assert most["all"] <= lanes.SHARED_SLOTS
    # b and c did not wait behind a's whole queue
    assert order.index("b") < 4 and order.index("c") < 4


def test_a_cancelled_request_keeps_its_slot_until_its_thread_ends() -> None:
    release = threading.Event()
    started: list[str] = []

    def slow() -> None:
        started.append("slow")
        release.wait(5)

    def quick() -> str:
        started.append("quick")
        return "ok"

    async def main() -> None:
        pool = ThreadPoolExecutor(max_workers=8)
        fillers = [Lane() for _ in range(lanes.SHARED_SLOTS)]
        tasks = [asyncio.ensure_future(f.run(pool, slow)) for f in fillers]
        await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()  # the requests are cancelled, their threads still run
        await asyncio.gather(*tasks, return_exceptions=True)
        waiting = asyncio.ensure_future(Lane().run(pool, quick))
        await asyncio.sleep(0.1)
        assert "quick" not in started  # no slot came free: both threads still run
        release.set()
        assert await asyncio.wait_for(waiting, 5) == "ok"
        pool.shutdown()

    asyncio.run(main())
