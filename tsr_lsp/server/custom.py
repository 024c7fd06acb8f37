"""The tsr/* requests (docs/PROTOCOL.md): route, generate (streamed), status."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from tsr_lsp.backends.base import BackendError
from tsr_lsp.config import UnknownProfileError
from tsr_lsp.engine import GenerateOptions
from tsr_lsp.prompts.sandbox import RenderError
from tsr_lsp.router.decision import RouteRequest
from tsr_lsp.server.streaming import PartialResults
from tsr_lsp.server.work_progress import WorkProgress

if TYPE_CHECKING:
    from tsr_lsp.server.app import TsrLanguageServer

USER_ERROR = -32001


class UserError(JsonRpcException):
    """An error the user can fix; the message says how (no traceback attached)."""

    CODE = USER_ERROR


def parse_route_request(params: Any, ls: TsrLanguageServer) -> RouteRequest:
    root = ls.project_root()
    try:
        return RouteRequest.from_dict(params, str(root) if root else "")
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None


def parse_options(params: dict[str, Any]) -> GenerateOptions:
    def typed(key: str, kind: type | tuple[type, ...]) -> Any:
        value = params.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise JsonRpcInvalidParams(f"'{key}' has the wrong type")
        return value

    max_tokens = typed("maxTokens", int)
    if max_tokens is not None and not 1 <= max_tokens <= 32768:
        raise JsonRpcInvalidParams("'maxTokens' must be within 1..32768")
    return GenerateOptions(
        model=typed("model", str),
        max_tokens=max_tokens,
        temperature=typed("temperature", (int, float)),
        seed=typed("seed", int),
        raw=bool(params.get("raw", False)),
        file=typed("file", str) or "",
        session=typed("session", str) or "",
        debug=bool(params.get("debug", False)),
    )


def register(server: TsrLanguageServer) -> None:
    @server.feature("tsr/route")
    def route(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        request = parse_route_request(params, ls)
        return ls.engine.route(request, ls.session.settings).to_json()

    @server.feature("tsr/status")
    def status(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        out = ls.engine.status(ls.session.settings)
        out["project"] = str(ls.project_root()) if ls.project_root() else None
        out["settingsWarnings"] = ls.session.warnings
        out["daemon"] = ls.in_daemon
        return out

    @server.feature("tsr/generate")
    async def generate(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        request = parse_route_request(params, ls)
        options = parse_options(params)
        token = params.get("partialResultToken")
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        loading = WorkProgress(ls, loop, params.get("workDoneToken"))
        partials = PartialResults(ls, loop, token)

        def on_event(kind: str, payload: dict[str, Any]) -> None:
            if kind == "loading":  # model loading: work-done progress in the editor
                if payload["stage"] == "begin":
                    loading.begin(payload["message"])
                else:
                    loading.end(payload["message"])
            elif kind == "unavailable" and payload.get("firstReport"):
                loop.call_soon_threadsafe(ls.tell, payload["reason"])
            partials.send(kind, payload)

        def work() -> dict[str, Any]:
            outcome = ls.engine.generate(
                request,
                settings=ls.session.settings,
                project_root=ls.project_root(),
                options=options,
                on_event=on_event,
                cancel=cancel,
            )
            return outcome.to_json()

        future = loop.run_in_executor(ls.thread_pool, work)
        try:
            result = await asyncio.shield(future)
            partials.flush()  # coalesced text goes out before the response
            return result
        except asyncio.CancelledError:
            cancel.set()  # the model stops at its next token; the slot frees for the queue
            raise
        except (BackendError, UnknownProfileError, RenderError) as exc:
            raise UserError(str(exc)) from exc
