"""Coalesced partial results: the first delta is immediate, later ones are joined, order is
kept across other events, and nothing trails the final flush."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tsr_lsp.server.streaming import PartialResults


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []

    def progress(self, params: Any) -> None:
        self.sent.append((time.monotonic(), params.value))


async def test_first_delta_immediate_then_coalesced_in_order() -> None:
    loop = asyncio.get_running_loop()
    ls = Recorder()
    partials = PartialResults(ls, loop, "tok", interval_s=0.05)
    pieces = [f"p{i} " for i in range(40)]

    def producer() -> None:
        partials.send("decision", {"model": "m"})
        for i, piece in enumerate(pieces):
            partials.send("delta", {"delta": piece})
            # the first delta goes out at once, well before the 50 ms interval (waiting
            # for it keeps a loaded machine from joining p1 to it before the loop runs)
            deadline = time.monotonic() + 0.04
            while i == 0 and len(ls.sent) < 2 and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(0.002)
        partials.send("loading", {"stage": "end", "message": "x"})
        partials.send("delta", {"delta": "tail"})

    worker = threading.Thread(target=producer)
    worker.start()
    while worker.is_alive():
        await asyncio.sleep(0.005)
    await asyncio.sleep(0)
    partials.flush()
    values = [v for _, v in ls.sent]
    assert values[0] == {"event": "decision", "model": "m"}
    deltas = [v["delta"] for v in values if v["event"] == "delta"]
    assert "".join(deltas) == "".join(pieces) + "tail"  # nothing lost, nothing reordered
    assert deltas[0] == "p0 "  # the first token was not held back
    assert len(deltas) < len(pieces) / 3  # ~80 ms of tokens in far fewer notifications
    kinds = [v["event"] for v in values]
    assert kinds.index("loading") < len(kinds) - 1 and values[-1]["delta"].endswith("tail")
    await asyncio.sleep(0.1)  # a late scheduled flush sends nothing more
    assert [v for _, v in ls.sent] == values


async def test_no_token_means_no_notifications() -> None:
    ls = Recorder()
    partials = PartialResults(ls, asyncio.get_running_loop(), None)
    partials.send("delta", {"delta": "x"})
    partials.flush()
    await asyncio.sleep(0.01)
    assert ls.sent == []
