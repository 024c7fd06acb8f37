"""The data of AI code actions and the errors the user sees (server/actions.py uses them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lsprotocol import types

from tsr_lsp.actions import outcome
from tsr_lsp.actions.catalog import BY_NAME, Action
from tsr_lsp.actions.target import Target


@dataclass
class ActionData:
    """``data`` of an AI code action, and the argument of ``tsr.action.run``."""

    action: str
    uri: str
    range: dict[str, Any]
    version: int | None = None
    digest: str = ""
    diagnostic: dict[str, Any] | None = None
    question: str = ""

    def __post_init__(self) -> None:
        if self.action not in BY_NAME:
            raise ValueError(f"'action' must be one of {', '.join(BY_NAME)}")
        try:
            self.lines()
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                "'range' must be an LSP range {start: {line, character}, end: {...}}"
            ) from None

    def lines(self) -> tuple[int, int, int, int]:
        start, end = self.range["start"], self.range["end"]
        values = (start["line"], start["character"], end["line"], end["character"])
        if not all(isinstance(v, int) and v >= 0 for v in values):
            raise ValueError("negative or non-integer position")
        return values

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "uri": self.uri, "range": self.range}
        if self.version is not None:
            out["version"] = self.version
        if self.digest:
            out["digest"] = self.digest
        if self.diagnostic is not None:
            out["diagnostic"] = self.diagnostic
        if self.question:
            out["question"] = self.question
        return out


@dataclass
class AppliedArgs:
    positional: ClassVar[tuple[str, ...]] = ("id",)
    id: str


@dataclass
class Generated:
    """What one action's model run produced."""

    action: Action
    data: ActionData
    target: Target
    text: str  # the document's text the target was taken from
    answer: str
    decision: dict[str, Any]
    episode: str | None
    path: str
    language: str
    summary: bool = False  # a docstring's summary line only (actions.docstring)


@dataclass
class Pending:
    """Edits resolved for an episode, waiting for the client to apply them."""

    watches: list[outcome.Applied] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)


def route_summary(decision: dict[str, Any]) -> str:
    """``code (0.93) -> coder, CoT 1``: the explanation's head, without the settings."""
    head = str(decision.get("explanation", "")).split(";", 1)[0]
    return head.split(", temperature", 1)[0].strip()


def user_error(message: str) -> Exception:
    from tsr_lsp.server.custom import UserError

    return UserError(message)


def as_user_error(exc: Exception) -> Exception:
    """Model and template failures the user can act on; anything else is a bug."""
    from tsr_lsp.backends.base import BackendError
    from tsr_lsp.config import UnknownProfileError
    from tsr_lsp.prompts.sandbox import RenderError

    if isinstance(exc, BackendError | UnknownProfileError | RenderError):
        return user_error(str(exc))
    return exc


def lsp_range(sl: int, sc: int, el: int, ec: int) -> types.Range:
    return types.Range(
        start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)
    )


def range_json(r: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": r.start.line, "character": r.start.character},
        "end": {"line": r.end.line, "character": r.end.character},
    }
