"""GGUF models through llama-cpp-python.

- Chat: ``create_chat_completion`` renders the chat template stored in the GGUF metadata
  (llama-cpp-python builds a Jinja2 formatter from ``tokenizer.chat_template``).
- Fill-in-the-middle: llama-cpp-python's ``suffix`` argument does not use the model's FIM
  tokens (its prefix/suffix/middle ids are hard-coded to 0), so the FIM prompt is built here
  from the vocabulary's own FIM token ids, with the user's text tokenized with
  ``special=False`` (code that contains ``<|fim_prefix|>`` stays plain text).
- KV prefix reuse: llama-cpp-python keeps the longest common token prefix between calls on
  the same ``Llama``. Prompts therefore put the stable part first (PSM order: prefix, then
  suffix), and ``prefill`` evaluates a prompt into the cache without generating. The number
  of prompt tokens actually evaluated is measured from llama.cpp's own perf counters.
- Suffix reuse (PSM): typing forward changes the end of the prefix, and every suffix token
  after it would be evaluated again. When the new prefix only extends the cached one, the
  cached suffix's cells are moved to their new positions instead (llama-server's
  ``--cache-reuse`` moves cached chunks the same way). They were computed without the text
  typed since, never with text that is gone; ``kv_reuse.suffix_move`` decides, ``_move_run`` does
  it through a scratch sequence (llama.cpp takes new tokens of a sequence only after its
  last position).
- Window reuse: a file prewarmed whole when it opened (the cursor unknown) holds every
  prefix window's cells. A request's window is found in it and moved to the prompt's start
  (``kv_reuse.window_reuse``); the suffix is evaluated as usual.
- Repository-level FIM: when the vocabulary has ``<|repo_name|>`` and ``<|file_sep|>``
  (Qwen2.5-Coder), a request's ``repo`` context (other files) goes before the FIM prefix.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
from tsr_lsp.backends.kv_reuse import Run, matching, suffix_move, window_reuse
from tsr_lsp.config import ModelProfile

GGUF_MAGIC = b"GGUF"
# Prefill in chunks so a cancelled request stops after at most one chunk of prompt eval
# (64 tokens on 2 cores: ~0.3 s for the 0.5B coder, 0.7-0.9 s for the 1.5B; chunks of 512
# are ~4% faster: scripts/prompt_eval_rate.py, docs/COMPLETION.md).
PREFILL_CHUNK = 64
# Moved cells go stale by what was typed since they were evaluated; past this many tokens
# (about three lines) the suffix is evaluated again. Measured: stale by 2 tokens (an Enter)
# and by 19 on average, at most 35 (two lines typed, then Enter): no loss (COMPLETION.md).
MAX_SUFFIX_STALE = 48
SCRATCH_SEQ = 1  # the KV sequence that holds a suffix while the new prefix is evaluated
SPECULATIVE_CHUNK = 16  # a keep_cache run's prefill chunks: a real request waits < 0.3 s
REPO_MARKERS = ("<|repo_name|>", "<|file_sep|>")


def check_gguf(path: Path, size: int = 0, sha256: str = "") -> None:
    """Fail early, with a fix, on the usual ways a model file is wrong."""
    from tsr_lsp.modelfiles import ModelFileError, verify_file

    if path.is_dir():
        raise ModelLoadError(
            f"{path} is a folder; a llama_cpp profile needs a .gguf file "
            '(for a Hugging Face folder set backend = "hf_transformers")'
        )
    if not path.is_file():
        raise ModelLoadError(
            f"model file not found: {path}; run `tsr-lsp models install-defaults` "
            "or set the profile's path"
        )
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ModelLoadError(
                f"{path} is not a GGUF file (bad magic); point the profile at a .gguf"
            )
    try:
        verify_file(path, size, sha256)
    except ModelFileError as exc:
        raise ModelLoadError(str(exc)) from exc


def thread_count(profile: ModelProfile) -> int:
    return profile.n_threads or max(1, os.cpu_count() or 1)


def llama_kwargs(profile: ModelProfile) -> dict[str, Any]:
    """The exact ``Llama(...)`` arguments for a profile (the bench uses them too)."""
    threads = thread_count(profile)
    return {
        "model_path": str(Path(profile.path).expanduser()),
        "n_ctx": profile.n_ctx,
        "n_threads": threads,
        "n_threads_batch": threads,
        "n_gpu_layers": profile.n_gpu_layers,
        "verbose": False,
    }


def sampling_kwargs(request: GenerationRequest) -> dict[str, Any]:
    """The sampling arguments for ``create_*completion`` (shared with the bench)."""
    out: dict[str, Any] = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "repeat_penalty": request.repeat_penalty,
        "stop": request.stop or None,
        "stream": True,
    }
    if request.seed is not None:
        out["seed"] = request.seed
    return out


class LlamaCppBackend:
    name = "llama_cpp"

    def __init__(self, profile_name: str, profile: ModelProfile):
        self.profile_name = profile_name
        self.profile = profile
        self.capabilities = Capabilities(context_length=profile.n_ctx, can_prefill=True)
        self.llm: Any = None
        self.fim_ids: tuple[int, int, int] | None = None
        self.repo_ids: tuple[int, int] | None = None
        self.can_move_suffix = False
        self.suffix_stale = 0  # tokens typed since the cached suffix's cells were evaluated
        self._kv_mb = 0.0
        self._formatter: Any = None  # the GGUF's chat template, for answer_start
        # a second instance of a loaded file (the pool's inline lane): the weights are
        # memory-mapped pages shared with the first, so only the KV cache counts
        self.shared_weights = False

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        path = Path(self.profile.path).expanduser()
        if not self.profile.path:
            raise ModelLoadError(f"profile {self.profile_name!r} has no path to a .gguf file")
        check_gguf(path, self.profile.size, self.profile.sha256)
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - dependency of the package
            raise ModelLoadError("llama-cpp-python is not installed; see `tsr-lsp doctor`") from exc
        try:
            self.llm = Llama(**llama_kwargs(self.profile))
        except Exception as exc:  # llama.cpp reports load failures as ValueError/RuntimeError
            raise ModelLoadError(
                f"{path}: llama.cpp could not load the model ({exc}); the file may be "
                "truncated or from an unsupported architecture"
            ) from exc
        self._formatter = None
        self.fim_ids = self._find_fim_tokens()
        self.repo_ids = self._find_repo_tokens()
        self.can_move_suffix = self.fim_ids is not None and _add_scratch_sequence(self.llm)
        meta = self.llm.metadata
        self.capabilities.can_fim = self.fim_ids is not None
        self.capabilities.chat_template = bool(meta.get("tokenizer.chat_template"))
        self.capabilities.context_length = int(self.llm.n_ctx())
        self._kv_mb = _kv_cache_mb(meta, self.capabilities.context_length)

    def _find_fim_tokens(self) -> tuple[int, int, int] | None:
        """The vocabulary's FIM token ids (llama.cpp reads them from the GGUF)."""
        import llama_cpp

        vocab = self.llm._model.vocab
        ids = (
            llama_cpp.llama_vocab_fim_pre(vocab),
            llama_cpp.llama_vocab_fim_suf(vocab),
            llama_cpp.llama_vocab_fim_mid(vocab),
        )
        return ids if min(ids) >= 0 else None

    def _find_repo_tokens(self) -> tuple[int, int] | None:
        """Ids of ``<|repo_name|>`` and ``<|file_sep|>`` when each is one special token."""
        ids = []
        for marker in REPO_MARKERS:
            found = self.llm.tokenize(marker.encode(), add_bos=False, special=True)
            if len(found) != 1:
                return None
            ids.append(int(found[0]))
        return ids[0], ids[1]

    def count_tokens(self, text: str) -> int:
        self._require_loaded()
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def memory_mb(self) -> float:
        if self.profile.memory_mb:
            return float(self.profile.memory_mb)
        path = Path(self.profile.path).expanduser()
        size = path.stat().st_size if path.is_file() else 0
        kv = self._kv_mb or self.profile.n_ctx * 0.05
        if self.shared_weights:
            return kv + 0.05 * size / 1e6  # KV cache and compute buffers
        return size / 1e6 * 1.1 + kv

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None

    def _require_loaded(self) -> None:
        if self.llm is None:
            raise BackendError(f"profile {self.profile_name!r} is not loaded")

    # ------------------------------------------------------------------ prompts
    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """Token ids for a raw or fill-in-the-middle request (stable part first)."""
        llm = self.llm
        prompt = (request.prompt or "").encode("utf-8")
        if request.suffix is None:
            add_bos = bool(llm._model.add_bos_token())
            return list(llm.tokenize(prompt, add_bos=add_bos, special=True))
        if self.fim_ids is None:
            raise BackendError(
                f"profile {self.profile_name!r}: this model has no fill-in-the-middle tokens; "
                "use a coder model with FIM (e.g. Qwen2.5-Coder) for inline completion"
            )
        pre, suf, mid = self.fim_ids
        body = self._plain(request.prompt or "")
        after = self._plain(request.suffix)
        if request.fim_order == "spm":
            return [*self._repo_tokens(request), suf, *after, pre, *body, mid]
        return [*self._repo_tokens(request), pre, *body, suf, *after, mid]

    def _plain(self, text: str) -> list[int]:
        """User text as tokens; special markers inside it stay plain text."""
        if not text:
            return []
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _repo_tokens(self, request: GenerationRequest) -> list[int]:
        """``<|repo_name|>repo\n<|file_sep|>path\ntext\n ... <|file_sep|>path\n``, the
        layout Qwen2.5-Coder was trained on; [] without context or without the markers."""
        ctx = request.repo
        if ctx is None or self.repo_ids is None or not (ctx.files or ctx.repo or ctx.path):
            return []
        name, sep = self.repo_ids
        out = [name, *self._plain(ctx.repo + "\n")]
        for path, text in ctx.files:
            out += [sep, *self._plain(f"{path}\n{text}\n")]
        return [*out, sep, *self._plain(ctx.path + "\n")]

    # ------------------------------------------------------------------ KV cache
    @staticmethod
    def _reuses_suffix(request: GenerationRequest) -> bool:
        return request.reuse_suffix and request.suffix is not None and request.fim_order == "psm"

    def _prefill_tokens(
        self,
        tokens: list[int],
        cancel: threading.Event | None,
        reuse_suffix: bool = False,
        chunk: int = PREFILL_CHUNK,
    ) -> int:
        """Make the KV cache hold ``tokens`` (reusing the common prefix, and with
        ``reuse_suffix`` a suffix that moved); returns how many tokens were evaluated. Leaves
        the state so an identical prompt samples at once."""
        llm = self.llm
        if len(tokens) >= llm.n_ctx():
            raise BackendError(
                f"prompt of {len(tokens)} tokens does not fit the context of {llm.n_ctx()}; "
                "raise n_ctx in the profile or send less context"
            )
        cached = llm.input_ids[: llm.n_tokens].tolist()
        common = matching(cached, 0, tokens, 0)
        if common == len(tokens) == llm.n_tokens and not llm._requires_eval:
            return 0
        keep = min(common, len(tokens) - 1)  # re-evaluate >= 1 token so logits are fresh
        if reuse_suffix and self.can_move_suffix and self.fim_ids and keep > 0:
            move = suffix_move(cached, tokens, keep, self.fim_ids[1], self._text)
            if move is not None and self.suffix_stale + move.typed <= MAX_SUFFIX_STALE:
                evaluated = self._move_run(tokens, keep, move, cancel, chunk)
                self.suffix_stale += move.typed
                return evaluated
            window = window_reuse(cached, tokens, keep, self.fim_ids)
            if window is not None:
                self.suffix_stale = 0  # the suffix is evaluated afresh
                return self._move_run(tokens, keep, window, cancel, chunk)
        if self.fim_ids and self.fim_ids[1] in tokens[keep:]:
            self.suffix_stale = 0  # the suffix is evaluated afresh
        if keep > 0:
            llm._ctx.kv_cache_seq_rm(-1, keep, -1)
            llm.n_tokens = keep
        else:
            llm.reset()
        return self._eval(tokens[keep:], cancel, chunk)

    def _eval(
        self, todo: list[int], cancel: threading.Event | None, chunk: int = PREFILL_CHUNK
    ) -> int:
        """Evaluate ``todo`` after the cache's tokens, a chunk at a time (cancellable)."""
        llm = self.llm
        for i in range(0, len(todo), chunk):
            if is_cancelled(cancel):
                llm._requires_eval = True
                raise GenerationCancelled(GenerationResult("", finish_reason="cancelled"))
            llm.eval(todo[i : i + chunk])
        return len(todo)

    @contextmanager
    def _cache_kept(self, keep: bool) -> Iterator[None]:
        """With ``keep``, whatever runs inside leaves the KV cache (and the token list that
        says what it holds) as it found it: the sequence's cells are copied out to memory
        (28 KB a token for the 1.5B coder: ~25 MB and a few ms for a 900-token prompt) and
        written back afterwards. Not a second KV sequence sharing the cells: a suffix move
        inside would move those too."""
        if not keep:
            yield
            return
        import ctypes

        import llama_cpp

        llm = self.llm
        ctx = llm._ctx.ctx
        n = int(llm.n_tokens)
        tokens = llm.input_ids[:n].copy()
        stale = self.suffix_stale
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        saved = (ctypes.c_uint8 * size)()
        size = llama_cpp.llama_state_seq_get_data(ctx, saved, size, 0)
        try:
            yield
        finally:
            llm._ctx.kv_cache_seq_rm(0, -1, -1)
            if n and size and llama_cpp.llama_state_seq_set_data(ctx, saved, size, 0):
                llm.input_ids[:n] = tokens
                llm.n_tokens = n
                self.suffix_stale = stale
            else:  # nothing kept, or llama.cpp refused it back: the next prompt is evaluated
                llm.n_tokens = 0
            # the logits are the run's: the next prompt re-evaluates at least its last token
            llm._requires_eval = True

    def _text(self, tokens: list[int]) -> str:
        return bytes(self.llm.detokenize(tokens)).decode("utf-8", "replace")

    def _move_run(
        self,
        tokens: list[int],
        keep: int,
        run: Run,
        cancel: threading.Event | None,
        chunk: int = PREFILL_CHUNK,
    ) -> int:
        """Make the cache hold ``tokens`` with the cached cells of ``run`` moved, not
        evaluated: park them in the scratch sequence at their new positions, evaluate the
        tokens before them, take them back, evaluate the rest."""
        llm = self.llm
        ctx = llm._ctx
        ctx.kv_cache_seq_cp(0, SCRATCH_SEQ, run.old, run.old + run.length)
        ctx.kv_cache_seq_rm(0, keep, -1)
        ctx.kv_cache_seq_shift(SCRATCH_SEQ, run.old, run.old + run.length, run.new - run.old)
        llm.n_tokens = keep
        end = run.new + run.length
        try:
            evaluated = self._eval(tokens[keep : run.new], cancel, chunk)
            ctx.kv_cache_seq_cp(SCRATCH_SEQ, 0, run.new, end)
            llm.input_ids[run.new : end] = tokens[run.new : end]
            llm.n_tokens = end
        finally:
            ctx.kv_cache_seq_rm(SCRATCH_SEQ, -1, -1)
        return evaluated + self._eval(tokens[end:], cancel, chunk)

    def prefill(
        self, request: GenerationRequest, cancel: threading.Event | None = None
    ) -> PrefillResult:
        import time

        self._require_loaded()
        if request.messages is not None:
            raise BackendError("prefill takes a raw prompt or a fill-in-the-middle request")
        start = time.perf_counter()
        tokens = self.prompt_tokens(request)
        evaluated = self._prefill_tokens(tokens, cancel, self._reuses_suffix(request))
        return PrefillResult(len(tokens), evaluated, time.perf_counter() - start)

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        self._require_loaded()
        keep = request.keep_cache and request.messages is None
        with self._cache_kept(keep):
            return self._generate(request, on_token, cancel)

    def _generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None,
        cancel: threading.Event | None,
    ) -> GenerationResult:
        common = sampling_kwargs(request)
        timer = StreamTimer(on_token)
        cached = self.llm.input_ids[: self.llm.n_tokens].tolist()  # what the chat can reuse
        prompt_len = 0
        evaluated_early = 0
        start = ""
        if request.messages is not None:
            continued = self._continued_chat(request) if request.answer_start else None
            if continued is None:
                stream = self.llm.create_chat_completion(messages=request.messages, **common)
                pick = _chat_delta
            else:
                tokens, extra = continued
                start = request.answer_start
                stream = self.llm.create_completion(prompt=tokens, **{**common, **extra})
                pick = _completion_delta
                if on_token is not None:  # the stream starts with the known start
                    on_token(start)
        else:
            tokens = self.prompt_tokens(request)
            prompt_len = len(tokens)
            # a keep_cache run is background work: small chunks, so a real request waits less
            chunk = SPECULATIVE_CHUNK if request.keep_cache else PREFILL_CHUNK
            evaluated_early = self._prefill_tokens(
                tokens, cancel, self._reuses_suffix(request), chunk
            )
            stream = self.llm.create_completion(prompt=tokens, **common)
            pick = _completion_delta
        finish = "stop"
        n = 0
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = pick(choice)
                if piece:
                    n += 1
                    timer.add(piece)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if is_cancelled(cancel):
                    finish = "cancelled"
                    break
        finally:
            stream.close()
        if request.messages is not None:
            prompt_len = max(0, int(self.llm.n_tokens) - n + (finish == "length"))
            # llama-cpp-python evaluates the prompt after its longest cached prefix, and at
            # least its last token (llama.cpp's own counter, n_p_eval, counted the whole
            # prompt whatever was reused)
            prompt = self.llm.input_ids[:prompt_len].tolist()
            evaluated = prompt_len - min(matching(cached, 0, prompt, 0), max(0, prompt_len - 1))
        else:
            evaluated = evaluated_early
        result = timer.result(finish, prompt_len, n, evaluated=evaluated)
        result.text = start + result.text
        if finish == "cancelled":
            raise GenerationCancelled(result)
        return result

    def _continued_chat(
        self, request: GenerationRequest
    ) -> tuple[list[int], dict[str, Any]] | None:
        """The chat prompt as ``create_chat_completion`` renders it (the GGUF's own
        template, as llama-cpp-python applies it) followed by ``answer_start``, and the
        completion arguments the chat adds (its stop string and tokens); None for a model
        whose chat format llama-cpp-python chose by name (the start is then written by the
        model)."""
        llm = self.llm
        template = llm.metadata.get("tokenizer.chat_template")
        if not template or llm.chat_format != "chat_template.default" or llm.chat_handler:
            return None
        if self._formatter is None:  # compiled once: the template is the model's
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos, bos = llm.token_eos(), llm.token_bos()
            text = llm._model.token_get_text
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=text(eos) if eos != -1 else "",
                bos_token=text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
        formatter = self._formatter
        messages: Any = request.messages  # llama-cpp-python's TypedDicts of the same shape
        rendered = formatter(messages=messages)
        tokens = list(
            llm.tokenize(
                rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
            )
        )
        stop = list(request.stop)
        if rendered.stop is not None:
            stop += rendered.stop if isinstance(rendered.stop, list) else [rendered.stop]
        extra = {"stop": stop or None, "stopping_criteria": rendered.stopping_criteria}
        return tokens + self._plain(request.answer_start), extra


def _add_scratch_sequence(llm: Any) -> bool:
    """Give ``llm`` a context with a second sequence sharing one KV buffer (the scratch
    sequence of a suffix move); False, and the context unchanged, if llama.cpp refuses."""
    import contextlib

    from llama_cpp import _internals

    params = llm.context_params
    before = (params.n_seq_max, params.kv_unified)
    params.n_seq_max, params.kv_unified = 2, True
    try:
        ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
    except Exception:
        params.n_seq_max, params.kv_unified = before
        return False
    old = llm._ctx
    llm._ctx = llm._stack.enter_context(contextlib.closing(ctx))
    old.close()
    return True


def _kv_cache_mb(meta: dict[str, str], n_ctx: int) -> float:
    """f16 K and V for every layer: 2 * layers * ctx * kv_width * 2 bytes."""
    arch = meta.get("general.architecture", "")
    try:
        layers = int(meta[f"{arch}.block_count"])
        width = int(meta[f"{arch}.embedding_length"])
        heads = int(meta[f"{arch}.attention.head_count"])
        kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    except (KeyError, ValueError):
        return n_ctx * 0.05
    return 4 * layers * n_ctx * (width // max(1, heads) * kv_heads) / 1e6


def _chat_delta(choice: dict[str, Any]) -> str:
    return str(choice.get("delta", {}).get("content") or "")


def _completion_delta(choice: dict[str, Any]) -> str:
    return str(choice.get("text") or "")
