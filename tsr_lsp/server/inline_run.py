"""Model runs of inline completion: one generation in the pool's inline lane, stopped as
soon as the suggestion is complete, over budget or superseded (docs/COMPLETION.md,
"Latency machinery"). A base class of ``server.completion.InlineCompletion``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tsr_lsp.backends.base import (
    BackendError,
    GenerationCancelled,
    GenerationRequest,
    Halt,
    RepoContext,
)
from tsr_lsp.backends.pool import INLINE
from tsr_lsp.completion.context import Cursor, FimPrompt
from tsr_lsp.completion.postprocess import Cleaned, postprocess
from tsr_lsp.config import ModelProfile
from tsr_lsp.router.decision import Decision
from tsr_lsp.server.feature import LanguageFeature
from tsr_lsp.server.inline_outcomes import Tuning


@dataclass
class Job:
    """One inline completion request of a document, until a newer one supersedes it."""

    uri: str
    superseded: asyncio.Future[None]
    token: threading.Event = field(default_factory=threading.Event)  # $/cancelRequest, close
    stop: threading.Event = field(init=False)

    def __post_init__(self) -> None:
        self.stop = Halt(self.token)

    def supersede(self) -> None:
        self.stop.set()
        if not self.superseded.done():
            self.superseded.set_result(None)


def repo_context(prompt: FimPrompt) -> RepoContext:
    """The repository header of a prompt: its repo name, other files' chunks, its path."""
    return RepoContext(prompt.repo, prompt.path, [(c.path, c.text) for c in prompt.chunks])


class InlineRuns(LanguageFeature):
    """Generations for inline completion (the first greedy, the others sampled)."""

    decision: Decision | None = None  # kept by the feature; a failed model clears it

    def _lane_profile(self, name: str) -> ModelProfile:
        profile = self.settings.profile(name)
        n_ctx = min(profile.n_ctx, self.settings.completion.n_ctx)
        return dataclasses.replace(profile, n_ctx=n_ctx)

    def _request(self, prompt: FimPrompt, **sampling: Any) -> GenerationRequest:
        conf = self.settings.completion
        return GenerationRequest(
            prompt=prompt.prefix,
            suffix=prompt.suffix,
            repo=repo_context(prompt) if prompt.uses_repo_format else None,
            fim_order=conf.fim_order,
            reuse_suffix=conf.reuse_suffix,
            **sampling,
        )

    def _generate(
        self,
        stop: threading.Event,
        cur: Cursor,
        prompt: FimPrompt,
        decision: Decision,
        count: int,
        multiline: bool,
        tuning: Tuning,
        speculative: threading.Event | None = None,
    ) -> list[Cleaned]:
        """In a worker thread: up to ``count`` suggestions (the first greedy), cleaned, until
        ``stop`` (superseded, cancelled). A ``speculative`` run is background work: the next
        real completion of the model stops it, it leaves the KV cache as it was, and it sets
        the event once the model writes (its prompt is evaluated)."""
        out: list[Cleaned] = []
        profile = self._lane_profile(decision.model)
        for i in range(count):
            if stop.is_set():
                break
            req = self._request(
                prompt,
                max_tokens=tuning.max_tokens if multiline else min(tuning.max_tokens, 40),
                temperature=0.0 if i == 0 else 0.7,
                top_p=0.95,
                repeat_penalty=1.0,
                seed=i,
                keep_cache=speculative is not None,
            )
            raw = self._run(
                stop, req, cur, multiline, prompt.healed, decision.model, profile, speculative
            )
            if raw is None:
                break
            cleaned = postprocess(raw, cur, multiline=multiline, healed=prompt.healed)
            self.log.debug("raw %r -> %r (%s)", raw[:200], cleaned.text[:200], cleaned.reason)
            out.append(cleaned)
        return out

    def _run(
        self,
        stop: threading.Event,
        req: GenerationRequest,
        cur: Cursor,
        multiline: bool,
        healed: str,
        model: str,
        profile: ModelProfile,
        speculative: threading.Event | None = None,
    ) -> str | None:
        """One generation; stops itself as soon as the suggestion is complete (one line, or
        the end of the block) or over budget. None: stopped (superseded) or failed."""
        halt = Halt(stop)
        pieces: list[str] = []
        first: list[float] = []
        budget = self.settings.completion.max_ms / 1000
        over = []

        def on_token(piece: str) -> None:
            pieces.append(piece)
            now = time.monotonic()
            if not first:
                first.append(now)
                if speculative is not None:
                    speculative.set()
            text = "".join(pieces)
            if _complete(text, cur, multiline, healed):
                halt.set()
            elif now - first[0] > budget and "\n" in text.strip("\n"):
                over.append(True)  # the budget ends extra lines, never the first one
                halt.set()

        try:
            result = self.engine.pool.generate(
                model,
                req,
                on_token=on_token,
                cancel=halt,
                profile=profile,
                lane=INLINE,
                preempt=stop if speculative is not None else None,
            )
            text = result.text
            self.log.debug(
                "generated: %s, %d tokens (prompt %d, %d evaluated)",
                result.finish_reason,
                result.completion_tokens,
                result.prompt_tokens,
                result.evaluated_prompt_tokens,
            )
        except GenerationCancelled as exc:
            if stop.is_set():
                return None
            text = exc.result.text or "".join(pieces)
            self.log.debug("stopped early after %d tokens", exc.result.completion_tokens)
        except BackendError as exc:
            self.decision = None  # route again: the pool may fall back to another profile
            self.log.warning("inline completion with %r failed: %s", model, exc)
            return None
        if over:  # keep complete lines only
            text = text[: text.rstrip("\n").rfind("\n") + 1]
        return text


_BLANK_LINES = re.compile(r"^(?:[ \t]*\n)*")


def _complete(text: str, cur: Cursor, multiline: bool, healed: str) -> bool:
    """Is the suggestion streamed so far already all we will show? (stop generating)
    On a blank line, empty lines the model starts with are skipped by post-processing."""
    body = text if cur.line_prefix.strip() else _BLANK_LINES.sub("", text)
    if "\n" not in body:
        return False
    if not multiline:
        return True
    cut = postprocess(text, cur, multiline=True, healed=healed)
    return cut.reason in ("end of block", "repeats the lines below", "line limit")
