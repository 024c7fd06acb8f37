"""AI code actions (docs/PROTOCOL.md): fix, refactor, docstring, tests, explain, ask.

Thin: ``codeAction`` lists the actions of a selection without running a model (each
carries ``data``); ``codeAction/resolve`` (or the ``tsr.action.run`` command, for clients
that cannot resolve edits, and for explain/ask) routes the request, runs the model in a
worker thread with work-done progress titled by the route decision, and turns the answer
into a WorkspaceEdit or a markdown document through the pure tsr_lsp/actions package.
Applied edits are watched on didChange: undone -> rejected, changed -> edited.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, ClassVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams, JsonRpcRequestCancelled
from pygls.uris import from_fs_path, to_fs_path

from tsr_lsp.actions import catalog, outcome
from tsr_lsp.actions.catalog import BY_NAME, DOCUMENT, Action
from tsr_lsp.actions.edits import PlanError
from tsr_lsp.actions.shape import answer_shape
from tsr_lsp.actions.target import (
    PYTHON,
    Scope,
    Target,
    find_target,
    python_scopes,
)
from tsr_lsp.server.action_edits import EditPlanner, created_file
from tsr_lsp.server.action_types import (
    ActionData,
    AppliedArgs,
    Generated,
    Pending,
    as_user_error,
    range_json,
    route_summary,
    user_error,
)
from tsr_lsp.server.feature import NOT_MINE, CancelToken, LanguageFeature, command

RUN = "tsr.action.run"
APPLIED = "tsr.action.applied"
MAX_DOCUMENT_CHARS = 1_000_000  # larger documents get no AI actions (the prompt would not fit)
REPORT_EVERY_S = 0.5
KEEP_ANSWERS = 200  # markdown answers kept in the data dir (the oldest go first)
_SUFFIX_LANGUAGES = {".py": PYTHON, ".js": "javascript", ".ts": "typescript", ".go": "go"}


class Actions(LanguageFeature):
    """Per connection: edits waiting to be applied, applied edits being watched."""

    name = "actions"
    options: ClassVar[dict[str, Any]] = {
        types.TEXT_DOCUMENT_CODE_ACTION: types.CodeActionOptions(
            code_action_kinds=catalog.KINDS, resolve_provider=True
        ),
    }

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.pending: dict[str, Pending] = {}  # episode id -> resolved, not yet applied
        self.watching: list[outcome.Applied] = []
        # uri -> (version, python_scopes): code actions come on every cursor move
        self.scopes: dict[str, tuple[int | None, list[Scope] | None]] = {}

    def _scopes(self, uri: str, version: int | None, text: str) -> list[Scope] | None:
        cached = self.scopes.get(uri)
        if cached is not None and cached[0] == version and version is not None:
            return cached[1]
        scopes = python_scopes(text)
        self.scopes[uri] = (version, scopes)
        return scopes

    # ------------------------------------------------------------------ the cheap list
    def code_action(self, params: types.CodeActionParams, token: CancelToken) -> Any:
        uri = params.text_document.uri
        if not self.settings.actions.enabled or self._is_template(uri):
            return NOT_MINE
        doc = self.server.workspace.get_text_document(uri)
        try:
            text = doc.source
        except (OSError, UnicodeDecodeError):  # an unsaved buffer the client never sent
            return []
        if len(text) > MAX_DOCUMENT_CHARS or "\x00" in text[:8192]:
            return []
        language = self._language(doc.language_id, uri)
        scopes = self._scopes(uri, doc.version, text) if language == PYTHON else None
        r = params.range
        target = find_target(
            text, language, r.start.line, r.start.character, r.end.line, r.end.character, scopes
        )
        only = list(params.context.only or []) or None
        out: list[types.CodeAction] = []
        version = doc.version
        if catalog.FIX.matches(only):
            for d in params.context.diagnostics or []:
                if d.range.end.line < r.start.line or d.range.start.line > r.end.line:
                    continue
                line = d.range.start.line
                fix_target = find_target(text, language, line, 0, line, 0, scopes)
                if fix_target is None:
                    continue
                diag = {
                    "message": d.message,
                    "code": d.code,
                    "source": d.source,
                    "range": range_json(d.range),
                }
                data = ActionData("fix", uri, range_json(d.range), version, fix_target.digest)
                data.diagnostic = diag
                out.append(self._action(catalog.FIX, catalog.fix_title(d.message), data, d))
        if target is None:
            return out
        for action in catalog.ACTIONS[1:]:
            if not action.matches(only):
                continue
            if (
                action is catalog.DOCSTRING
                and language == PYTHON
                and target.what
                not in (
                    "function",
                    "class",
                )
            ):
                continue
            data = ActionData(action.name, uri, range_json(r), version, target.digest)
            out.append(self._action(action, action.title, data))
        return out

    def _action(
        self, action: Action, title: str, data: ActionData, diag: types.Diagnostic | None = None
    ) -> types.CodeAction:
        ca = types.CodeAction(
            title=title,
            kind=action.kind,
            data=data.to_json(),
            diagnostics=[diag] if diag is not None else None,
        )
        by_command = action.result == DOCUMENT or not self.planner().can_resolve_edits()
        if by_command or (action is catalog.TESTS and not self.planner().can_create_files()):
            ca.command = types.Command(title=title, command=RUN, arguments=[data.to_json()])
        return ca

    # ------------------------------------------------------------------ resolve / run
    async def code_action_resolve(self, params: types.CodeAction, token: CancelToken) -> Any:
        raw = params.data
        if not isinstance(raw, dict) or raw.get("action") not in BY_NAME:
            return NOT_MINE
        from tsr_lsp.server.feature import structure_params

        data = structure_params(raw, ActionData)
        action = BY_NAME[data.action]
        if action.result == DOCUMENT:  # resolved only by clients that resolve everything
            params.command = types.Command(params.title, RUN, arguments=[data.to_json()])
            return params
        gen = await self.generate(data, token)
        edit, watches = await self.planned(gen)
        params.edit = edit
        if gen.episode:
            self.pending[gen.episode] = Pending(watches)
            params.command = types.Command(
                "tsr-lsp: AI edit applied", APPLIED, arguments=[{"id": gen.episode}]
            )
        return params

    @command(RUN, ActionData)
    async def run(self, data: ActionData, token: CancelToken) -> dict[str, Any]:
        """Explain/ask: the answer as a markdown document, shown. Edits (clients that cannot
        resolve them): applied with workspace/applyEdit."""
        gen = await self.generate(data, token)
        if gen.action.result == DOCUMENT:
            return await self.show_answer(gen)
        edit, watches = await self.planned(gen)
        created = created_file(edit)
        if created is not None and not self.planner().can_create_files():
            return await self._write_tests(gen, edit, created, watches)
        result = await self.server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=gen.action.title)
        )
        if result.applied and gen.episode:
            self.start_watching(gen.episode, watches)
        out: dict[str, Any] = {
            "applied": bool(result.applied),
            "episodeId": gen.episode,
            "decision": gen.decision,
        }
        if not result.applied:
            out["reason"] = result.failure_reason or "the editor did not apply the edit"
        return out

    @command(APPLIED, AppliedArgs)
    def applied(self, args: AppliedArgs, token: CancelToken) -> dict[str, Any]:
        """The client applied a resolved edit: the episode is accepted, the edit watched."""
        pending = self.pending.pop(args.id, None)
        if pending is None:
            self.log.debug("applied: unknown episode %s", args.id)
            return {"id": args.id, "outcome": None}
        self.start_watching(args.id, pending.watches)
        return {"id": args.id, "outcome": outcome.ACCEPTED}

    # ------------------------------------------------------------------ the model run
    async def generate(self, data: ActionData, token: CancelToken) -> Generated:
        from tsr_lsp.engine import GenerateOptions
        from tsr_lsp.router.decision import RouteRequest
        from tsr_lsp.server.work_progress import WorkProgress

        action = BY_NAME[data.action]
        doc = self.server.workspace.get_text_document(data.uri)
        try:
            text = doc.source
        except (OSError, UnicodeDecodeError) as exc:
            raise JsonRpcInvalidParams(f"cannot read {data.uri}: {exc}") from None
        language = self._language(doc.language_id, data.uri)
        sl, sc, el, ec = data.lines()
        if action is catalog.FIX:
            sc, el, ec = 0, sl, 0  # the definition around the diagnostic
        target = find_target(text, language, sl, sc, el, ec)
        if target is None:
            raise user_error("there is no code at that place; select some code first")
        if data.digest and target.digest != data.digest:
            raise user_error(
                "the code changed since the action was offered; ask for the action again"
            )
        path = to_fs_path(data.uri) or data.uri
        request, variables = self._request(action, data, target, text, language, path)
        root = self.root
        route = RouteRequest(
            request, action.route_kind, language, target.text, str(root) if root else ""
        )
        max_tokens = self.settings.actions.max_tokens or None
        shape = answer_shape(action, language, target, variables)
        options = GenerateOptions(
            max_tokens=max_tokens,
            file=path,
            template=action.template,
            variables=variables,
            enough=shape.enough,
            answer_start=shape.start,
        )
        loop = asyncio.get_running_loop()
        progress = WorkProgress(self.server, loop, None, action.title, cancellable=True)
        watch = _ProgressWatch(self, progress, action, token)
        settings = self.settings

        def work() -> Any:
            return self.engine.generate(
                route,
                settings=settings,
                project_root=root,
                options=options,
                on_event=watch.on_event,
                cancel=token,
            )

        try:
            result = await self.generation(work, token)
        except asyncio.CancelledError:
            progress.end("cancelled")
            raise
        except Exception as exc:
            progress.end("failed")
            raise as_user_error(exc) from exc
        finally:
            watch.close()
        if result.cancelled or token.is_set():
            progress.end("cancelled")
            self.forget_episode(result.extra.get("episodeId"))
            raise JsonRpcRequestCancelled(f"{action.title} was cancelled")
        decision = result.decision.to_json()
        episode = result.extra.get("episodeId")
        progress.end(f"{result.result.completion_tokens} tokens")
        self.log.info(
            "%s on %s (%s): %s; episode %s",
            action.name,
            Path(path).name,
            target.label(),
            decision["explanation"],
            episode,
        )
        return Generated(
            action,
            data,
            target,
            text,
            result.text,
            decision,
            episode,
            path,
            language,
            shape.summary,
        )

    def _request(
        self,
        action: Action,
        data: ActionData,
        target: Target,
        text: str,
        language: str,
        path: str,
    ) -> tuple[str, dict[str, Any]]:
        """The text the router sees (and memory keeps) and the template's variables."""
        from tsr_lsp.actions.target import importable_names, module_name

        what = target.label()
        variables: dict[str, Any] = {"text": ""}
        if action is catalog.FIX:
            diag = data.diagnostic or {}
            message = str(diag.get("message") or "a reported problem")
            variables["diagnostic"] = message
            request = f"Fix {message} in {what}"
        elif action is catalog.TESTS:
            module = module_name(path, str(self.root) if self.root else None)
            names = importable_names(text, target) if language == PYTHON else []
            variables.update(module=module, names=names)
            request = f"Write unit tests for {what} of {Path(path).name}"
        elif action is catalog.ASK:
            question = data.question.strip() or catalog.DEFAULT_QUESTION
            variables["text"] = question
            request = question
        else:
            if action is catalog.DOCSTRING:
                variables["style"] = self.settings.actions.docstring
            verb = {"refactor": "Refactor", "docstring": "Add a docstring to"}.get(
                action.name, "Explain"
            )
            request = f"{verb} {what} of {Path(path).name}"
        return request, variables

    async def _write_tests(
        self,
        gen: Generated,
        edit: types.WorkspaceEdit,
        uri: str,
        watches: list[outcome.Applied],
    ) -> dict[str, Any]:
        """A client that cannot create files: the server writes the new test file, then
        shows it (the user's consent was running the command)."""
        text = "".join(
            e.new_text
            for change in edit.document_changes or []
            if isinstance(change, types.TextDocumentEdit)
            for e in change.edits
            if isinstance(e, types.TextEdit)
        )
        path = Path(to_fs_path(uri) or uri)

        def write() -> None:
            from tsr_lsp.paths import user_file_mode, user_mkdir

            user_mkdir(path.parent)  # a project file: the user's umask, not ours
            with path.open("x", encoding="utf-8") as fh:
                fh.write(text)
            path.chmod(user_file_mode())

        try:
            await self.in_thread(write)
        except FileExistsError:
            raise user_error(f"{path} appeared meanwhile; run the action again") from None
        if gen.episode:
            self.start_watching(gen.episode, watches)
        shown = await self._show(uri)
        return {
            "applied": True,
            "uri": uri,
            "shown": shown,
            "episodeId": gen.episode,
            "decision": gen.decision,
        }

    async def _show(self, uri: str) -> bool:
        if not self.planner().can_show_documents():
            return False
        try:
            reply = await self.server.window_show_document_async(
                types.ShowDocumentParams(uri=uri, take_focus=True)
            )
        except Exception as exc:  # the client refused
            self.log.info("showDocument failed: %s", exc)
            return False
        return bool(reply and reply.success)

    async def show_answer(self, gen: Generated) -> dict[str, Any]:
        from tsr_lsp.actions import document

        question = ""
        if gen.action is catalog.ASK:
            question = gen.data.question.strip() or catalog.DEFAULT_QUESTION
        text = document.markdown(
            gen.action.title,
            gen.path,
            gen.target,
            gen.language,
            gen.answer,
            gen.decision["explanation"],
            question,
        )
        path = await self.in_thread(lambda: _write_answer(gen.action.name, gen.path, text))
        uri = from_fs_path(str(path)) or path.as_uri()
        out: dict[str, Any] = {"uri": uri, "episodeId": gen.episode, "decision": gen.decision}
        shown = await self._show(uri)
        out["shown"] = shown
        if not shown:
            out["text"] = text
        return out

    # ------------------------------------------------------------------ outcomes
    def start_watching(self, episode: str, watches: list[outcome.Applied]) -> None:
        self._record(episode, outcome.ACCEPTED)
        for w in watches:
            w.since = time.monotonic()
            self.watching.append(w)
        cutoff = time.monotonic() - outcome.WATCH_S
        for key, p in list(self.pending.items()):
            if p.since < cutoff:  # resolved but never applied
                del self.pending[key]

    def document_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        mine = [w for w in self.watching if w.uri == uri]
        if not mine:
            return
        text = self.server.workspace.get_text_document(uri).source
        for w in mine:
            if w.expired():
                self.watching.remove(w)
                continue
            verdict = outcome.update(w, text)
            if verdict is not None:
                self.log.info("episode %s: %s (didChange of %s)", w.episode_id, verdict, uri)
                self._record(w.episode_id, verdict)

    def document_close(self, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        self.watching = [w for w in self.watching if w.uri != uri]
        self.scopes.pop(uri, None)

    def _record(self, episode: str | None, verdict: str) -> None:
        """The episode's outcome, written in a worker thread (never blocks typing)."""
        self.change_memory(episode, f"outcome {verdict}", lambda m, ep: m.feedback(ep, verdict))

    # ------------------------------------------------------------------ results
    def planner(self) -> EditPlanner:
        return EditPlanner(
            self.server.workspace,
            self.server.client_capabilities,
            self.root,
            self.settings.actions.tests_dir,
        )

    async def planned(self, gen: Generated) -> tuple[types.WorkspaceEdit, list[outcome.Applied]]:
        """``plan`` off the event loop; cancelled meanwhile, the run leaves no episode."""
        try:
            return await self.in_thread(lambda: self.plan(gen))
        except asyncio.CancelledError:
            self.forget_episode(gen.episode)
            raise

    def plan(self, gen: Generated) -> tuple[types.WorkspaceEdit, list[outcome.Applied]]:
        """The answer's edit; one that cannot be planned is a -32001 error and marks the
        episode rejected."""
        try:
            return self.planner().plan(gen)
        except PlanError as exc:
            self._record(gen.episode, outcome.REJECTED)
            raise user_error(str(exc)) from None

    # ------------------------------------------------------------------ helpers
    def _is_template(self, uri: str) -> bool:
        from tsr_lsp.server.templates import Templates

        try:
            templates = self.server.dispatcher.feature(Templates)
        except StopIteration:
            return False
        return bool(templates.is_template(uri))

    @staticmethod
    def _language(language_id: str | None, uri: str) -> str:
        if language_id:
            return language_id
        return _SUFFIX_LANGUAGES.get(Path(to_fs_path(uri) or uri).suffix, "")


class _ProgressWatch:
    """Generation events -> work-done progress: begins once the route is decided (its
    explanation in the title), reports loading and the tokens written, forwards a cancel
    from the progress UI to the generation."""

    def __init__(self, feature: Actions, progress: Any, action: Action, token: CancelToken):
        self.feature = feature
        self.progress = progress
        self.action = action
        self.token = token
        self.tokens = 0
        self.last = 0.0
        self.linked: Any = None

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:  # a worker thread
        if kind == "decision" and not self.progress.active:
            self.progress.title = f"{self.action.title}: {route_summary(payload)}"
            self.progress.begin("waiting for the model")
            self._link()
        elif kind == "loading":
            self.progress.report(str(payload.get("message", "")))
        elif kind == "unavailable" and payload.get("firstReport"):
            self.progress.loop.call_soon_threadsafe(
                self.feature.server.tell, str(payload.get("reason", ""))
            )
        elif kind == "delta":
            self.tokens += 1
            now = time.monotonic()
            if now - self.last >= REPORT_EVERY_S:
                self.last = now
                self.progress.report(f"{self.tokens} pieces written")

    def _link(self) -> None:
        """The progress's cancel button sets the request's token."""
        tokens = self.feature.server.work_done_progress.tokens
        fut = tokens.get(self.progress.token) if self.progress.token is not None else None
        if fut is not None:
            fut.add_done_callback(lambda f: self.token.set() if f.cancelled() else None)
            self.linked = self.progress.token

    def close(self) -> None:
        if self.linked is not None:
            self.feature.server.work_done_progress.tokens.pop(self.linked, None)


def _write_answer(action: str, source: str, text: str) -> Path:
    """The markdown under the user data dir (0700 folder, 0600 file); the newest
    ``KEEP_ANSWERS`` are kept."""
    from tsr_lsp import paths
    from tsr_lsp.actions import document

    folder = paths.private_dir(paths.data_dir() / "answers")
    old = sorted(folder.glob("*.md"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for stale in old[: max(0, len(old) - KEEP_ANSWERS + 1)]:
        stale.unlink(missing_ok=True)
    path = folder / document.file_name(action, source)
    n = 1
    while path.exists():
        n += 1
        path = folder / document.file_name(action, source).replace(".md", f"-{n}.md")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
