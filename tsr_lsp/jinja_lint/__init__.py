"""Jinja2 template linter: pure analysis (source text -> diagnostics and fixes), no pygls.

Used by the language server (tsr_lsp.server.templates) and by ``tsr-lsp lint``.
"""

from tsr_lsp.jinja_lint.api import LINTED_SUFFIXES, LintResult, lint_text
from tsr_lsp.jinja_lint.codes import CODES
from tsr_lsp.jinja_lint.index import FileIndex, TemplateIndex
from tsr_lsp.jinja_lint.model import ERROR, INFO, WARNING, Diagnostic, LineIndex, LintOptions

__all__ = [
    "CODES",
    "ERROR",
    "INFO",
    "LINTED_SUFFIXES",
    "WARNING",
    "Diagnostic",
    "FileIndex",
    "LineIndex",
    "LintOptions",
    "LintResult",
    "TemplateIndex",
    "lint_text",
]
