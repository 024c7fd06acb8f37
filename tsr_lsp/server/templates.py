"""Template files in the editor: diagnostics as you type (debounced), quick fixes,
completion, hover, and the ``tsr.renderPreview`` / ``tsr.createTemplate`` commands.

Thin: every handler fetches the document, calls the pure linter (tsr_lsp.jinja_lint) and
converts offsets to LSP positions (in the client's position encoding).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from tsr_lsp.server.dispatch import NOT_MINE, on_notification, on_request

if TYPE_CHECKING:  # the linter is imported on the first template, not at initialize
    from tsr_lsp.jinja_lint import FileIndex, LintResult
    from tsr_lsp.jinja_lint.model import Diagnostic, LineIndex
    from tsr_lsp.server.app import TsrLanguageServer

log = logging.getLogger(__name__)
RENDER_PREVIEW = "tsr.renderPreview"
CREATE_TEMPLATE = "tsr.createTemplate"
SOURCE = "tsr-lsp"
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


@dataclass
class TemplateState:
    """Per connection: open template documents, their last analysis, the project index."""

    languages: dict[str, str] = field(default_factory=dict)  # uri -> languageId
    results: dict[str, tuple[tuple[int | None, int], LintResult]] = field(default_factory=dict)
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    index: FileIndex | None = None
    index_ready: bool = False
    index_task: asyncio.Future[Any] | None = None


def _state(ls: TsrLanguageServer) -> TemplateState:
    state = getattr(ls, "_tsr_templates", None)
    if state is None:
        state = TemplateState()
        ls._tsr_templates = state  # type: ignore[attr-defined]
    return state


def is_template(ls: TsrLanguageServer, uri: str) -> bool:
    state = _state(ls)
    if state.languages.get(uri, "") in TEMPLATE_LANGUAGES:
        return True
    path = to_fs_path(uri) or uri
    lint = ls.session.settings.lint
    if not lint.enabled:
        return False
    if path.endswith(tuple(lint.extensions)):
        return True
    parts = Path(path).parts
    return path.endswith(".json") and "templates" in parts


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


# ------------------------------------------------------------------ linting
def _index(ls: TsrLanguageServer) -> FileIndex | None:
    """The project's template index, built in a worker thread on first use."""
    from tsr_lsp.jinja_lint import FileIndex

    state = _state(ls)
    if state.index is None:
        root = ls.project_root()
        if root is None:
            return None
        lint = ls.session.settings.lint
        search = [Path(p) if Path(p).is_absolute() else root / p for p in lint.template_paths]
        index = FileIndex([root], search)
        state.index = index

        def build() -> None:
            index.names()
            index.vocabulary()

        async def warm() -> None:
            await asyncio.get_running_loop().run_in_executor(ls.thread_pool, build)
            state.index_ready = True
            for uri in list(state.results):  # now include/import targets can be checked
                publish(ls, uri)

        state.index_task = asyncio.ensure_future(warm())
    return state.index if state.index_ready else None


def analyse(ls: TsrLanguageServer, uri: str) -> LintResult | None:
    from tsr_lsp.jinja_lint import lint_text
    from tsr_lsp.jinja_lint.settings import options_from

    doc = ls.workspace.get_text_document(uri)
    state = _state(ls)
    cached = state.results.get(uri)
    key = (doc.version, id(ls.session.settings))  # new settings object = re-lint
    if cached is not None and cached[0] == key and doc.version is not None:
        return cached[1]
    options = options_from(ls.session.settings.lint)
    path = to_fs_path(uri)
    try:
        result = lint_text(doc.source, path, options, _index(ls))
    except Exception:  # a linter bug must never take the server down
        log.exception("linting %s failed", uri)
        return None
    state.results[uri] = (key, result)
    return result


def publish(ls: TsrLanguageServer, uri: str) -> None:
    state = _state(ls)
    state.results.pop(uri, None)
    result = analyse(ls, uri)
    if result is None:
        return
    diagnostics = [to_lsp(ls, result.lines, d) for d in result.diagnostics]
    doc = ls.workspace.get_text_document(uri)
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=doc.version)
    )


def to_lsp(ls: TsrLanguageServer, lines: LineIndex, d: Diagnostic) -> types.Diagnostic:
    return types.Diagnostic(
        range=to_range(ls, lines, d.start, d.end),
        message=d.message,
        severity=_SEVERITY.get(d.severity, types.DiagnosticSeverity.Hint),
        code=d.code,
        source=SOURCE,
    )


def _schedule(ls: TsrLanguageServer, uri: str, delay_ms: int) -> None:
    state = _state(ls)
    old = state.timers.pop(uri, None)
    if old is not None:
        old.cancel()
    loop = asyncio.get_running_loop()

    def fire() -> None:
        state.timers.pop(uri, None)
        if uri in state.languages:
            publish(ls, uri)

    state.timers[uri] = loop.call_later(max(delay_ms, 0) / 1000, fire)


# ------------------------------------------------------------------ handlers
def did_open(ls: TsrLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    doc = params.text_document
    _state(ls).languages[doc.uri] = doc.language_id
    if is_template(ls, doc.uri):
        publish(ls, doc.uri)
    else:
        _state(ls).languages.pop(doc.uri, None)


def did_change(ls: TsrLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    if uri in _state(ls).languages:
        _schedule(ls, uri, ls.session.settings.lint.debounce_ms)


def did_save(ls: TsrLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    state = _state(ls)
    if state.index is not None and (path := to_fs_path(uri)):
        state.index.add(path, ls.workspace.get_text_document(uri).source)
    if uri in state.languages:
        publish(ls, uri)


def did_close(ls: TsrLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    state = _state(ls)
    if state.languages.pop(uri, None) is None:
        return
    state.results.pop(uri, None)
    timer = state.timers.pop(uri, None)
    if timer is not None:
        timer.cancel()
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def code_actions(ls: TsrLanguageServer, params: types.CodeActionParams) -> Any:
    from tsr_lsp.jinja_lint.settings import options_from
    from tsr_lsp.jinja_lint.verify import verified_fixes

    uri = params.text_document.uri
    if uri not in _state(ls).languages:
        return NOT_MINE
    result = analyse(ls, uri)
    if result is None:
        return []
    lines = result.lines
    start = to_offset(ls, lines, params.range.start)
    end = to_offset(ls, lines, params.range.end)
    source = lines.text
    resource_ops = _can_create_files(ls)
    options = options_from(ls.session.settings.lint)
    path = to_fs_path(uri)
    actions: list[types.CodeAction] = []
    for d in result.diagnostics:
        if d.end < start or d.start > end:
            continue
        lsp_diag = to_lsp(ls, lines, d)
        # only fixes after which the template parses and nothing else changes
        for fix in verified_fixes(source, result, d, path, options, _index(ls)):
            action = types.CodeAction(
                title=fix.title,
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[lsp_diag],
                is_preferred=fix.preferred or None,
            )
            if fix.create is not None:
                target = _create_target(ls, uri, fix.create)
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


def _can_create_files(ls: TsrLanguageServer) -> bool:
    ws = ls.client_capabilities.workspace
    edit = ws.workspace_edit if ws is not None else None
    if edit is None or not edit.document_changes or not edit.resource_operations:
        return False
    return types.ResourceOperationKind.Create in edit.resource_operations


def _create_target(ls: TsrLanguageServer, uri: str, name: str) -> Path | None:
    """Where a missing template should go: the first search path, else next to the
    template folder its name starts with, else beside the including file."""
    here = to_fs_path(uri)
    if not here:
        return None
    lint = ls.session.settings.lint
    root = ls.project_root()
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


def completion(ls: TsrLanguageServer, params: types.CompletionParams) -> Any:
    from tsr_lsp.jinja_lint.assist import complete

    got = _assist(ls, params, "completion", complete)
    if got is None or got is NOT_MINE:
        return got
    _, items = got
    snippets = _snippets(ls)
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


def _assist(
    ls: TsrLanguageServer,
    params: types.CompletionParams | types.HoverParams,
    what: str,
    call: Callable[[Any, int, Any], Any],
) -> Any:
    """``(analysis result, call(analysis, offset, index))`` at the cursor of an open
    template; ``NOT_MINE`` for other documents, None when there is nothing to analyse or
    ``call`` raised (never fail a keystroke over a linter bug)."""
    uri = params.text_document.uri
    if uri not in _state(ls).languages:
        return NOT_MINE
    result = analyse(ls, uri)
    if result is None or result.analysis is None:
        return None
    offset = to_offset(ls, result.lines, params.position)
    try:
        return result, call(result.analysis, offset, _state(ls).index)
    except Exception:
        log.exception("template %s failed at %s:%s", what, uri, offset)
        return None


def _snippets(ls: TsrLanguageServer) -> bool:
    td = ls.client_capabilities.text_document
    comp = td.completion if td is not None else None
    item = comp.completion_item if comp is not None else None
    return bool(item and item.snippet_support)


def on_hover(ls: TsrLanguageServer, params: types.HoverParams) -> Any:
    from tsr_lsp.jinja_lint.assist import hover

    got = _assist(ls, params, "hover", hover)
    if got is None or got is NOT_MINE:
        return got
    result, found = got
    if found is None:
        return None
    text, start, end = found
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
        range=to_range(ls, result.lines, start, end),
    )


def render_preview(ls: TsrLanguageServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """Arguments: [uri] or [{"uri": ..., "values": {...}}]. Renders the open buffer in the
    sandbox with the front matter's samples (or placeholders), overridden by ``values``."""
    from pygls.exceptions import JsonRpcInvalidParams

    from tsr_lsp.prompts.library import parse_template
    from tsr_lsp.prompts.sandbox import RenderError

    first = args[0] if args else None
    values: dict[str, Any] = {}
    if isinstance(first, dict):
        uri, values = first.get("uri"), first.get("values") or {}
    else:
        uri = first
    if not isinstance(uri, str) or not isinstance(values, dict):
        raise JsonRpcInvalidParams(
            f"{RENDER_PREVIEW} takes a document URI, or {{'uri': ..., 'values': {{...}}}}"
        )
    doc = ls.workspace.get_text_document(uri)
    path = Path(to_fs_path(uri) or uri)
    try:
        template = parse_template(path.stem, doc.source, path)
        used = {**template.sample_values(), **values}
        text = template.render(used)
        system = template.render_system(used)
    except RenderError as exc:
        return {"uri": uri, "error": str(exc)}
    return {
        "uri": uri,
        "name": template.name,
        "system": system,
        "text": text,
        "values": _plain(used),
    }


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(values, default=str))


def create_template(ls: TsrLanguageServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """Fallback for clients without resource operations: create the file server-side."""
    from pygls.exceptions import JsonRpcInvalidParams

    target = args[0] if args else None
    root = ls.project_root()
    if not isinstance(target, str):
        raise JsonRpcInvalidParams(f"{CREATE_TEMPLATE} takes the path of the template to create")
    path = Path(target).resolve()
    if root is not None and root.resolve() not in path.parents:
        raise JsonRpcInvalidParams(f"{path} is outside the workspace {root}")
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    if created:
        path.write_text("", encoding="utf-8")
    state = _state(ls)
    if state.index is not None:
        state.index.add(str(path), "")
    for uri in list(state.languages):
        publish(ls, uri)
    return {"path": str(path), "created": created}


def register(server: TsrLanguageServer) -> None:
    on_notification(server, types.TEXT_DOCUMENT_DID_OPEN, did_open)
    on_notification(server, types.TEXT_DOCUMENT_DID_CHANGE, did_change)
    on_notification(server, types.TEXT_DOCUMENT_DID_SAVE, did_save)
    on_notification(server, types.TEXT_DOCUMENT_DID_CLOSE, did_close)
    on_request(
        server,
        types.TEXT_DOCUMENT_CODE_ACTION,
        code_actions,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    on_request(
        server,
        types.TEXT_DOCUMENT_COMPLETION,
        completion,
        types.CompletionOptions(trigger_characters=["|", ".", "{", "%", "'", '"']),
    )
    on_request(server, types.TEXT_DOCUMENT_HOVER, on_hover)

    # pygls evaluates command annotations at call time: no TYPE_CHECKING-only names here
    @server.command(RENDER_PREVIEW)
    def _render_preview(ls: Any, *args: Any) -> Any:
        return render_preview(ls, args)

    @server.command(CREATE_TEMPLATE)
    def _create_template(ls: Any, *args: Any) -> Any:
        return create_template(ls, args)
