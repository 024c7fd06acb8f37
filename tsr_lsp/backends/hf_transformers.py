"""A local Hugging Face model folder through transformers, strictly offline.

``local_files_only=True`` (and HF_HUB_OFFLINE) means a missing file is an error, never a
download. Chat prompts use the tokenizer's own chat template. Text streams through a
``TextStreamer`` (the base of ``TextIteratorStreamer``) whose pieces go to ``on_token`` in
the generating thread itself: with an iterator and a second thread, generation can run
several tokens ahead of the reader, so a cancel set on a piece would land late. A stopping
criterion checks ``cancel`` after every token. Device ``auto`` takes CUDA when torch sees it.
"""

from __future__ import annotations

import os
import sys
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
    ModelLoadError,
    PrefillResult,
    StreamTimer,
    TokenCallback,
    is_cancelled,
)
from tsr_lsp.config import ModelProfile

FIM_TOKENS = (
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),  # Qwen2.5-Coder
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),  # StarCoder
    ("<PRE>", "<SUF>", "<MID>"),  # CodeLlama
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


def check_folder(path: Path, profile_name: str) -> None:
    if not path.exists():
        raise ModelLoadError(
            f"model folder not found: {path}; set models.{profile_name}.path to a local "
            "Hugging Face model folder (tsr-lsp never downloads from a hub)"
        )
    if not path.is_dir():
        raise ModelLoadError(
            f"{path} is a file; an hf_transformers profile needs a model folder "
            '(for a .gguf file set backend = "llama_cpp")'
        )
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} has no config.json; is it a Hugging Face model folder?")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in path.iterdir()):
        raise ModelLoadError(f"{path} has no weight files (*.safetensors or *.bin)")


def pick_device(setting: str) -> str:
    if setting and setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _import_transformers() -> tuple[Any, Any, Any]:
    """Import torch and transformers, tolerating another thread's import in progress.

    transformers resolves names lazily; while one thread (e.g. the memory embedder) is
    importing it, ``from transformers import X`` in another thread can fail with a spurious
    ImportError. Retrying once the first import has finished succeeds.
    """
    for attempt in range(60):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the daemon's log is not a terminal
            return torch, AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            if "transformers" not in sys.modules or attempt == 59:
                raise ModelLoadError(
                    "hf_transformers needs torch and transformers: pip install 'tsr-lsp[hf]'"
                ) from exc
            time.sleep(0.1)
    raise AssertionError("unreachable")


class HfTransformersBackend:
    name = "hf_transformers"

    def __init__(self, profile_name: str, profile: ModelProfile):
        self.profile_name = profile_name
        self.profile = profile
        self.capabilities = Capabilities(context_length=profile.n_ctx)
        self.model: Any = None
        self.tokenizer: Any = None
        self.device = "cpu"
        self.fim_ids: tuple[int, int, int] | None = None
        self._param_mb = 0.0

    def load(self) -> None:
        path = Path(self.profile.path).expanduser()
        if not self.profile.path:
            raise ModelLoadError(f"profile {self.profile_name!r} has no path to a model folder")
        check_folder(path, self.profile_name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        torch, auto_model, auto_tokenizer = _import_transformers()
        try:
            self.device = pick_device(self.profile.device)
            dtype = torch.float32 if self.device == "cpu" else "auto"
            self.tokenizer = auto_tokenizer.from_pretrained(str(path), local_files_only=True)
            model = auto_model.from_pretrained(str(path), local_files_only=True, dtype=dtype)
            if self.profile.n_threads and self.device == "cpu":
                torch.set_num_threads(self.profile.n_threads)
            self.model = model.to(self.device).eval()
        except Exception as exc:  # transformers raises OSError/ValueError/KeyError/...
            self.model = self.tokenizer = None
            raise ModelLoadError(
                f"{path}: transformers could not load the model ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        self._param_mb = sum(p.numel() * p.element_size() for p in self.model.parameters()) / 1e6
        self.fim_ids = self._find_fim_tokens()
        self.capabilities.can_fim = self.fim_ids is not None
        self.capabilities.chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        limit = getattr(self.model.config, "max_position_embeddings", 0) or self.profile.n_ctx
        self.capabilities.context_length = min(int(limit), self.profile.n_ctx)

    def _find_fim_tokens(self) -> tuple[int, int, int] | None:
        vocab = self.tokenizer.get_vocab()
        for names in FIM_TOKENS:
            if all(n in vocab for n in names):
                pre, suf, mid = (int(vocab[n]) for n in names)
                return pre, suf, mid
        return None

    def count_tokens(self, text: str) -> int:
        self._require_loaded()
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def memory_mb(self) -> float:
        if self.profile.memory_mb:
            return float(self.profile.memory_mb)
        if self._param_mb:
            return self._param_mb * 1.2
        path = Path(self.profile.path).expanduser()
        try:
            size = sum(p.stat().st_size for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
        except OSError:
            size = 0
        return size / 1e6 * 2.4  # weights are often stored in 16 bits and run in 32 on CPU

    def close(self) -> None:
        self.model = self.tokenizer = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def prefill(
        self, request: GenerationRequest, cancel: threading.Event | None = None
    ) -> PrefillResult:
        return PrefillResult(0, 0, 0.0)  # no cache kept between calls

    def _require_loaded(self) -> None:
        if self.model is None:
            raise BackendError(f"profile {self.profile_name!r} is not loaded")

    # ------------------------------------------------------------------ prompts
    def input_ids(self, request: GenerationRequest) -> list[int]:
        tok = self.tokenizer
        if request.messages is not None:
            if self.capabilities.chat_template:
                text = tok.apply_chat_template(
                    request.messages, add_generation_prompt=True, tokenize=False
                )
            else:
                text = "".join(f"{m['role']}: {m['content']}\n" for m in request.messages)
                text += "assistant:"
            return list(tok.encode(text, add_special_tokens=False))
        prompt = request.prompt or ""
        if request.suffix is None:
            return list(tok.encode(prompt, add_special_tokens=True))
        if self.fim_ids is None:
            raise BackendError(
                f"profile {self.profile_name!r}: this model has no fill-in-the-middle tokens"
            )
        pre, suf, mid = self.fim_ids
        body = tok.encode(prompt, add_special_tokens=False, split_special_tokens=True)
        after = tok.encode(request.suffix, add_special_tokens=False, split_special_tokens=True)
        return [pre, *body, suf, *after, mid]

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        self._require_loaded()
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return is_cancelled(cancel)

        timer = StreamTimer(on_token)

        class _Pieces(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                timer.add(text)

        ids = self.input_ids(request)
        if len(ids) >= self.capabilities.context_length:
            raise BackendError(
                f"prompt of {len(ids)} tokens does not fit the context of "
                f"{self.capabilities.context_length}; send less context"
            )
        inputs = torch.tensor([ids], device=self.device)
        sample = request.temperature > 0
        kwargs: dict[str, Any] = {
            "input_ids": inputs,
            "attention_mask": torch.ones_like(inputs),
            "max_new_tokens": request.max_tokens,
            "do_sample": sample,
            "repetition_penalty": request.repeat_penalty,
            "streamer": _Pieces(self.tokenizer, skip_prompt=True, skip_special_tokens=True),
            "stopping_criteria": StoppingCriteriaList([_Cancel()]),
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if sample:
            kwargs.update(temperature=request.temperature, top_p=request.top_p)
        if request.stop:
            kwargs.update(stop_strings=request.stop, tokenizer=self.tokenizer)
        if request.seed is not None:
            torch.manual_seed(request.seed)
        try:
            with torch.inference_mode():
                out_ids = self.model.generate(**kwargs)
        except Exception as exc:
            raise BackendError(
                f"transformers generation failed: {type(exc).__name__}: {exc}"
            ) from exc
        n = int(out_ids.shape[-1]) - len(ids)
        finish = "length" if n >= request.max_tokens else "stop"
        if is_cancelled(cancel):
            raise GenerationCancelled(timer.result("cancelled", len(ids), n))
        return timer.result(finish, len(ids), n, evaluated=len(ids))
