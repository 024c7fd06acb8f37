"""The actions: titles, LSP kinds, how each is routed and which template writes its prompt."""

from __future__ import annotations

from dataclasses import dataclass

EDIT = "edit"  # ends in a WorkspaceEdit
DOCUMENT = "document"  # ends in a markdown document shown with window/showDocument


@dataclass(frozen=True)
class Action:
    name: str  # data.action on the wire
    title: str
    kind: str  # the LSP CodeActionKind
    route_kind: str  # the request kind the router sees (config.KINDS)
    template: str  # the prompt template (templates/<name>.jinja)
    result: str  # EDIT or DOCUMENT

    def matches(self, only: list[str] | None) -> bool:
        """LSP ``context.only``: a kind matches its own kind and every parent kind."""
        if not only:
            return True
        return any(self.kind == k or self.kind.startswith(k + ".") for k in only)


FIX = Action("fix", "Fix with AI", "quickfix.tsr.fix", "fix", "fix", EDIT)
REFACTOR = Action(
    "refactor", "Refactor with AI", "refactor.rewrite.tsr.refactor", "refactor", "refactor", EDIT
)
DOCSTRING = Action(
    "docstring",
    "Add docstring with AI",
    "refactor.rewrite.tsr.docstring",
    "refactor",  # rewriting code without changing it: routed like a refactor
    "docstring",
    EDIT,
)
TESTS = Action("tests", "Write tests with AI", "refactor.tsr.tests", "tests", "tests", EDIT)
EXPLAIN = Action("explain", "Explain with AI", "tsr.explain", "explain", "explain", DOCUMENT)
ASK = Action("ask", "Ask AI about the selection", "tsr.ask", "ask", "ask", DOCUMENT)

# the order of the list the editor shows (fixes first, one per diagnostic)
ACTIONS: tuple[Action, ...] = (FIX, REFACTOR, DOCSTRING, TESTS, EXPLAIN, ASK)
BY_NAME = {a.name: a for a in ACTIONS}
KINDS = [a.kind for a in ACTIONS]
DEFAULT_QUESTION = "What does this code do, and is anything wrong with it?"
TITLE_MESSAGE_CHARS = 60


def fix_title(message: str) -> str:
    """``Fix with AI: <the diagnostic's first line, shortened>``."""
    first = " ".join(message.strip().splitlines()[0].split()) if message.strip() else "problem"
    if len(first) > TITLE_MESSAGE_CHARS:
        first = first[: TITLE_MESSAGE_CHARS - 1].rstrip() + "…"
    return f"{FIX.title}: {first}"
