"""AI code actions' answers as WorkspaceEdits, shaped by what the client supports.

Kept apart from the feature (server/actions.py): everything here reads the workspace and
the client's capabilities and builds an edit; nothing runs a model or writes memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from tsr_lsp.actions import catalog, outcome
from tsr_lsp.actions.edits import LineEdit
from tsr_lsp.actions.target import PYTHON, split_lines
from tsr_lsp.server.action_types import Generated, lsp_range, user_error


@dataclass
class EditPlanner:
    """One answer -> its WorkspaceEdit and what to watch once it is applied."""

    workspace: Any
    caps: Any  # the client's ClientCapabilities
    root: Path | None
    tests_dir_setting: str

    def plan(self, gen: Generated) -> tuple[types.WorkspaceEdit, list[outcome.Applied]]:
        """The WorkspaceEdit of an edit action (and what to watch once it is applied).
        Raises PlanError when the answer cannot become an edit."""
        from tsr_lsp.actions import edits

        if gen.action is catalog.TESTS:
            return self._tests_edit(gen)
        if gen.action is catalog.DOCSTRING:
            line_edit = edits.plan_docstring(
                gen.text, gen.target, gen.answer, gen.language, gen.summary
            )
        else:
            line_edit = edits.plan_replace(
                gen.text, gen.target, gen.answer, gen.language, gen.action.name
            )
        after = edits.apply_line_edits(gen.text, [line_edit])
        grown = len(split_lines(line_edit.text)) - (line_edit.end - line_edit.start)
        new_region = "".join(split_lines(after)[gen.target.start : gen.target.end + grown])
        watch = outcome.Applied(gen.data.uri, gen.episode or "", gen.target.text, new_region)
        doc = self.workspace.get_text_document(gen.data.uri)
        text_edit = types.TextEdit(self._linelsp_range(gen.text, line_edit), line_edit.text)
        return self._workspace_edit(gen.data.uri, doc.version, [text_edit]), [watch]

    def _tests_edit(self, gen: Generated) -> tuple[types.WorkspaceEdit, list[outcome.Applied]]:
        from tsr_lsp.actions import edits
        from tsr_lsp.actions.target import file_for_tests, importable_names, module_name

        root = self.root or Path(gen.path).parent
        tests_dir = self._tests_dir(root)
        test_path = tests_dir / file_for_tests(gen.path, gen.language)
        test_uri = from_fs_path(str(test_path)) or test_path.as_uri()
        existing = self._read(test_uri, test_path)
        prelude = ""
        module = module_name(gen.path, str(root))
        if gen.language == PYTHON and existing is None:
            prelude = _python_prelude(root, tests_dir, Path(gen.path))
        names = importable_names(gen.text, gen.target) if gen.language == PYTHON else []
        plan = edits.plan_tests(gen.answer, gen.language, module, names, existing, prelude)
        watch = outcome.Applied(test_uri, gen.episode or "", existing or "", plan.text)
        if existing is None:
            insert = types.TextEdit(lsp_range(0, 0, 0, 0), plan.text)
            changes: list[Any] = [
                types.CreateFile(
                    uri=test_uri, options=types.CreateFileOptions(ignore_if_exists=True)
                ),
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=test_uri, version=None
                    ),
                    edits=[insert],
                ),
            ]
            return types.WorkspaceEdit(document_changes=changes), [watch]
        end = self._end_position(test_uri, existing)
        text_edit = types.TextEdit(types.Range(start=end, end=end), plan.text)
        version = self._open_version(test_uri)
        return self._workspace_edit(test_uri, version, [text_edit]), [watch]

    def can_resolve_edits(self) -> bool:
        td = self.caps.text_document
        ca = td.code_action if td is not None else None
        support = ca.resolve_support if ca is not None else None
        return bool(support and "edit" in support.properties)

    def can_create_files(self) -> bool:
        """Resource operations exist only in ``documentChanges``: a client that lists
        ``create`` handles them even when it does not also set ``documentChanges``
        (Neovim)."""
        ws = self.caps.workspace
        edit = ws.workspace_edit if ws is not None else None
        ops = edit.resource_operations if edit is not None else None
        return bool(ops and types.ResourceOperationKind.Create in ops)

    def can_show_documents(self) -> bool:
        window = self.caps.window
        show = window.show_document if window is not None else None
        return bool(show and show.support)

    def _workspace_edit(
        self, uri: str, version: int | None, edits: list[types.TextEdit]
    ) -> types.WorkspaceEdit:
        ws = self.caps.workspace
        versioned = ws is not None and ws.workspace_edit and ws.workspace_edit.document_changes
        if versioned:
            ident = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
            changes: list[Any] = [types.TextDocumentEdit(text_document=ident, edits=edits)]
            return types.WorkspaceEdit(document_changes=changes)
        return types.WorkspaceEdit(changes={uri: edits})

    def _linelsp_range(self, text: str, edit: LineEdit) -> types.Range:
        """Whole lines; an end past the last line is the end of the document."""
        lines = split_lines(text)
        if edit.end < len(lines) or text.endswith(("\n", "\r")):
            return lsp_range(edit.start, 0, edit.end, 0)
        last = len(lines) - 1
        codec = self.workspace.position_codec
        col = codec.client_num_units(lines[last].rstrip("\r\n"))
        return lsp_range(edit.start, 0, last, col)

    def _end_position(self, uri: str, text: str) -> types.Position:
        lines = split_lines(text)
        if not lines or text.endswith(("\n", "\r")):
            return types.Position(line=len(lines), character=0)
        codec = self.workspace.position_codec
        last = lines[-1].rstrip("\r\n")
        return types.Position(line=len(lines) - 1, character=codec.client_num_units(last))

    def _open_version(self, uri: str) -> int | None:
        doc = self.workspace.text_documents.get(uri)
        return doc.version if doc is not None else None

    def _read(self, uri: str, path: Path) -> str | None:
        """An open document's text, else the file's, else None (it does not exist)."""
        doc = self.workspace.text_documents.get(uri)
        if doc is not None:
            return str(doc.source)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise user_error(f"cannot read {path}: {exc}") from None

    def _tests_dir(self, root: Path) -> Path:
        configured = self.tests_dir_setting
        if configured:
            # trust keeps a cloned project's "../.." out; this also catches symlinks
            folder = (root / configured).resolve()
            if not folder.is_relative_to(root.resolve()):
                raise user_error(
                    f"actions.testsDir {configured!r} resolves to {folder}, outside the "
                    f"project {root}: Write tests only writes inside the project"
                )
            return folder
        for name in ("tests", "test"):
            if (root / name).is_dir():
                return root / name
        return root / "tests"


def created_file(edit: types.WorkspaceEdit) -> str | None:
    """The file a Write tests edit creates, if any."""
    for change in edit.document_changes or []:
        if isinstance(change, types.CreateFile):
            return change.uri
    return None


def _python_prelude(root: Path, tests_dir: Path, source: Path) -> str:
    """sys.path lines for a new test file, unless pytest already finds the code: a
    conftest.py at the root, a package tests/, or pytest's ``pythonpath`` setting."""
    from tsr_lsp.actions.target import path_prelude

    if (root / "conftest.py").exists() or (tests_dir / "__init__.py").exists():
        return ""
    for config in ("pyproject.toml", "pytest.ini", "setup.cfg", "tox.ini"):
        try:
            if "pythonpath" in (root / config).read_text(encoding="utf-8"):
                return ""
        except (OSError, UnicodeDecodeError):
            continue
    try:
        levels = len(tests_dir.relative_to(root).parts)
        inside_src = source.relative_to(root).parts[0] == "src"
    except (ValueError, IndexError):
        return ""
    return path_prelude(levels, "src" if inside_src else "")
