"""The one small interface every model backend implements.

A backend wraps one loaded model. It is synchronous and called from a worker thread; the
pool serialises calls per model, so implementations need no locking of their own.
``on_token`` receives text pieces as they are produced; ``cancel`` is polled between tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tsr_lsp.config import ModelProfile


class BackendError(Exception):
    """A model could not be loaded or could not answer; the message says what to do."""


class GenerationCancelled(Exception):
    """Raised when ``cancel`` was set during generation; carries the partial result."""

    def __init__(self, result: GenerationResult):
        super().__init__("generation cancelled")
        self.result = result


@dataclass
class Capabilities:
    can_fim: bool = False
    can_stream: bool = True
    chat_template: bool = True
    context_length: int = 4096


@dataclass
class GenerationRequest:
    """Either chat ``messages`` or a raw ``prompt`` (with ``suffix`` for fill-in-the-middle)."""

    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    suffix: str | None = None
    max_tokens: int = 256
    temperature: float = 0.3
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    ttft_s: float = 0.0
    total_s: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.total_s - self.ttft_s
        if self.completion_tokens <= 1 or gen_time <= 0:
            return 0.0
        return (self.completion_tokens - 1) / gen_time


TokenCallback = Callable[[str], None]


class Backend(Protocol):
    name: str
    profile: ModelProfile
    capabilities: Capabilities

    def load(self) -> None:
        """Load weights or open a connection; raise BackendError with a fix on failure."""

    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...

    def memory_mb(self) -> float:
        """Estimated resident size, used by the pool's memory budget."""
        ...
