"""Memory requests (docs/PROTOCOL.md): tsr/feedback, tsr/memory/*, and the
`tsr.memory.remember` command. Thin: validate, call the MemoryService in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pygls.exceptions import JsonRpcInvalidParams

from tsr_lsp.memory.api import OUTCOMES
from tsr_lsp.server.custom import UserError

if TYPE_CHECKING:  # the store (Tantivy, numpy) is imported on first use, not at initialize
    from tsr_lsp.memory.service import MemoryService
    from tsr_lsp.server.app import TsrLanguageServer

T = TypeVar("T")
REMEMBER = "tsr.memory.remember"


def _service(ls: TsrLanguageServer) -> MemoryService:
    memory = ls.engine.memory
    if memory is None:
        raise UserError("memory is disabled (memory.enabled = false in the settings)")
    return memory


def _project(ls: TsrLanguageServer, params: dict[str, Any]) -> str:
    value = params.get("project")
    if value is None:
        root = ls.project_root()
        return str(root) if root else ""
    if not isinstance(value, str):
        raise JsonRpcInvalidParams("'project' must be a string (a workspace root path)")
    return value


def _dict(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise JsonRpcInvalidParams("params must be an object")
    return params


async def _run(ls: TsrLanguageServer, fn: Callable[[], T]) -> T:
    """Run a blocking memory call off the event loop, mapping errors to JSON-RPC ones."""
    from tsr_lsp.memory.store import MemoryError

    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(ls.thread_pool, fn)
    except ValueError as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
    except KeyError as exc:
        raise UserError(str(exc.args[0]) if exc.args else str(exc)) from exc
    except MemoryError as exc:
        raise UserError(str(exc)) from exc


def register(server: TsrLanguageServer) -> None:
    @server.feature("tsr/feedback")
    async def feedback(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        p = _dict(params)
        episode_id, outcome = p.get("episodeId"), p.get("outcome")
        if not isinstance(episode_id, str) or not episode_id:
            raise JsonRpcInvalidParams("'episodeId' must be the id a tsr/generate returned")
        if outcome not in OUTCOMES:
            raise JsonRpcInvalidParams(f"'outcome' must be one of {', '.join(OUTCOMES)}")
        edited = p.get("editedText") or ""
        if not isinstance(edited, str):
            raise JsonRpcInvalidParams("'editedText' must be a string")
        memory = _service(ls)
        ep = await _run(ls, lambda: memory.feedback(episode_id, outcome, edited))
        return {"episodeId": ep.id, "outcome": ep.outcome}

    @server.feature("tsr/memory/search")
    async def search(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        p = _dict(params)
        query = p.get("query")
        if not isinstance(query, str) or not query.strip():
            raise JsonRpcInvalidParams("'query' must be a non-empty string")
        k = p.get("k", 10)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 200:
            raise JsonRpcInvalidParams("'k' must be an integer within 1..200")
        kinds = p.get("kinds")
        if kinds is not None and not (
            isinstance(kinds, list) and all(isinstance(x, str) for x in kinds)
        ):
            raise JsonRpcInvalidParams("'kinds' must be a list of strings")
        project = None if p.get("allProjects") else _project(ls, p)
        memory = _service(ls)
        results = await _run(ls, lambda: memory.search(query, project, k, kinds))
        return {"project": project, "results": results}

    @server.feature("tsr/memory/forget")
    async def forget(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        p = _dict(params)
        ids = p.get("ids") or ([p["id"]] if isinstance(p.get("id"), str) else [])
        everything = p.get("all") is True
        project = p.get("project")
        chosen = sum([bool(ids), everything, project is not None])
        if chosen != 1:
            raise JsonRpcInvalidParams("give exactly one of 'project', 'id'/'ids' or 'all': true")
        if project is not None and not isinstance(project, str):
            raise JsonRpcInvalidParams("'project' must be a string")
        memory = _service(ls)
        n = await _run(ls, lambda: memory.forget(project=project, ids=ids, everything=everything))
        return {"forgotten": n}

    @server.feature("tsr/memory/export")
    async def export(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        p = _dict(params)
        project = None if p.get("allProjects") else _project(ls, p)
        memory = _service(ls)
        return {"episodes": await _run(ls, lambda: memory.export(project))}

    @server.feature("tsr/memory/import")
    async def import_(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        p = _dict(params)
        episodes, lines, atomic = p.get("episodes"), p.get("lines"), p.get("atomic", False)
        if not isinstance(episodes, list):
            raise JsonRpcInvalidParams("'episodes' must be a list of episode objects")
        if lines is not None and not (
            isinstance(lines, list)
            and len(lines) == len(episodes)
            and all(isinstance(n, int) and not isinstance(n, bool) for n in lines)
        ):
            raise JsonRpcInvalidParams("'lines' must list one line number per episode")
        if not isinstance(atomic, bool):
            raise JsonRpcInvalidParams("'atomic' must be true or false")
        memory = _service(ls)
        return await _run(ls, lambda: memory.import_(episodes, lines, atomic))

    @server.feature("tsr/memory/check")
    async def check(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        repair = _dict(params).get("repair", False)
        if not isinstance(repair, bool):
            raise JsonRpcInvalidParams("'repair' must be true or false")
        memory = _service(ls)
        return await _run(ls, lambda: memory.check(repair))

    @server.feature("tsr/memory/stats")
    async def stats(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        memory = _service(ls)
        return await _run(ls, memory.stats)

    @server.feature("tsr/memory/consolidate")
    async def consolidate_(ls: TsrLanguageServer, params: Any) -> dict[str, Any]:
        memory = _service(ls)
        patterns = await _run(ls, memory.consolidate)
        return {"patterns": [p.to_json() for p in patterns]}

    @server.command(REMEMBER)
    async def remember(ls: Any, *args: Any) -> dict[str, Any]:
        """Arguments: ["text"] or [{"text": ..., "kind": "fact"|"decision"}]. (``ls`` is
        typed Any: pygls resolves these annotations at run time.)"""
        first = args[0] if args else None
        if isinstance(first, str):
            text, kind = first, "fact"
        elif isinstance(first, dict) and isinstance(first.get("text"), str):
            text, kind = first["text"], first.get("kind") or "fact"
        else:
            raise JsonRpcInvalidParams(
                f"{REMEMBER} takes one argument: the text, or {{'text': ..., 'kind': ...}}"
            )
        memory = _service(ls)
        root = ls.project_root()
        project = str(root) if root else ""
        episode_id = await _run(ls, lambda: memory.remember(project, text, kind))
        return {"id": episode_id, "kind": kind, "project": project}
