"""The Engine: the one object a daemon owns. Router, model pool, prompts (and memory).

Every editor connection shares one Engine, so models are loaded once. Methods here are
synchronous and may block (model loading, generation); the server runs them in threads.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tsr_lsp import __version__, paths
from tsr_lsp.backends.base import (
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    Halt,
    ModelLoadError,
)
from tsr_lsp.backends.pool import ModelPool
from tsr_lsp.config import Settings, load_settings
from tsr_lsp.prompts import program
from tsr_lsp.prompts.builder import build_messages
from tsr_lsp.prompts.cot import ANSWER_MARK, split_answer
from tsr_lsp.release import rss_mb
from tsr_lsp.router.decision import Decision, Prediction, RouteRequest
from tsr_lsp.router.policy import answer_method, decide

log = logging.getLogger(__name__)
T = TypeVar("T")

EventSink = Callable[[str, dict[str, Any]], None]


def _stop_when(enough: Callable[[str], bool], stop: Halt, emit: EventSink) -> EventSink:
    """``emit`` that also sets ``stop`` once the streamed text is ``enough``."""
    pieces: list[str] = []

    def sink(kind: str, payload: dict[str, Any]) -> None:
        emit(kind, payload)
        if kind == "delta" and not stop.is_set():
            pieces.append(str(payload.get("delta", "")))
            if enough("".join(pieces)):
                stop.set()

    return sink


@dataclass
class GenerateOptions:
    """Per-request overrides a client may send with tsr/generate."""

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    cot_steps: int | None = None  # reasoning depth (calibrating a configuration)
    seed: int | None = None
    raw: bool = False  # send the text as-is (no template, no CoT): used by benchmarks
    file: str = ""  # the document the request is about (kept in the episode)
    session: str = ""  # an Ask session id: its turns are neighbours in memory
    debug: bool = False  # return the rendered prompt messages (what memory put in them)
    template: str = ""  # render this template instead of the decision's (AI actions)
    variables: dict[str, Any] = field(default_factory=dict)  # template variables to set
    # the caller uses only the start of the answer (a docstring action takes the docstring,
    # not the code the model writes after it): generation stops once it returns True for
    # the text so far, and the answer is that text (finish_reason "stop", not a cancel)
    enough: Callable[[str], bool] | None = None
    # the start of the answer the caller knows already (GenerationRequest.answer_start);
    # used only for an answer without steps, which would come before it
    answer_start: str = ""


@dataclass
class Outcome:
    decision: Decision
    text: str
    reasoning: str
    result: GenerationResult
    cancelled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        r = self.result
        return {
            "decision": self.decision.to_json(),
            "text": self.text,
            "reasoning": self.reasoning,
            "finishReason": r.finish_reason,
            "cancelled": self.cancelled,
            "usage": {"promptTokens": r.prompt_tokens, "completionTokens": r.completion_tokens},
            "timings": {
                "ttftMs": round(r.ttft_s * 1000, 2),
                "totalMs": round(r.total_s * 1000, 2),
                "tokensPerS": round(r.tokens_per_s, 2),
            },
            **self.extra,
        }


class Engine:
    def __init__(self, settings: Settings, *, follow_user_config: bool = False):
        self.settings = settings
        self.pool = ModelPool(settings)
        self.started = time.time()
        self._router: Any = None
        self._router_lock = threading.Lock()
        self._memory: Any = None
        self._outcomes: Any = None
        self._renderer: Any = None
        self._heavy: ThreadPoolExecutor | None = None
        # (monotonic time read, stored feedback) for routing, refreshed by one request
        self._feedback_cache: tuple[float, list[Any]] | None = None
        self._feedback_lock = threading.Lock()
        # the daemon's Engine is built from the user's config file and follows its changes
        self.follow_user_config = follow_user_config
        self._user_stamp = _mtime(paths.user_config_file()) if follow_user_config else None

    def refresh(self) -> list[str]:
        """Apply a changed user config file to what the Engine owns (memory, router, model
        budget) without a restart; returns one line per setting that needs one."""
        if not self.follow_user_config:
            return []
        stamp = _mtime(paths.user_config_file())
        if stamp == self._user_stamp:
            return []
        self._user_stamp = stamp
        new, _ = load_settings(None)
        old, notes = self.settings, []
        with self._router_lock:
            self.settings = new
            self.pool.settings = new
            if new.router != old.router:
                self._router = None
                self.__dict__.pop("_routers", None)
            if new.memory != old.memory and self._memory is not None:
                memory, self._memory = self._memory, None  # reopened on use if enabled
                memory.close()
        if new.daemon != old.daemon:
            notes.append("daemon settings changed: they apply when the daemon restarts")
        if new.log_level != old.log_level:
            notes.append("log_level changed: it applies when the daemon restarts")
        log.info("user config reloaded (%s)", paths.user_config_file())
        return notes

    def _once(self, name: str, make: Callable[[], T]) -> T:
        """The attribute ``name``, made by ``make()`` on first use. Only the making takes
        the Engine's lock: every route and the event loop ask for these, and a lock taken
        per request queued them all behind one thread waiting for the GIL."""
        value = getattr(self, name)
        if value is None:
            with self._router_lock:
                value = getattr(self, name)
                if value is None:
                    value = make()
                    setattr(self, name, value)
        return value

    @property
    def heavy(self) -> ThreadPoolExecutor:
        """One thread for CPU-bound Python work of any connection (big template lints):
        several at once would starve the event loop of the GIL and stall every client."""
        return self._once("_heavy", lambda: ThreadPoolExecutor(1, thread_name_prefix="tsr-heavy"))

    @property
    def renderer(self) -> Any:
        """Worker processes for template renders the server previews (prompts/worker.py)."""

        def make() -> Any:
            from tsr_lsp.prompts.worker import Renderer

            return Renderer()

        return self._once("_renderer", make)

    def memory_for(self, settings: Settings) -> Any:
        """The memory a session may use: None when its settings turn memory off."""
        return self.memory if settings.memory.enabled else None

    def memory_read_only(self, settings: Settings) -> str | None:
        """Why this process cannot record the session's memory (another process holds the
        writer), or None; never waits, and never opens memory just to ask."""
        if not (settings.memory.enabled and self.settings.memory.enabled):
            return None
        if self._memory is None:
            from tsr_lsp.memory.writer_lock import held_elsewhere

            return held_elsewhere(self.settings.memory_path())
        reason: str | None = self._memory.read_only_reason()
        return reason

    @property
    def memory(self) -> Any:
        """The MemoryService (a FeedbackSource for the router); Tantivy opens on first use."""
        if not self.settings.memory.enabled:
            return self._memory

        def make() -> Any:
            from tsr_lsp.memory.service import MemoryService

            return MemoryService(self.settings)

        return self._once("_memory", make)

    # ------------------------------------------------------------------ routing
    @property
    def router(self) -> Any:
        """The category predictor, loaded on first use so `initialize` stays fast."""

        def make() -> Any:
            from tsr_lsp.router.loader import load_router

            return load_router(self.settings)

        return self._once("_router", make)

    def success_table(self, settings: Settings) -> Any:
        """Graded outcomes the policy picks models by (None: no calibration evidence);
        unreadable evidence never blocks routing."""
        from tsr_lsp.router.success import OutcomeCache

        extra, key = self._feedback_outcomes(settings)
        outcomes = self._once("_outcomes", OutcomeCache)
        try:  # outside the Engine's lock: it looks at files (OutcomeCache has its own)
            return outcomes.table(settings.router.outcomes, extra, key)
        except Exception as exc:  # a damaged outcomes file: route by the policy table
            log.warning("router outcomes unavailable: %s", exc)
            return None

    FEEDBACK_REFRESH_S = 60.0
    FEEDBACK_RETRY_S = 5.0  # memory was being written: the next try, meanwhile the older read

    def _feedback_outcomes(self, settings: Settings) -> tuple[list[Any], str]:
        """Stored feedback as outcomes for the success predictor, read at most once a
        minute (a store query per request would cost more than the decision) by one
        request; the others, and every request while an import holds the store, route
        with the previous read (every victim of the reliability bench's clients section
        waited 3.5 s for one import when they all refreshed at once)."""
        from tsr_lsp.router.success import feedback_outcomes, fingerprint

        if settings.router.outcomes == "off" or not settings.memory.enabled:
            return [], ""
        now = time.monotonic()
        cached = self._feedback_cache
        stale = cached is None or now - cached[0] > self.FEEDBACK_REFRESH_S
        if stale and self._feedback_lock.acquire(blocking=False):
            try:
                examples = (
                    self.memory.feedback_examples(limit=500, routing=True)
                    if self.memory is not None
                    else []
                )
                cached = (now, examples)
            except Exception as exc:  # written meanwhile, or broken: never blocks routing
                log.info("feedback unavailable for routing, the older read kept: %s", exc)
                retry_at = now - self.FEEDBACK_REFRESH_S + self.FEEDBACK_RETRY_S
                cached = (retry_at, cached[1] if cached else [])
            finally:
                self._feedback_lock.release()
            self._feedback_cache = cached
        prints = {n: fingerprint(p) for n, p in settings.models.items()}
        rows = feedback_outcomes(cached[1] if cached else [], prints)
        key = f"{len(rows)}:{sum(o.score for o in rows)}:{rows[-1].task if rows else ''}"
        return rows, key

    def available_profiles(self, settings: Settings | None = None) -> set[str]:
        settings = settings or self.settings
        failed = self.pool.unavailable(settings.models)
        return {name for name in settings.models if name not in failed}

    def router_for(self, settings: Settings) -> Any:
        """The router a (project's) settings name; each weights file is loaded once."""
        if settings.router.weights == self.settings.router.weights:
            return self.router
        loaded = self.__dict__.get("_routers", {}).get(settings.router.weights)
        if loaded is not None:
            return loaded
        with self._router_lock:
            routers = self.__dict__.setdefault("_routers", {})
            if settings.router.weights not in routers:
                from tsr_lsp.router.loader import load_router

                routers[settings.router.weights] = load_router(settings)
            return routers[settings.router.weights]

    def predict(
        self, request: RouteRequest, history: Any = None, settings: Settings | None = None
    ) -> Prediction:
        router = self.router_for(settings) if settings is not None else self.router
        prediction: Prediction = router.predict(request, history)
        return prediction

    def route(
        self, request: RouteRequest, settings: Settings | None = None, forced: str | None = None
    ) -> Decision:
        """Predict (with the user's history when memory is attached), then apply the policy
        and the feedback statistics for the predicted category. ``forced``: the profile the
        request names; it gets the policy table's settings (graded outcomes choose a
        configuration only when the router chooses the model)."""
        from tsr_lsp.router.feedback import safe_history, safe_stats

        settings = settings or self.settings
        try:
            memory = self.memory_for(settings)
        except Exception as exc:  # a store that cannot open must not stop routing
            log.warning("memory unavailable for routing: %s", exc)
            memory = None
        prediction = self.predict(request, safe_history(memory, request.project), settings)
        stats = safe_stats(memory, prediction.category, request.text)
        available = self.available_profiles(settings)
        table = None if forced else self.success_table(settings)
        return decide(prediction, request, settings, available, stats, table)

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        request: RouteRequest,
        *,
        settings: Settings | None = None,
        project_root: Path | None = None,
        options: GenerateOptions | None = None,
        on_event: EventSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Outcome:
        settings = settings or self.settings
        options = options or GenerateOptions()
        emit = on_event or (lambda _kind, _payload: None)
        decision = self.route(request, settings, forced=options.model)
        if options.model:
            forced = settings.profile(options.model)  # raises UnknownProfileError with the fix
            decision.model = options.model
            decision.explanation += f"; model forced to '{options.model}' by the request"
            row = settings.router.policy.get(decision.category)
            method = answer_method(row.method if row else "steps", request, forced)
            if method != decision.method:
                how = "by a program" if method == "program" else "in steps"
                decision.explanation += f"; answered {how}"
            decision.method = method
        if options.max_tokens is not None:
            decision.max_tokens = options.max_tokens
        if options.temperature is not None:
            decision.temperature = options.temperature
        if options.cot_steps is not None:  # a depth asked for is answered in steps
            decision.cot_steps = options.cot_steps
            decision.method = "steps"
        if options.raw:
            decision.cot_steps = 0
            decision.method = "steps"
        if options.template:
            decision.template = options.template
            decision.method = "steps"
        emit("decision", decision.to_json())
        started = time.time()
        memory = self.memory_for(settings)
        memory_vars: dict[str, Any] = {"episodes": [], "patterns": []}
        extra: dict[str, Any] = {}
        if options.raw:
            messages = [{"role": "user", "content": request.text}]
        else:
            if memory is not None:
                memory_vars = memory.prompt_memory(
                    request.project, request.text, decision.category, options.session
                )
            extra = {"memory": memory_vars, **options.variables}
            messages = build_messages(decision, request, project_root, extra)
        gen_request = GenerationRequest(
            messages=messages,
            max_tokens=decision.max_tokens,
            temperature=decision.temperature,
            top_p=decision.top_p,
            # a repetition penalty also penalises newlines and indentation, which merges lines
            # of code ("# open it with open(path) as f:"); prose keeps the mild default
            repeat_penalty=1.0 if decision.category in ("code", "math") else 1.1,
            seed=options.seed,
            answer_start=options.answer_start
            if decision.cot_steps == 0 and decision.method == "steps"
            else "",
        )
        cancelled = False
        answered_by = decision.method
        solved: tuple[str, str] | None = None  # (program, value) once computed
        stop = cancel
        if options.enough is not None:  # stop: the caller's cancel, or enough written
            stop = Halt(cancel)
            emit = _stop_when(options.enough, stop, emit)
        try:
            result = self._generate_with_fallback(
                decision, gen_request, settings, emit, stop, forced=bool(options.model)
            )
            if answered_by == "program" and not (cancel is not None and cancel.is_set()):
                result, solved = self._steps_unless_computed(
                    decision,
                    result,
                    gen_request,
                    (request, project_root, extra),
                    settings,
                    emit,
                    cancel,
                )
                answered_by = "program" if solved else "steps"
        except GenerationCancelled as exc:
            result = exc.result
            cancelled = not (isinstance(stop, Halt) and stop.set_itself())
            if not cancelled:
                result = dataclasses.replace(result, finish_reason="stop")
        # a cancel that came after the last token still means the caller never got the answer
        cancelled = cancelled or (cancel is not None and cancel.is_set())
        reasoning, answer = solved or _split(answered_by, decision.cot_steps, result.text)
        outcome = Outcome(decision, answer, reasoning, result, cancelled)
        if memory is not None and not options.raw and not cancelled:
            episode = memory.record_generation(
                request.project,
                request,
                decision,
                answer,
                started=started,
                file=options.file,
                session=options.session,
            )
            outcome.extra["episodeId"] = episode  # editors send it back with tsr/feedback
        outcome.extra["memory"] = {
            "episodes": [e["id"] for e in memory_vars["episodes"]],
            "patterns": [p["id"] for p in memory_vars["patterns"]],
        }
        if options.debug:
            outcome.extra["messages"] = messages
        return outcome

    def _steps_unless_computed(
        self,
        decision: Decision,
        first: GenerationResult,
        request: GenerationRequest,
        prompt: tuple[RouteRequest, Path | None, dict[str, Any]],
        settings: Settings,
        emit: EventSink,
        cancel: threading.Event | None,
    ) -> tuple[GenerationResult, tuple[str, str] | None]:
        """(result, (program, value) or None): a program that computes is the answer (its
        value streamed last, as "Answer: 80", so a client showing the stream shows it);
        otherwise the row's CoT steps answer ``request`` again, and the result counts both
        generations (what the user waited for). The decision keeps method "program" (how it
        was routed); ``prompt`` is what ``build_messages`` needs besides the decision."""
        try:
            solved = program.solve(first.text)
            # the editors show the stream, not the result: end it with what was computed
            emit("delta", {"delta": f"\n\n{ANSWER_MARK} {solved[1]}"})
            return first, solved
        except program.ProgramError as exc:
            why = str(exc)
        log.info("the program did not compute (%s): answering in steps", why)
        decision.explanation += f"; the program did not compute ({why}): CoT {decision.cot_steps}"
        emit("decision", decision.to_json())
        messages = build_messages(dataclasses.replace(decision, method="steps"), *prompt)
        steps = dataclasses.replace(request, messages=messages)
        second = self._generate_with_fallback(decision, steps, settings, emit, cancel, forced=True)
        return dataclasses.replace(
            second,
            prompt_tokens=first.prompt_tokens + second.prompt_tokens,
            completion_tokens=first.completion_tokens + second.completion_tokens,
            ttft_s=first.total_s + second.ttft_s,
            total_s=first.total_s + second.total_s,
        ), None

    def _generate_with_fallback(
        self,
        decision: Decision,
        gen_request: GenerationRequest,
        settings: Settings,
        emit: EventSink,
        cancel: threading.Event | None,
        *,
        forced: bool,
    ) -> GenerationResult:
        """Generate with the decided profile; if it cannot load, move to the cheapest
        available profile carrying the same tags (a forced model is not replaced)."""
        from tsr_lsp.router.policy import pick_profile

        tried: list[str] = []
        while True:
            profile = settings.profile(decision.model)
            try:
                return self.pool.generate(
                    decision.model,
                    gen_request,
                    on_token=lambda piece: emit("delta", {"delta": piece}),
                    cancel=cancel,
                    progress=lambda stage, msg: emit("loading", {"stage": stage, "message": msg}),
                    profile=profile,
                )
            except ModelLoadError as exc:
                tried.append(decision.model)
                emit(
                    "unavailable",
                    {
                        "model": decision.model,
                        "reason": str(exc),
                        "firstReport": getattr(exc, "first_report", False),
                    },
                )
                available = self.available_profiles(settings) - set(tried)
                nxt = None if forced else pick_profile(settings.models, profile.tags, available)
                if nxt is None:
                    raise
                decision.explanation += f"; '{decision.model}' unavailable: fallback '{nxt}'"
                decision.model = nxt
                decision.fallback = True
                emit("decision", decision.to_json())

    # ------------------------------------------------------------------ status
    def status(self, settings: Settings | None = None) -> dict[str, Any]:
        """State of the profiles as this session configures them."""
        settings = settings or self.settings
        failed = self.pool.unavailable(settings.models)
        pool_status = self.pool.status()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptimeS": round(time.time() - self.started, 1),
            "router": getattr(self._router, "name", None),
            "models": {
                name: {
                    "backend": prof.backend,
                    "tags": prof.tags,
                    "loaded": self.pool.is_loaded(name, prof),
                    "error": failed.get(name),
                    **(pool_status.get(name, {}) if self.pool.is_loaded(name, prof) else {}),
                }
                for name, prof in settings.models.items()
            },
            "rssMb": round(rss_mb(), 1),
            "loadedModels": pool_status,  # every model the pool holds, whoever loaded it
            "idleUnloadS": self.settings.daemon.idle_unload_s,
            "memoryBudgetMb": self.settings.memory_budget_mb,
            "modelsMb": round(self.pool.used_mb(), 1),
        }

    def close(self) -> None:
        self.pool.close()
        if self._renderer is not None:
            self._renderer.close()
        if self._heavy is not None:
            self._heavy.shutdown(wait=False, cancel_futures=True)
        if self._memory is not None:
            self._memory.close()


def _split(answered_by: str, cot_steps: int, text: str) -> tuple[str, str]:
    """(reasoning, answer): a program and its computed result, or CoT steps and the answer."""
    if answered_by == "program":
        try:
            return program.solve(text)
        except program.ProgramError:  # cancelled mid-program: the text as it came
            return "", text.strip()
    return split_answer(text, cot_steps)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
