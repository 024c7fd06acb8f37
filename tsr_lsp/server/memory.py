"""Memory requests (docs/PROTOCOL.md): tsr/feedback, tsr/memory/*, and the
`tsr.memory.remember` command. Thin: validate, call the MemoryService in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pygls.exceptions import JsonRpcInvalidParams

from tsr_lsp.memory.api import OUTCOMES
from tsr_lsp.server.custom import NoParams, UserError, check_size, warn_if_memory_read_only
from tsr_lsp.server.feature import (
    CancelToken,
    Encoded,
    LanguageFeature,
    command,
    encode_items,
    request,
)
from tsr_lsp.server.lanes import Lane

if TYPE_CHECKING:  # the store (Tantivy, numpy) is imported on first use, not at initialize
    from tsr_lsp.memory.service import MemoryService

T = TypeVar("T")
REMEMBER = "tsr.memory.remember"


@dataclass
class FeedbackParams:
    episode_id: str
    outcome: str
    edited_text: str | None = None

    def __post_init__(self) -> None:
        if not self.episode_id:
            raise ValueError("'episodeId' must be the id a tsr/generate returned")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"'outcome' must be one of {', '.join(OUTCOMES)}")


@dataclass
class ProjectParams:
    """Memory requests default to the connection's project unless ``allProjects``."""

    project: str | None = None
    all_projects: bool = False


@dataclass
class SearchParams(ProjectParams):
    query: str = ""
    k: int = 10
    kinds: list[str] | None = None

    def __post_init__(self) -> None:
        if not self.query.strip():
            raise ValueError("'query' must be a non-empty string")
        if not 1 <= self.k <= 200:
            raise ValueError("'k' must be an integer within 1..200")


@dataclass
class ForgetParams:
    project: str | None = None
    id: str | None = None
    ids: list[str] | None = None
    all: bool = False

    def __post_init__(self) -> None:
        if self.id is not None and not self.ids:
            self.ids = [self.id]
        chosen = sum([bool(self.ids), self.all, self.project is not None])
        if chosen != 1:
            raise ValueError("give exactly one of 'project', 'id'/'ids' or 'all': true")


@dataclass
class ImportParams:
    episodes: list[Any]  # checked record by record by the service (line numbers in errors)
    lines: list[int] | None = None
    atomic: bool = False

    def __post_init__(self) -> None:
        if self.lines is not None and len(self.lines) != len(self.episodes):
            raise ValueError("'lines' must list one line number per episode")


@dataclass
class CheckParams:
    repair: bool = False


@dataclass
class RememberArgs:
    """``["text"]`` or ``[{"text": ..., "kind": "fact"|"decision"}]``."""

    positional: ClassVar[tuple[str, ...]] = ("text",)
    text: str
    kind: str | None = None


class MemoryRequests(LanguageFeature):
    name = "memory"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        # exports, imports and checks of a big store: one memory request at a time per
        # connection, shared fairly across the daemon's connections (lanes.py)
        self.lane = Lane()

    def initialized(self, params: Any) -> None:
        """Warn at once when another process holds the memory writer (the daemon next to a
        --no-daemon server): every episode of this connection would be dropped."""
        warn_if_memory_read_only(self.server)

    def service(self) -> MemoryService:
        memory = self.engine.memory_for(self.settings)
        if memory is None:
            raise UserError("memory is disabled (memory.enabled = false in the settings)")
        return memory

    def project(self, params: ProjectParams | None = None) -> str | None:
        """The project a request is about: its ``project``, else this connection's root;
        None for ``allProjects``."""
        if params is not None and params.all_projects:
            return None
        if params is not None and params.project is not None:
            return params.project
        return str(self.root) if self.root else ""

    async def run(self, fn: Callable[[], T]) -> T:
        """A blocking memory call off the event loop in this connection's lane, its errors
        mapped to JSON-RPC ones."""
        from tsr_lsp.memory.store import MemoryError

        try:
            return await self.lane.run(self.server.thread_pool, fn)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc
        except KeyError as exc:
            raise UserError(str(exc.args[0]) if exc.args else str(exc)) from exc
        except MemoryError as exc:
            raise UserError(str(exc)) from exc

    @request("tsr/feedback", FeedbackParams)
    async def feedback(self, params: FeedbackParams, token: CancelToken) -> dict[str, Any]:
        memory = self.service()
        edited = params.edited_text or ""
        ep = await self.run(lambda: memory.feedback(params.episode_id, params.outcome, edited))
        return {"episodeId": ep.id, "outcome": ep.outcome}

    @request("tsr/memory/search", SearchParams)
    async def search(self, params: SearchParams, token: CancelToken) -> dict[str, Any]:
        check_size(params.query, "query", self.settings)
        project = self.project(params)
        memory = self.service()
        query, k, kinds = params.query, params.k, params.kinds
        results = await self.run(lambda: memory.search(query, project, k, kinds))
        return {"project": project, "results": results}

    @request("tsr/memory/forget", ForgetParams)
    async def forget(self, params: ForgetParams, token: CancelToken) -> dict[str, Any]:
        memory = self.service()
        ids, everything = params.ids or [], params.all
        project = params.project
        n = await self.run(lambda: memory.forget(project=project, ids=ids, everything=everything))
        return {"forgotten": n}

    @request("tsr/memory/export", ProjectParams)
    async def export(self, params: ProjectParams, token: CancelToken) -> Encoded:
        memory = self.service()
        project = self.project(params)
        return await self.run(lambda: encode_items("episodes", memory.export(project)))

    @request("tsr/memory/import", ImportParams)
    async def import_(self, params: ImportParams, token: CancelToken) -> dict[str, Any]:
        memory = self.service()
        episodes, lines, atomic = params.episodes, params.lines, params.atomic
        return await self.run(lambda: memory.import_(episodes, lines, atomic))

    @request("tsr/memory/check", CheckParams)
    async def check(self, params: CheckParams, token: CancelToken) -> dict[str, Any]:
        memory = self.service()
        return await self.run(lambda: memory.check(params.repair))

    @request("tsr/memory/stats", NoParams)
    async def stats(self, params: NoParams, token: CancelToken) -> dict[str, Any]:
        return await self.run(self.service().stats)

    @request("tsr/memory/consolidate", NoParams)
    async def consolidate(self, params: NoParams, token: CancelToken) -> dict[str, Any]:
        patterns = await self.run(self.service().consolidate)
        return {"patterns": [p.to_json() for p in patterns]}

    @command(REMEMBER, RememberArgs)
    async def remember(self, params: RememberArgs, token: CancelToken) -> dict[str, Any]:
        check_size(params.text, "text", self.settings)
        memory = self.service()
        project = self.project() or ""
        kind = params.kind or "fact"
        episode_id = await self.run(lambda: memory.remember(project, params.text, kind))
        return {"id": episode_id, "kind": kind, "project": project}
