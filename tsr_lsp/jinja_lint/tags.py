"""Tags that are not Jinja statements: end tags, custom tags (configured or inferred from
a matching end tag), and tags nobody knows (a typo, a broken name, an extension)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tsr_lsp.jinja_lint import checks
from tsr_lsp.jinja_lint import knowledge as K
from tsr_lsp.jinja_lint.expr import ParseError, Parser
from tsr_lsp.jinja_lint.lexer import Tag
from tsr_lsp.jinja_lint.model import ERROR, WARNING
from tsr_lsp.jinja_lint.scopes import suggest
from tsr_lsp.jinja_lint.statements import _SCOPED, HANDLERS, _push_scoped

if TYPE_CHECKING:
    from tsr_lsp.jinja_lint.analyzer import Analyzer


def lenient_args(a: Analyzer, tag: Tag) -> None:
    """Arguments of a custom tag: count the names it uses, never complain."""
    p = Parser(tag.tokens, a, 1)
    try:
        if not p.at_end():
            p.tuple_()
    except ParseError:
        pass


def other_tag(a: Analyzer, tag: Tag) -> None:
    """End tags, custom tags, and tags nobody knows."""
    name = tag.name
    if name in a.custom_single:
        lenient_args(a, tag)
        return
    if name in a.custom_block:
        a.push(name, tag.start)
        lenient_args(a, tag)
        return
    if name.startswith("end") and (
        name in a.custom_block.values() or name[3:] in K.BLOCK_TAGS or name == "endset"
    ):
        checks.close(a, name, tag)
        return
    if "end" + name in a.block_names:
        _unknown_tag(a, tag, f"treated as a block closed by 'end{name}'", block=True)
        a.push(name, tag.start)
        lenient_args(a, tag)
        return
    if name.startswith("end") and name[3:] in a.block_names:
        checks.close(a, name, tag)
        return
    known = (
        set(K.ALL_TAG_NAMES) | a.custom_single | set(a.custom_block) | set(a.custom_block.values())
    )
    hints = _split_name(tag, known) or suggest(name, known)
    if hints:
        a.add(
            "JL006",
            ERROR,
            f"unknown tag {name!r}; did you mean {hints[0]!r}?",
            tag.tokens[0][2],
            tag.tokens[0][2] + len(name),
            name=name,
            suggestions=hints,
        )
        handler = HANDLERS.get(hints[0])
        if handler is not None:
            try:
                handler(a, tag)
            except ParseError:
                pass
        elif hints[0].startswith("end"):
            checks.close(a, hints[0], tag)
        return
    _unknown_tag(a, tag, "", block=False)
    lenient_args(a, tag)


def _split_name(tag: Tag, known: set[str]) -> list[str]:
    """``{% en dif %}``, ``{% s.et x = 1 %}``: a tag name broken by a stray character."""
    toks = tag.tokens
    name = toks[0][1]
    for k in (1, 2):
        if len(toks) > k + 1 and toks[k][0] == "name":
            between = [t[1] for t in toks[1:k]]
            if all(b in (".", "-", "+", "|", ",") for b in between) and name + toks[k][1] in known:
                return [name + toks[k][1]]
    return []


def _unknown_tag(a: Analyzer, tag: Tag, note: str, block: bool) -> None:
    name = tag.name
    how = f"'{name}/end{name}'" if block else f"'{name}'"
    a.add(
        "JL006",
        ERROR if a.closed_env else WARNING,
        f"unknown tag {name!r}{' (' + note + ')' if note else ''}; if an extension provides it, "
        f"add {how} to lint.custom_tags",
        tag.tokens[0][2],
        tag.tokens[0][2] + len(name),
        name=name,
        suggestions=[],
    )


def structure_only(a: Analyzer, tag: Tag) -> None:
    """A tag that did not even lex: keep the block stack right, nothing else."""
    name = tag.name
    if name in _SCOPED or name in K.BLOCK_TAGS or name in a.custom_block:
        if name != "raw":
            _push_scoped(a, name, tag)
    elif name in ("elif", "else", "pluralize"):
        checks.middle(a, name, tag)
    elif name.startswith("end"):
        checks.close(a, name, tag)
