"""GGUF models through llama-cpp-python, with the chat template stored in the GGUF itself."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from tsr_lsp.backends.base import (
    BackendError,
    Capabilities,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    TokenCallback,
)
from tsr_lsp.config import ModelProfile

GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path, size: int = 0, sha256: str = "") -> None:
    """Fail early, with a fix, on the usual ways a model file is wrong."""
    from tsr_lsp.modelfiles import ModelFileError, verify_file

    if not path.is_file():
        raise BackendError(
            f"model file not found: {path}; run `tsr-lsp models install-defaults` "
            "or set the profile's path"
        )
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise BackendError(
                f"{path} is not a GGUF file (bad magic); point the profile at a .gguf"
            )
    try:
        verify_file(path, size, sha256)
    except ModelFileError as exc:
        raise BackendError(str(exc)) from exc


class LlamaCppBackend:
    name = "llama_cpp"

    def __init__(self, profile_name: str, profile: ModelProfile):
        self.profile_name = profile_name
        self.profile = profile
        self.capabilities = Capabilities(context_length=profile.n_ctx)
        self.llm: Any = None

    def load(self) -> None:
        path = Path(self.profile.path).expanduser()
        check_gguf(path, self.profile.size, self.profile.sha256)
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise BackendError("llama-cpp-python is not installed; see `tsr-lsp doctor`") from exc
        threads = self.profile.n_threads or max(1, os.cpu_count() or 1)
        try:
            self.llm = Llama(
                model_path=str(path),
                n_ctx=self.profile.n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=self.profile.n_gpu_layers,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports load failures as ValueError/RuntimeError
            raise BackendError(f"{path}: llama.cpp could not load the model ({exc})") from exc
        vocab = self.llm.tokenize(b"<|fim_prefix|>", add_bos=False, special=True)
        self.capabilities.can_fim = len(vocab) == 1
        self.capabilities.chat_template = bool(self.llm.metadata.get("tokenizer.chat_template"))

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def memory_mb(self) -> float:
        if self.profile.memory_mb:
            return float(self.profile.memory_mb)
        path = Path(self.profile.path).expanduser()
        size = path.stat().st_size if path.exists() else 0
        return size / 1e6 * 1.2 + self.profile.n_ctx * 0.05

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        if self.llm is None:
            raise BackendError(f"profile {self.profile_name!r} is not loaded")
        common: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "repeat_penalty": request.repeat_penalty,
            "stop": request.stop or None,
            "stream": True,
        }
        if request.seed is not None:
            common["seed"] = request.seed
        start = time.perf_counter()
        if request.messages is not None:
            stream = self.llm.create_chat_completion(messages=request.messages, **common)
            pick = _chat_delta
        else:
            stream = self.llm.create_completion(
                prompt=request.prompt or "", suffix=request.suffix, **common
            )
            pick = _completion_delta
        pieces: list[str] = []
        ttft = 0.0
        finish = "stop"
        n = 0
        for chunk in stream:
            choice = chunk["choices"][0]
            piece = pick(choice)
            if piece:
                if not pieces:
                    ttft = time.perf_counter() - start
                n += 1
                pieces.append(piece)
                if on_token:
                    on_token(piece)
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            if cancel is not None and cancel.is_set():
                stream.close()
                result = self._result(pieces, n, "cancelled", ttft, start)
                raise GenerationCancelled(result)
        return self._result(pieces, n, finish, ttft, start)

    def _result(
        self, pieces: list[str], n: int, finish: str, ttft: float, start: float
    ) -> GenerationResult:
        text = "".join(pieces)
        return GenerationResult(
            text=text,
            prompt_tokens=int(self.llm.n_tokens) - n if self.llm is not None else 0,
            completion_tokens=n,
            finish_reason=finish,
            ttft_s=ttft,
            total_s=time.perf_counter() - start,
        )


def _chat_delta(choice: dict[str, Any]) -> str:
    return str(choice.get("delta", {}).get("content") or "")


def _completion_delta(choice: dict[str, Any]) -> str:
    return str(choice.get("text") or "")
