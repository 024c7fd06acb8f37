"""LintSettings (user/project config) -> LintOptions (what one lint run uses)."""

from __future__ import annotations

from tsr_lsp.config import LintSettings
from tsr_lsp.jinja_lint.model import LintOptions


def options_from(settings: LintSettings) -> LintOptions:
    return LintOptions(
        custom_tags=list(settings.custom_tags),
        extra_filters=list(settings.extra_filters),
        extra_tests=list(settings.extra_tests),
        extra_globals=list(settings.extra_globals),
        select=list(settings.select),
        ignore=list(settings.ignore),
        kind=settings.kind if settings.kind in ("prompt", "chat", "generic") else "auto",
        strict=settings.strict,
    )
