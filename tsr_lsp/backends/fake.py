"""A deterministic in-process backend for fast unit tests only (never a user's default).

It echoes a canned answer word by word so streaming, cancellation, queueing and eviction can
be tested without loading a model. Real-model tests prove the real path.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tsr_lsp.backends.base import (
    Capabilities,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    ModelLoadError,
    PrefillResult,
    StreamTimer,
    TokenCallback,
    is_cancelled,
)
from tsr_lsp.config import ModelProfile


class FakeBackend:
    name = "fake"
    loads = 0  # class-wide count of load() calls (tests check lazy loading)

    def __init__(self, profile_name: str, profile: ModelProfile):
        self.profile_name = profile_name
        self.profile = profile
        self.capabilities = Capabilities(
            can_fim=True, context_length=profile.n_ctx, can_prefill=True
        )
        self.loaded = False
        self.cached: list[str] = []
        # ``model = "0.05"`` in a fake profile makes each token take 50 ms (cancellation tests).
        try:
            self.delay_s = float(profile.model or 0)
        except ValueError:
            self.delay_s = 0.0

    def load(self) -> None:
        # A fake profile with a path that does not exist fails like a missing model file.
        if self.profile.path and not Path(self.profile.path).exists():
            raise ModelLoadError(f"model file not found: {self.profile.path}")
        FakeBackend.loads += 1
        self.loaded = True

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def memory_mb(self) -> float:
        return float(self.profile.memory_mb or 1)

    def close(self) -> None:
        self.loaded = False

    def prefill(
        self, request: GenerationRequest, cancel: threading.Event | None = None
    ) -> PrefillResult:
        words = (request.prompt or "").split()
        common = 0
        for a, b in zip(self.cached, words, strict=False):
            if a != b:
                break
            common += 1
        self.cached = words
        return PrefillResult(len(words), len(words) - common, 0.0)

    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        assert self.loaded, "generate() on a closed fake backend"
        source = request.prompt or (request.messages or [{"content": ""}])[-1]["content"]
        words = f"[{self.profile_name}] {source}".split()[: request.max_tokens]
        timer = StreamTimer(on_token)
        for word in words:
            if is_cancelled(cancel):
                raise GenerationCancelled(timer.result("cancelled"))
            timer.add(word if not timer.pieces else " " + word)
            if self.delay_s:
                time.sleep(self.delay_s)
        return timer.result("stop", len(source.split()))
