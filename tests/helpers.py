"""Small helpers shared by tests."""

from __future__ import annotations

import threading
from collections.abc import Callable


def cancel_after(n: int) -> tuple[threading.Event, list[str], Callable[[str], None]]:
    """A token callback that records the pieces and sets the cancel event after the n-th."""
    cancel = threading.Event()
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == n:
            cancel.set()

    return cancel, pieces, on_token
