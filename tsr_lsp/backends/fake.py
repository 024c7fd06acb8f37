"""A deterministic in-process backend for fast unit tests only (never a user's default).

It echoes a canned answer word by word so streaming, cancellation and the request path can
be tested without loading a model. Real-model tests prove the real path.
"""

from __future__ import annotations

import threading
import time

from tsr_lsp.backends.base import (
    Capabilities,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    TokenCallback,
)
from tsr_lsp.config import ModelProfile


class FakeBackend:
    name = "fake"

    def __init__(self, profile_name: str, profile: ModelProfile):
        self.profile_name = profile_name
        self.profile = profile
        self.capabilities = Capabilities(can_fim=True, context_length=profile.n_ctx)
        self.loaded = False
        # ``model = "0.05"`` in a fake profile makes each token take 50 ms (cancellation tests).
        try:
            self.delay_s = float(profile.model or 0)
        except ValueError:
            self.delay_s = 0.0

    def load(self) -> None:
        self.loaded = True

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def memory_mb(self) -> float:
        return float(self.profile.memory_mb or 1)

    def close(self) -> None:
        self.loaded = False

    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        source = request.prompt or (request.messages or [{"content": ""}])[-1]["content"]
        words = f"[{self.profile_name}] {source}".split()[: request.max_tokens]
        start = time.perf_counter()
        out: list[str] = []
        for word in words:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(GenerationResult(" ".join(out), 0, len(out), "cancelled"))
            piece = word if not out else " " + word
            out.append(piece)
            if on_token:
                on_token(piece)
            if self.delay_s:
                time.sleep(self.delay_s)
        total = time.perf_counter() - start
        return GenerationResult("".join(out), len(source.split()), len(out), "stop", 0.0, total)
