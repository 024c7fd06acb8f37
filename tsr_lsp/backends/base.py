"""The one small interface every model backend implements.

A backend wraps one loaded model (or one remote endpoint). It is synchronous and called from
a worker thread; the pool serialises calls per model, so implementations need no locking of
their own. ``on_token`` receives text pieces as they are produced; ``cancel`` is polled
between tokens, so a cancelled request stops within one token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tsr_lsp.config import ModelProfile


class BackendError(Exception):
    """A model could not be loaded or could not answer; the message says what to do."""


class ModelLoadError(BackendError):
    """The model could not be loaded at all: the pool marks the profile unavailable."""


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
    can_prefill: bool = False


@dataclass
class RepoContext:
    """Repository-level fill-in-the-middle (Qwen2.5-Coder): other files before the hole.
    Backends whose model lacks the markers use the plain FIM prompt."""

    repo: str = ""
    path: str = ""  # the current file's path in the repository
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, text), oldest first


@dataclass
class GenerationRequest:
    """Either chat ``messages`` or a raw ``prompt``; with ``suffix`` (not None) the request
    is fill-in-the-middle: ``prompt`` is the text before the cursor, ``suffix`` after it."""

    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    suffix: str | None = None
    max_tokens: int = 256
    temperature: float = 0.3
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    repo: RepoContext | None = None  # FIM only: context from other files
    # FIM order: "psm" (prefix, suffix, middle) or "spm" (suffix first: a prompt whose
    # suffix stays the same while the prefix grows reuses the suffix's KV cache).
    fim_order: str = "psm"
    # FIM, PSM order: cached KV cells are moved, not evaluated again: the suffix's when the
    # new prefix only extends the cached one (typing forward), and the prefix window's when
    # the cache holds it elsewhere (a file prewarmed whole; docs/COMPLETION.md).
    reuse_suffix: bool = False
    # A speculative run (the completion after the shown one is accepted): the prompt cache
    # is left as it was, so a user who does not accept loses none of it (backends that can;
    # evaluated in small chunks, so a real request stops it sooner).
    keep_cache: bool = False
    # Chat only: the answer's known start (a docstring action's code fence and definition
    # header). A backend that can continue an answer (llama.cpp) puts it after the chat
    # prompt, so the model starts past it, and returns text that begins with it; the others
    # ignore it and the model writes it itself. Either way the text starts the same.
    answer_start: str = ""


@dataclass
class GenerationResult:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    ttft_s: float = 0.0
    total_s: float = 0.0
    # Prompt tokens that had to be evaluated (the rest came from the KV cache); -1: unknown.
    evaluated_prompt_tokens: int = -1

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.total_s - self.ttft_s
        if self.completion_tokens <= 1 or gen_time <= 0:
            return 0.0
        return (self.completion_tokens - 1) / gen_time


@dataclass
class PrefillResult:
    """What a prefill (evaluate into the KV cache, generate nothing) cost."""

    prompt_tokens: int
    evaluated_tokens: int
    total_s: float


TokenCallback = Callable[[str], None]


class Backend(Protocol):
    name: str
    profile: ModelProfile
    capabilities: Capabilities

    def load(self) -> None:
        """Load weights or open a connection; raise ModelLoadError with a fix on failure."""

    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult: ...

    def prefill(
        self, request: GenerationRequest, cancel: threading.Event | None = None
    ) -> PrefillResult:
        """Evaluate the request's prompt into the KV cache without generating, so a later
        request sharing that prefix starts fast. Backends without a cache return 0 tokens."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...

    def memory_mb(self) -> float:
        """Estimated resident size, used by the pool's memory budget."""
        ...


class StreamTimer:
    """Collects pieces and the time to the first one, the same way for every backend."""

    def __init__(self, on_token: TokenCallback | None) -> None:
        self.start = time.perf_counter()
        self.ttft = 0.0
        self.pieces: list[str] = []
        self.on_token = on_token

    def add(self, piece: str) -> None:
        if not piece:
            return
        if not self.pieces:
            self.ttft = time.perf_counter() - self.start
        self.pieces.append(piece)
        if self.on_token is not None:
            self.on_token(piece)

    def result(
        self,
        finish: str,
        prompt_tokens: int = 0,
        completion_tokens: int = -1,
        *,
        evaluated: int = -1,
    ) -> GenerationResult:
        n = len(self.pieces) if completion_tokens < 0 else completion_tokens
        return GenerationResult(
            text="".join(self.pieces),
            prompt_tokens=prompt_tokens,
            completion_tokens=n,
            finish_reason=finish,
            ttft_s=self.ttft,
            total_s=time.perf_counter() - self.start,
            evaluated_prompt_tokens=evaluated,
        )


def is_cancelled(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


class Halt(threading.Event):
    """Set itself (done early, over budget, superseded) or through a parent event (the
    request's cancel token, the job's stop): generations check one event every token."""

    def __init__(self, *parents: threading.Event | None) -> None:
        super().__init__()
        self.parents = tuple(p for p in parents if p is not None)

    def is_set(self) -> bool:
        return super().is_set() or any(p.is_set() for p in self.parents)

    def set_itself(self) -> bool:
        """Was it set itself (not through a parent)?"""
        return super().is_set()
