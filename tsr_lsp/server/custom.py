"""The tsr/* requests (docs/PROTOCOL.md): route, generate (streamed), status."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from tsr_lsp.config import UnknownProfileError
from tsr_lsp.server.feature import CancelToken, LanguageFeature, request
from tsr_lsp.server.streaming import PartialResults
from tsr_lsp.server.work_progress import WorkProgress

if TYPE_CHECKING:  # the engine (numpy, jinja2, the router) loads on first use, not at initialize
    from tsr_lsp.config import Settings
    from tsr_lsp.engine import GenerateOptions, Outcome
    from tsr_lsp.router.decision import RouteRequest
    from tsr_lsp.server.app import TsrLanguageServer

USER_ERROR = -32001
MAX_TOKENS = 32768
MAX_COT_STEPS = 16


class UserError(JsonRpcException):
    """An error the user can fix; the message says how (no traceback attached)."""

    CODE = USER_ERROR


def check_size(text: str, field: str, settings: Settings) -> None:
    limit = settings.server.max_text_kb * 1024
    if len(text) > limit:
        raise JsonRpcInvalidParams(
            f"'{field}' has {len(text):,} characters; the limit is {limit:,} "
            "(server.max_text_kb): send the part that matters"
        )


def memory_read_only(server: TsrLanguageServer) -> str | None:
    """Why this connection's memory cannot be written, or None. Before the Engine exists the
    process has opened no memory, so a held writer lock is another process's (the probe
    needs no import: initialize stays fast)."""
    settings = server.session.settings
    if server.engine_started:
        return server.engine.memory_read_only(settings)
    if not settings.memory.enabled:
        return None
    from tsr_lsp.memory.writer_lock import held_elsewhere

    return held_elsewhere(settings.memory_path())


def warn_if_memory_read_only(server: TsrLanguageServer) -> None:
    """Say once, naming the cause and the fix, that nothing will be remembered here."""
    reason = memory_read_only(server)
    if reason is None:
        return
    if server.in_daemon:
        fix = (
            "close it (a server started with --no-daemon, or a `tsr-lsp memory` command); "
            "the daemon writes again once it has exited"
        )
    else:
        fix = (
            "use the daemon (start `tsr-lsp stdio` without --no-daemon), or stop it with "
            "`tsr-lsp daemon stop` and restart this server"
        )
    server.tell_once(
        "memory-read-only",
        f"memory is read-only in this server: {reason}, so nothing from this editor is "
        f"remembered; {fix}",
    )


@dataclass
class RouteParams:
    text: str
    kind: str | None = None
    language: str | None = None
    context: str | None = None

    def __post_init__(self) -> None:
        self.request("")  # ValueError (a -32602) names what is wrong

    def request(self, project: str) -> RouteRequest:
        from tsr_lsp.router.decision import RouteRequest

        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(RouteParams)}
        return RouteRequest.from_dict(fields, project)


@dataclass
class GenerateParams(RouteParams):
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    cot_steps: int | None = None
    seed: int | None = None
    raw: bool = False
    file: str | None = None
    session: str | None = None
    debug: bool = False
    partial_result_token: Any = None
    work_done_token: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_tokens is not None and not 1 <= self.max_tokens <= MAX_TOKENS:
            raise ValueError(f"'maxTokens' must be within 1..{MAX_TOKENS}")
        if self.cot_steps is not None and not 0 <= self.cot_steps <= MAX_COT_STEPS:
            raise ValueError(f"'cotSteps' must be within 0..{MAX_COT_STEPS}")

    def options(self) -> GenerateOptions:
        from tsr_lsp.engine import GenerateOptions

        return GenerateOptions(
            model=self.model,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            cot_steps=self.cot_steps,
            seed=self.seed,
            raw=self.raw,
            file=self.file or "",
            session=self.session or "",
            debug=self.debug,
        )


@dataclass
class NoParams:
    """Requests without parameters (any object is accepted)."""


class CustomRequests(LanguageFeature):
    name = "custom"

    def project(self) -> str:
        return str(self.root) if self.root else ""

    def checked(self, params: RouteParams) -> RouteRequest:
        """The request, if its text is within server.max_text_kb (a model reads a few
        thousand tokens; megabytes would only hold the shared daemon up)."""
        check_size(params.text, "text", self.settings)
        check_size(params.context or "", "context", self.settings)
        return params.request(self.project())

    @request("tsr/route", RouteParams)
    async def route(self, params: RouteParams, token: CancelToken) -> dict[str, Any]:
        route, settings = self.checked(params), self.settings
        decision = await self.in_thread(lambda: self.engine.route(route, settings))
        return decision.to_json()

    @request("tsr/status", NoParams)
    def status(self, params: NoParams, token: CancelToken) -> dict[str, Any]:
        out = self.engine.status(self.settings)
        out["project"] = str(self.root) if self.root else None
        out["settingsWarnings"] = self.server.session.warnings
        out["daemon"] = self.server.in_daemon
        reason = memory_read_only(self.server)
        out["memory"] = {
            "enabled": self.settings.memory.enabled,
            "readOnly": reason is not None,
            "reason": reason,
        }
        if self.server.daemon_info is not None:
            out["daemonInfo"] = self.server.daemon_info()
        return out

    @request("tsr/generate", GenerateParams)
    async def generate(self, params: GenerateParams, token: CancelToken) -> dict[str, Any]:
        from tsr_lsp.backends.base import BackendError
        from tsr_lsp.prompts.sandbox import RenderError

        route = self.checked(params)
        options = params.options()
        loop = asyncio.get_running_loop()
        loading = WorkProgress(self.server, loop, params.work_done_token)
        partials = PartialResults(self.server, loop, params.partial_result_token)
        settings, root = self.settings, self.root

        def on_event(kind: str, payload: dict[str, Any]) -> None:
            if kind == "loading":  # model loading: work-done progress in the editor
                if payload["stage"] == "begin":
                    loading.begin(payload["message"])
                else:
                    loading.end(payload["message"])
            elif kind == "unavailable" and payload.get("firstReport"):
                loop.call_soon_threadsafe(self.server.tell, payload["reason"])
            partials.send(kind, payload)

        def work() -> Outcome:
            return self.engine.generate(
                route,
                settings=settings,
                project_root=root,
                options=options,
                on_event=on_event,
                cancel=token,
            )

        try:
            result = (await self.generation(work, token)).to_json()
        except (BackendError, UnknownProfileError, RenderError) as exc:
            raise UserError(str(exc)) from exc
        partials.flush()  # coalesced text goes out before the response
        if result.get("episodeId", "") is None:  # memory could not record it
            warn_if_memory_read_only(self.server)
        return result
