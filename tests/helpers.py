"""Small helpers shared by tests."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tsr_lsp.backends.base import Backend, GenerationCancelled, GenerationRequest, GenerationResult


@contextlib.contextmanager
def held_elsewhere(lock: Any) -> Iterator[None]:
    """``lock`` held by another thread for the block (a write or a load under way)."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            done.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        yield
    finally:
        done.set()
        thread.join()


def mapped_rss_kb(path: Path | str) -> int:
    """Resident kB of this process's mappings of the file ``path`` (/proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def cancel_after(n: int) -> tuple[threading.Event, list[str], Callable[[str], None]]:
    """A token callback that records the pieces and sets the cancel event after the n-th."""
    cancel = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == n:
            cancel.set()

    return cancel, pieces, on_token


def generate_cancelled(
    backend: Backend, request: GenerationRequest, n: int
) -> tuple[GenerationResult, list[str]]:
    """Generate with the cancel event set after the n-th token; it must raise
    GenerationCancelled. Returns its partial result and the pieces streamed."""
    cancel, pieces, on_token = cancel_after(n)
    with pytest.raises(GenerationCancelled) as err:
        backend.generate(request, on_token=on_token, cancel=cancel)
    return err.value.result, pieces


async def code_actions(client: Any, params: Any) -> list[Any]:
    """``textDocument/codeAction`` through a pygls client. lsprotocol reads any item that
    carries a command as a bare Command, so the result is structured by its shape: a
    ``command`` string makes a Command, anything else a CodeAction."""
    from lsprotocol import types

    conv = client.protocol._converter

    def hook(obj: Any, _: type) -> Any:
        kind = types.Command if isinstance(obj.get("command"), str) else types.CodeAction
        return conv.structure(obj, kind)

    conv.register_structure_hook(types.Command | types.CodeAction, hook)
    return list(await client.text_document_code_action_async(params) or [])


def tokens_written(client: Any) -> int:
    """What the last finished action's progress end reports, "N tokens" (pieces the model
    wrote)."""
    ends = [
        r.message
        for reports in client.progress_reports.values()
        for r in reports
        if isinstance(r, types.WorkDoneProgressEnd) and (r.message or "").endswith(" tokens")
    ]
    return int(ends[-1].split()[0])
