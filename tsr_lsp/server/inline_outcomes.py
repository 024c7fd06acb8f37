"""Outcomes of inline suggestions (docs/COMPLETION.md, "Acceptance and feedback").

The part of the inline completion feature that outlives a request: suggestions shown wait
here for their outcome (the item's ``tsr.inline.accepted`` command and the editors'
``tsr/inline/did*`` notifications), become memory episodes of kind ``completion``, feed
``tsr/inline/stats`` and move the completion settings through the router's feedback.
A base class of ``server.completion.InlineCompletion`` (its handlers are declared here).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from tsr_lsp.server.feature import CancelToken, LanguageFeature, command, notification, request

ACCEPTED = "tsr.inline.accepted"
PENDING_MAX = 500  # suggestions kept for their outcome
PENDING_TTL_S = 600.0  # a shown suggestion without an outcome is dropped after this
STRENGTH = {"": 0, "rejected": 1, "edited": 2, "accepted": 3}
RETUNE_EVERY = 10  # recorded outcomes between two feedback updates of the settings


@dataclass
class EventParams:
    """``{"id", "index"?, "acceptedLength"?}``: the item's command arguments."""

    id: str
    index: int = 0
    accepted_length: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("'id' must be the id from the item's command arguments")


@dataclass
class StatsParams:
    project: str | None = None
    all_projects: bool = False


@dataclass
class Shown:
    """A suggestion waiting for its outcome (the acceptance events)."""

    texts: tuple[str, ...]
    language: str
    file: str
    model: str
    multiline: bool
    created: float = field(default_factory=time.monotonic)
    episode: str | None = None
    outcome: str = ""


@dataclass
class Tuning:
    """Completion settings after the user's feedback (router/feedback.py)."""

    max_tokens: int
    multiline: str
    note: str = ""
    recorded: int = 0  # outcomes recorded since the last update


class InlineOutcomes(LanguageFeature):
    """Suggestions waiting for their outcome, the episodes they become, and the settings
    tuned from them."""

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.pending: OrderedDict[str, Shown] = OrderedDict()
        self.tuning: Tuning | None = None
        # outcomes are written one at a time, in arrival order (a partial acceptance and
        # the acceptance after it update one episode), and tsr/inline/stats waits for them
        self.writing = asyncio.Lock()
        # speculative completions of this connection (server/completion.py): started, ready
        # in the cache, used by the request after Enter
        self.speculated = {"started": 0, "ready": 0, "used": 0}

    def project(self) -> str:
        return str(self.root) if self.root else ""

    def _tuned(self) -> Tuning:
        tuning = self.tuning
        if tuning is None:
            tuning = self.tuning = self._retune()
        return tuning

    def _retune(self) -> Tuning:
        """Feedback moves length and multi-line (router/feedback.completion_settings)."""
        from tsr_lsp.router.feedback import CompletionOutcome, completion_settings

        conf = self.settings.completion
        plain = Tuning(conf.max_tokens, conf.multiline)
        memory = self.engine.memory
        if memory is None:
            return plain
        try:
            eps = memory.completions(self.project(), 500)
        except Exception as exc:  # memory trouble never stops completion
            self.log.info("completion feedback unavailable: %s", exc)
            return plain
        outcomes = [
            CompletionOutcome(
                lines=int(ep.meta.get("lines", 1)),
                chars=int(ep.meta.get("chars", len(ep.response))),
                outcome=ep.outcome,
                accepted_chars=int(ep.meta.get("acceptedLength", 0)),
            )
            for ep in eps
            if ep.outcome
        ]
        max_tokens, multiline, note = completion_settings(outcomes, conf.max_tokens, conf.multiline)
        if note:
            self.log.info("%s", note)
        return Tuning(max_tokens, multiline, note)

    def _remember(
        self, cid: str, texts: tuple[str, ...], language: str, file: str, model: str, multi: bool
    ) -> None:
        now = time.monotonic()
        while self.pending and (
            len(self.pending) >= PENDING_MAX
            or now - next(iter(self.pending.values())).created > PENDING_TTL_S
        ):
            self.pending.popitem(last=False)
        self.pending[cid] = Shown(texts, language, file, model, multi)

    @notification("tsr/inline/didShow", EventParams)
    def did_show(self, params: EventParams) -> None:
        if params.id not in self.pending:
            self.log.debug("didShow for unknown completion %s", params.id)

    @notification("tsr/inline/didPartiallyAccept", EventParams)
    async def did_partially_accept(self, params: EventParams) -> None:
        await self._outcome(params, "edited")

    @notification("tsr/inline/didDismiss", EventParams)
    async def did_dismiss(self, params: EventParams) -> None:
        await self._outcome(params, "rejected")

    @command(ACCEPTED, EventParams)
    async def accepted(self, params: EventParams, token: CancelToken) -> dict[str, Any]:
        return await self._outcome(params, "accepted")

    async def _outcome(self, params: EventParams, outcome: str) -> dict[str, Any]:
        shown = self.pending.get(params.id)
        if shown is None:
            self.log.debug("%s for unknown completion %s", outcome, params.id)
            return {"id": params.id, "outcome": None}
        if STRENGTH[outcome] <= STRENGTH[shown.outcome]:
            return {"id": params.id, "outcome": shown.outcome}  # a dismiss after an accept
        shown.outcome = outcome
        index = min(max(params.index, 0), len(shown.texts) - 1)
        async with self.writing:
            await self.in_thread(lambda: self._store(shown, index, outcome, params.accepted_length))
        return {"id": params.id, "outcome": outcome}

    def _store(self, shown: Shown, index: int, outcome: str, accepted_length: int) -> None:
        from tsr_lsp.memory.episodic import Episode

        memory = self.engine.memory
        if memory is None:
            return
        text = shown.texts[index]
        meta = {
            "lines": text.count("\n") + 1,
            "chars": len(text),
            "acceptedLength": len(text) if outcome == "accepted" else accepted_length,
            "multiline": shown.multiline,
            "index": index,
        }
        if shown.episode is not None:
            memory.update_completion(shown.episode, outcome, meta)
            return
        shown.episode = memory.record_completion(
            Episode(
                project=self.project(),
                text=text,
                kind="completion",
                response=text[:400],
                language=shown.language,
                file=shown.file,
                category="code",
                model=shown.model,
                temperature=0.0,
                cot_steps=0,
                template="inline_completion",
                outcome=outcome,
                outcome_ts=time.time(),
                meta=meta,
            )
        )
        if self.tuning is not None:
            self.tuning.recorded += 1
            if self.tuning.recorded >= RETUNE_EVERY:
                self.tuning = self._retune()

    @request("tsr/inline/stats", StatsParams)
    async def stats(self, params: StatsParams, token: CancelToken) -> dict[str, Any]:
        project = None if params.all_projects else (params.project or self.project())
        memory = self.engine.memory
        speculative = dict(self.speculated)
        if memory is None:
            table: dict[str, Any] = {"shown": 0, "accepted": 0, "partial": 0, "rejected": 0}
            return {
                "project": project,
                **table,
                "acceptanceRate": 0.0,
                "byLanguage": {},
                "speculative": speculative,
            }
        async with self.writing:  # the outcomes received before this request count
            result = await self.in_thread(lambda: memory.completion_stats(project))
        return {"project": project, **result, "speculative": speculative}
