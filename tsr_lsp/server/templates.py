"""Template files in the editor: diagnostics as you type (debounced), quick fixes,
completion, hover, and the ``tsr.renderPreview`` / ``tsr.createTemplate`` commands.

Thin: every handler fetches the document, calls the pure linter (tsr_lsp.jinja_lint) and
converts offsets to LSP positions (in the client's position encoding).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path, to_fs_path

from tsr_lsp.lru import WeightedLru
from tsr_lsp.paths import user_file_mode, user_mkdir
from tsr_lsp.server.feature import NOT_MINE, CancelToken, LanguageFeature, command
from tsr_lsp.server.lanes import Lane

if TYPE_CHECKING:  # the linter is imported on the first template, not at initialize
    from tsr_lsp.config import Settings
    from tsr_lsp.jinja_lint import FileIndex, LintResult
    from tsr_lsp.jinja_lint.model import Diagnostic, LineIndex
    from tsr_lsp.server.app import TsrLanguageServer

log = logging.getLogger(__name__)
RENDER_PREVIEW = "tsr.renderPreview"
CREATE_TEMPLATE = "tsr.createTemplate"
SOURCE = "tsr-lsp"
INLINE_LINT_CHARS = 20_000  # smaller templates lint in a few ms, on the event loop
# source characters whose analyses the process keeps, for all connections (dozens of usual
# templates; one big one alone): at most ~120,000 objects for the garbage collector to walk
# (tsr_lsp/lru.py); an evicted analysis is redone when hover or completion needs it
RESULT_CHARS = 500_000
_RESULTS: WeightedLru[tuple[int, str], tuple[Any, LintResult]] = WeightedLru(RESULT_CHARS)
_OWNERS = itertools.count()  # one per Templates feature: keys never meet across connections
TEMPLATE_LANGUAGES = frozenset({"jinja", "jinja2", "jinja-html", "jinja-md", "j2", "jinja-xml"})
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
_KINDS = {
    "variable": types.CompletionItemKind.Variable,
    "filter": types.CompletionItemKind.Function,
    "test": types.CompletionItemKind.Function,
    "keyword": types.CompletionItemKind.Keyword,
    "snippet": types.CompletionItemKind.Snippet,
    "file": types.CompletionItemKind.File,
    "property": types.CompletionItemKind.Property,
    "function": types.CompletionItemKind.Function,
}


# ------------------------------------------------------------------ positions
def _client_col(ls: TsrLanguageServer, line_text: str, col: int) -> int:
    if line_text.isascii():
        return col
    codec = ls.workspace.position_codec
    return int(codec.client_num_units(line_text[:col]))


def to_position(ls: TsrLanguageServer, lines: LineIndex, offset: int) -> types.Position:
    line, col = lines.position(min(offset, len(lines.text)))
    return types.Position(line=line, character=_client_col(ls, lines.line_text(line), col))


def to_range(ls: TsrLanguageServer, lines: LineIndex, start: int, end: int) -> types.Range:
    return types.Range(start=to_position(ls, lines, start), end=to_position(ls, lines, end))


def to_offset(ls: TsrLanguageServer, lines: LineIndex, pos: types.Position) -> int:
    if pos.line >= lines.line_count:
        return len(lines.text)
    text = lines.line_text(pos.line)
    col = pos.character
    if not text.isascii():
        codec = ls.workspace.position_codec
        units = 0
        col = len(text)
        for i, ch in enumerate(text):
            if units >= pos.character:
                col = i
                break
            units += codec.client_num_units(ch)
    return lines.starts[pos.line] + min(col, len(text))


@dataclass
class RenderPreviewArgs:
    """``[uri]`` or ``[{"uri": ..., "values": {...}}]``."""

    positional: ClassVar[tuple[str, ...]] = ("uri",)
    uri: str
    values: dict[str, Any] | None = None


@dataclass
class CreateTemplateArgs:
    positional: ClassVar[tuple[str, ...]] = ("path",)
    path: str


class Templates(LanguageFeature):
    """Per connection: open template documents, their last analysis, the project index."""

    name = "templates"
    options: ClassVar[dict[str, Any]] = {
        types.TEXT_DOCUMENT_CODE_ACTION: types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix]
        ),
        types.TEXT_DOCUMENT_COMPLETION: types.CompletionOptions(
            trigger_characters=["|", ".", "{", "%", "'", '"']
        ),
    }

    def __init__(self, server: TsrLanguageServer) -> None:
        super().__init__(server)
        self.languages: dict[str, str] = {}  # uri -> languageId
        self.owner = next(_OWNERS)  # its analyses in _RESULTS are keyed (owner, uri)
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.index: FileIndex | None = None
        self.index_ready = False
        self.index_task: asyncio.Future[Any] | None = None
        self.index_generation = 0  # bumped when the index changes: lint results are stale
        self.linting: dict[str, tuple[Any, asyncio.Future[LintResult | None]]] = {}
        self.tasks: set[asyncio.Future[Any]] = set()
        self.too_big: set[str] = set()  # templates over the sandbox's size: told once
        self.lane = Lane()  # render previews: a worker process each, shared fairly (lanes.py)

    def is_template(self, uri: str) -> bool:
        if self.languages.get(uri, "") in TEMPLATE_LANGUAGES:
            return True
        path = to_fs_path(uri) or uri
        lint = self.settings.lint
        if not lint.enabled:
            return False
        if path.endswith(tuple(lint.extensions)):
            return True
        parts = Path(path).parts
        return path.endswith(".json") and "templates" in parts

    # ------------------------------------------------------------------ linting
    def project_index(self) -> FileIndex | None:
        """The project's template index, built in a worker thread on first use."""
        from tsr_lsp.jinja_lint import FileIndex

        if self.index is None:
            root = self.root
            if root is None:
                return None
            lint = self.settings.lint
            search = [Path(p) if Path(p).is_absolute() else root / p for p in lint.template_paths]
            self.index = FileIndex([root], search)
            self.index_task = asyncio.ensure_future(self._warm(self.index))
        return self.index if self.index_ready else None

    async def _warm(self, index: FileIndex) -> None:
        def build() -> None:
            index.names()
            index.vocabulary()

        await self.in_thread(build)
        self.index_ready = True
        self.index_generation += 1
        for uri in list(self.languages):  # now include/import targets can be checked
            await self.publish(uri)

    def _key(self, version: int | None) -> tuple[int | None, int, int]:
        # a new settings object or a changed index means linting again
        return (version, id(self.settings), self.index_generation)

    async def analyse(self, uri: str) -> LintResult | None:
        """The document's lint result: cached per version, one run shared by concurrent
        callers, big documents linted in a worker thread (off the event loop)."""
        doc = self.server.workspace.get_text_document(uri)
        key = self._key(doc.version)
        cached = _RESULTS.get((self.owner, uri))
        if cached is not None and cached[0] == key and doc.version is not None:
            return cached[1]
        running = self.linting.get(uri)
        if running is None or running[0] != key:
            running = (key, asyncio.ensure_future(self._lint(uri, doc.source, key)))
            self.linting[uri] = running
        return await asyncio.shield(running[1])

    async def _lint(self, uri: str, source: str, key: Any) -> LintResult | None:
        from tsr_lsp.jinja_lint import lint_text
        from tsr_lsp.jinja_lint.settings import options_from
        from tsr_lsp.prompts.sandbox import MAX_SOURCE_CHARS

        if len(source) > MAX_SOURCE_CHARS:  # the sandbox would refuse to render it too
            if uri not in self.too_big:
                self.too_big.add(uri)
                name = uri.rsplit("/", 1)[-1]
                self.server.tell(
                    f"{name}: {len(source):,} characters is over the {MAX_SOURCE_CHARS:,} a "
                    "template may have (it could not render either): not linted",
                    types.MessageType.Info,
                )
            if self.linting.get(uri, (None,))[0] == key:
                del self.linting[uri]
            return None
        self.too_big.discard(uri)
        options = options_from(self.settings.lint)
        path, index = to_fs_path(uri), self.project_index()

        def lint() -> LintResult | None:
            if self.current_key(uri) != key:
                return None  # edited while it waited: the newer version is linted instead
            return lint_text(source, path, options, index)

        result: LintResult | None
        try:
            if len(source) <= INLINE_LINT_CHARS:  # a few ms: no thread hop
                result = lint_text(source, path, options, index)
            else:  # one big lint at a time in the daemon: the event loop keeps the GIL often
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self.engine.heavy, lint)
        except Exception:  # a linter bug must never take the server down
            self.log.exception("linting %s failed", uri)
            return None
        finally:
            if self.linting.get(uri, (None,))[0] == key:
                del self.linting[uri]
        if uri in self.languages and result is not None and key == self.current_key(uri):
            # a stale key never overwrites a newer result
            _RESULTS.put((self.owner, uri), (key, result), len(source))
        return result

    def current_key(self, uri: str) -> Any:
        return self._key(self.server.workspace.get_text_document(uri).version)

    async def publish(self, uri: str) -> None:
        """Publish the current version's diagnostics. An edit while linting leaves it to
        the edit's own publish; settings or the project index changing meanwhile means
        linting again (nobody else would publish that version)."""
        ls = self.server
        version = ls.workspace.get_text_document(uri).version
        for _ in range(3):
            key = self._key(version)  # what analyse() lints with
            result = await self.analyse(uri)
            doc = ls.workspace.get_text_document(uri)
            if result is None or uri not in self.languages or doc.version != version:
                return
            # not read back from _RESULTS: another connection's analysis may have evicted it
            if key == self._key(version):
                diagnostics = [to_lsp(ls, result.lines, d) for d in result.diagnostics]
                published = types.PublishDiagnosticsParams(uri, diagnostics, version=version)
                ls.text_document_publish_diagnostics(published)
                return

    def schedule(self, uri: str, delay_ms: int) -> None:
        old = self.timers.pop(uri, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self.timers[uri] = loop.call_later(max(delay_ms, 0) / 1000, self._fire, uri)

    def _fire(self, uri: str) -> None:
        self.timers.pop(uri, None)
        if uri in self.languages:
            task = asyncio.ensure_future(self.publish(uri))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    # ------------------------------------------------------------------ documents
    async def document_open(self, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        self.languages[doc.uri] = doc.language_id
        if self.is_template(doc.uri):
            await self.publish(doc.uri)
        else:
            self.languages.pop(doc.uri, None)

    def configuration_changed(self, settings: Settings) -> None:
        """Lint results are keyed by the settings object: publish the open templates again
        (a lint that began before the change is not published: its key is stale)."""
        for uri in list(self.languages):
            self.schedule(uri, 0)

    def document_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in self.languages:
            self.schedule(uri, self.settings.lint.debounce_ms)

    async def index_built(self) -> FileIndex | None:
        """The index once its background build is over (adding to it while the build
        thread scans would be lost when the build finishes)."""
        if self.index_task is not None:
            with contextlib.suppress(Exception):  # a failed build was logged by its task
                await asyncio.shield(self.index_task)
        return self.index

    async def document_save(self, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        index = await self.index_built()
        if index is not None and (path := to_fs_path(uri)):
            index.add(path, self.server.workspace.get_text_document(uri).source)
            self.index_generation += 1
            for other in list(self.languages):  # an include target may have changed
                if other != uri:
                    self.schedule(other, 0)
        if uri in self.languages:
            await self.publish(uri)

    def document_close(self, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if self.languages.pop(uri, None) is None:
            return
        _RESULTS.pop((self.owner, uri))
        self.too_big.discard(uri)
        timer = self.timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    def shutdown(self, params: Any) -> None:
        self.connection_lost()

    def connection_lost(self) -> None:
        """Its analyses leave the process-wide cache (other connections' templates get the
        room); with no document left, a lint still running in a thread stores nothing when
        it ends. Without this the cache kept the last big template of a closed connection
        (the newest entry stays however heavy): ~50,000 objects for as long as the daemon
        ran."""
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        for uri in self.languages:
            _RESULTS.pop((self.owner, uri))
        self.languages.clear()

    # ------------------------------------------------------------------ requests
    async def code_action(self, params: types.CodeActionParams, token: CancelToken) -> Any:
        from tsr_lsp.jinja_lint.settings import options_from
        from tsr_lsp.jinja_lint.verify import verified_fixes

        uri = params.text_document.uri
        if uri not in self.languages:
            return NOT_MINE
        result = await self.analyse(uri)
        if result is None:
            return []
        ls = self.server
        lines = result.lines
        start = to_offset(ls, lines, params.range.start)
        end = to_offset(ls, lines, params.range.end)
        source = lines.text
        resource_ops = self._can_create_files()
        options = options_from(self.settings.lint)
        path = to_fs_path(uri)
        index = self.project_index()
        actions: list[types.CodeAction] = []
        for d in result.diagnostics:
            if d.end < start or d.start > end:
                continue
            lsp_diag = to_lsp(ls, lines, d)
            # only fixes after which the template parses and nothing else changes
            for fix in verified_fixes(source, result, d, path, options, index):
                action = types.CodeAction(
                    title=fix.title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[lsp_diag],
                    is_preferred=fix.preferred or None,
                )
                if fix.create is not None:
                    target = self._create_target(uri, fix.create)
                    if target is None:
                        continue
                    if resource_ops:
                        action.edit = types.WorkspaceEdit(
                            document_changes=[
                                types.CreateFile(
                                    uri=from_fs_path(str(target)) or "",
                                    options=types.CreateFileOptions(ignore_if_exists=True),
                                )
                            ]
                        )
                    else:
                        action.command = types.Command(
                            title=fix.title, command=CREATE_TEMPLATE, arguments=[str(target)]
                        )
                else:
                    edits = [
                        types.TextEdit(to_range(ls, lines, s, e), text) for s, e, text in fix.edits
                    ]
                    action.edit = types.WorkspaceEdit(changes={uri: edits})
                actions.append(action)
        return actions

    def _can_create_files(self) -> bool:
        ws = self.server.client_capabilities.workspace
        edit = ws.workspace_edit if ws is not None else None
        if edit is None or not edit.document_changes or not edit.resource_operations:
            return False
        return types.ResourceOperationKind.Create in edit.resource_operations

    def _create_target(self, uri: str, name: str) -> Path | None:
        """Where a missing template should go: the first search path, else next to the
        template folder its name starts with, else beside the including file."""
        here = to_fs_path(uri)
        if not here:
            return None
        lint = self.settings.lint
        root = self.root
        if lint.template_paths and root is not None:
            first = Path(lint.template_paths[0])
            return (first if first.is_absolute() else root / first) / name
        head = name.split("/", 1)[0]
        for folder in [Path(here).parent, *Path(here).parents]:
            if "/" in name and (folder / head).is_dir():
                return folder / name
            if root is not None and folder == root:
                break
        return Path(here).parent / name

    async def completion(self, params: types.CompletionParams, token: CancelToken) -> Any:
        from tsr_lsp.jinja_lint.assist import complete

        got = await self._assist(params, "completion", complete)
        if got is None or got is NOT_MINE:
            return got
        _, items = got
        snippets = self._snippets()
        out = []
        for item in items:
            ci = types.CompletionItem(
                label=item.label,
                kind=_KINDS.get(item.kind, types.CompletionItemKind.Text),
                detail=item.detail or None,
                sort_text=f"{item.sort}{item.label}",
            )
            if item.documentation:
                ci.documentation = types.MarkupContent(
                    kind=types.MarkupKind.Markdown, value=item.documentation
                )
            if item.insert_text and snippets:
                ci.insert_text = item.insert_text
                ci.insert_text_format = types.InsertTextFormat.Snippet
            out.append(ci)
        return types.CompletionList(is_incomplete=False, items=out)

    async def _assist(
        self,
        params: types.CompletionParams | types.HoverParams,
        what: str,
        call: Callable[[Any, int, Any], Any],
    ) -> Any:
        """``(analysis result, call(analysis, offset, index))`` at the cursor of an open
        template; ``NOT_MINE`` for other documents, None when there is nothing to analyse or
        ``call`` raised (never fail a keystroke over a linter bug)."""
        uri = params.text_document.uri
        if uri not in self.languages:
            return NOT_MINE
        result = await self.analyse(uri)
        if result is None or result.analysis is None:
            return None
        offset = to_offset(self.server, result.lines, params.position)
        try:
            return result, call(result.analysis, offset, self.index)
        except Exception:
            self.log.exception("template %s failed at %s:%s", what, uri, offset)
            return None

    def _snippets(self) -> bool:
        td = self.server.client_capabilities.text_document
        comp = td.completion if td is not None else None
        item = comp.completion_item if comp is not None else None
        return bool(item and item.snippet_support)

    async def hover(self, params: types.HoverParams, token: CancelToken) -> Any:
        from tsr_lsp.jinja_lint.assist import hover

        got = await self._assist(params, "hover", hover)
        if got is None or got is NOT_MINE:
            return got
        result, found = got
        if found is None:
            return None
        text, start, end = found
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=to_range(self.server, result.lines, start, end),
        )

    # ------------------------------------------------------------------ commands
    @command(RENDER_PREVIEW, RenderPreviewArgs)
    async def render_preview(self, args: RenderPreviewArgs, token: CancelToken) -> dict[str, Any]:
        """Renders the open buffer with the front matter's samples (or placeholders),
        overridden by ``values``: in a worker process with a time and memory limit, so a
        hostile template costs this client an error and nobody else anything."""
        uri = args.uri
        if uri in self.server.protocol.refused:
            return {"uri": uri, "error": self.server.protocol.refused[uri]}
        try:  # an open document, else the file on disk
            source = self.server.workspace.get_text_document(uri).source
        except (OSError, ValueError) as exc:
            raise JsonRpcInvalidParams(f"{uri} is not open and cannot be read ({exc})") from None
        path = Path(to_fs_path(uri) or uri)
        limits = self.settings.server
        renderer = self.engine.renderer
        result = await self.lane.run(
            self.server.thread_pool,
            lambda: renderer.preview(
                path.stem,
                source,
                str(path),
                _plain(args.values or {}),
                timeout_s=limits.render_timeout_s,
                memory_mb=limits.render_memory_mb,
            ),
        )
        return {"uri": uri, **result}

    @command(CREATE_TEMPLATE, CreateTemplateArgs)
    async def create_template(self, args: CreateTemplateArgs, token: CancelToken) -> dict[str, Any]:
        """Fallback for clients without resource operations: create the file server-side."""
        root = self.root
        path = Path(args.path).resolve()
        if root is not None and root.resolve() not in path.parents:
            raise JsonRpcInvalidParams(f"{path} is outside the workspace {root}")
        user_mkdir(path.parent)  # project folders and files: the user's umask, not ours
        created = not path.exists()
        if created:
            path.write_text("", encoding="utf-8")
            path.chmod(user_file_mode())
        index = await self.index_built()
        if index is not None:
            index.add(str(path), "")
            self.index_generation += 1
        for uri in list(self.languages):
            await self.publish(uri)
        return {"path": str(path), "created": created}


def to_lsp(ls: TsrLanguageServer, lines: LineIndex, d: Diagnostic) -> types.Diagnostic:
    return types.Diagnostic(
        range=to_range(ls, lines, d.start, d.end),
        message=d.message,
        severity=_SEVERITY.get(d.severity, types.DiagnosticSeverity.Hint),
        code=d.code,
        source=SOURCE,
    )


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(values, default=str))
