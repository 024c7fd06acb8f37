"""Small helpers shared by tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tsr_lsp.backends.base import Backend, GenerationCancelled, GenerationRequest, GenerationResult


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
