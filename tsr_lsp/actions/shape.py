"""Which part of an action's answer its edit uses: the predicate that stops the model once
that part is written (the engine's ``GenerateOptions.enough``) and the start of the answer
the model need not write (``GenerateOptions.answer_start``). Pure; docs/PROTOCOL.md
"Stopping early"."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tsr_lsp.actions import catalog
from tsr_lsp.actions.clean import code_block_written
from tsr_lsp.actions.edits import docstring_answer_start, docstring_written, imports_answer_start
from tsr_lsp.actions.target import Target


@dataclass(frozen=True)
class AnswerShape:
    enough: Callable[[str], bool] | None = None  # None: the whole answer is used
    start: str = ""
    summary: bool = False  # a docstring's first sentence only


def answer_shape(
    action: catalog.Action,
    language: str,
    target: Target,
    variables: dict[str, Any],
) -> AnswerShape:
    """Docstring: stop once it is written (in the summary style the prompt asks for, its
    ``style`` variable, once its first sentence is); the header before it is given. Fix,
    refactor: stop once the code block is closed, not the chat after it. Tests: the
    imports the prompt asks for are given, so the tests come first. Explain, ask: the
    whole answer."""
    if action is catalog.DOCSTRING:
        summary = variables.get("style", "summary") == "summary"
        enough = functools.partial(
            docstring_written, language=language, name=target.name, summary=summary
        )
        return AnswerShape(enough, docstring_answer_start(target.text, language), summary)
    if action in (catalog.FIX, catalog.REFACTOR):
        return AnswerShape(functools.partial(code_block_written, language=language))
    if action is catalog.TESTS:
        module, names = variables.get("module", ""), variables.get("names", [])
        return AnswerShape(start=imports_answer_start(language, module, names))
    return AnswerShape()
