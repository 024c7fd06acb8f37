"""Completion and hover for templates: what fits at the cursor, and what a name means.

Pure functions of (source, offset, analysis, index); the server only converts the result
to LSP types. Works on broken, half-typed templates (the scanner never raises).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from tsr_lsp.jinja_lint import knowledge as K
from tsr_lsp.jinja_lint.analyzer import Analyzer
from tsr_lsp.jinja_lint.context import CHAT
from tsr_lsp.jinja_lint.index import TemplateIndex
from tsr_lsp.jinja_lint.lexer import BLOCK, COMMENT, VAR, Tag, Token
from tsr_lsp.jinja_lint.scopes import Def, Signature

LOOP_ATTRS = {
    "index": "1-based iteration number",
    "index0": "0-based iteration number",
    "revindex": "iterations left (1-based)",
    "revindex0": "iterations left (0-based)",
    "first": "true on the first iteration",
    "last": "true on the last iteration",
    "length": "number of items",
    "cycle": "cycle(a, b, ...): one of the values in turn",
    "depth": "recursion depth (recursive loops, 1-based)",
    "depth0": "recursion depth (0-based)",
    "previtem": "the previous item (undefined on the first)",
    "nextitem": "the next item (undefined on the last)",
    "changed": "changed(*values): true if the values changed since the last call",
}
CHAT_DOCS = {
    "messages": "the conversation: a list of {'role': ..., 'content': ...}",
    "tools": "tool (function) definitions, or undefined",
    "documents": "retrieval documents, or undefined",
    "add_generation_prompt": "true when the prompt must end with the assistant's header",
    "bos_token": "the tokenizer's beginning-of-sequence token",
    "eos_token": "the tokenizer's end-of-sequence token",
    "raise_exception": "raise_exception(message): abort rendering with an error",
    "strftime_now": "strftime_now(format): the current date/time",
}
GLOBAL_DOCS = {
    "range": "range([start,] stop[, step]): bounded by the sandbox",
    "dict": "dict(**items): a dict from keyword arguments",
    "lipsum": "lipsum(n=5, html=True, min=20, max=100): placeholder text",
    "cycler": "cycler(*items): cycle through values with .next()",
    "joiner": "joiner(sep=', '): returns sep from the second call on",
    "namespace": "namespace(**attrs): an object whose attributes {% set ns.x = ... %} may change",
    "self": "the template itself: self.blockname() renders a block",
}


@dataclass
class Item:
    label: str
    kind: str  # variable, filter, test, keyword, file, property, function, snippet
    detail: str = ""
    documentation: str = ""
    insert_text: str | None = None
    sort: str = "5"


def tag_at(tags: list[Tag], offset: int) -> Tag | None:
    """The tag whose content holds the cursor (an unclosed tag runs to the next one)."""
    starts = [t.start for t in tags]
    i = bisect_right(starts, offset - 1) - 1
    if i < 0:
        return None
    tag = tags[i]
    end = tag.end - (2 if tag.closed and tag.kind in (VAR, BLOCK, COMMENT) else 0)
    if tag.inner <= offset <= max(end, tag.inner):
        return tag
    return None


def _before(tag: Tag, offset: int) -> list[Token]:
    return [t for t in tag.tokens if t[0] != "end" and t[2] < offset]


def visible_defs(a: Analyzer, offset: int) -> dict[str, Def]:
    """Names visible at ``offset``: template-level, then enclosing scopes (inner wins)."""
    out: dict[str, Def] = dict(a.root.defs)
    enclosing = [r for r in a.records if r.kind != "template" and r.start <= offset <= r.end]
    enclosing.sort(key=lambda r: r.start)
    for rec in enclosing:
        for d in rec.defs:
            out[d.name] = d
    return out


def complete(a: Analyzer, offset: int, index: TemplateIndex | None = None) -> list[Item]:
    tag = tag_at(a.tags, offset)
    if tag is None or tag.kind == COMMENT:
        return []
    source = a.source
    toks = _before(tag, offset)
    partial = ""
    if toks and toks[-1][0] in ("name", "string") and toks[-1][2] + len(toks[-1][1]) >= offset:
        partial_tok = toks[-1]
        partial = partial_tok[1][: offset - partial_tok[2]]
        toks = toks[:-1]
    prev = toks[-1] if toks else None
    if tag.kind == BLOCK and not toks:
        return _tags(a, offset)
    if partial.startswith(("'", '"')) or (
        prev and prev[0] == "string" and source[offset - 1 : offset] in "'\""
    ):
        if (
            tag.kind == BLOCK
            and tag.name in ("include", "import", "extends", "from")
            and index is not None
        ):
            return [Item(n, "file", "template") for n in index.names()]
        return []
    if prev and prev[0] == "op" and prev[1] == "|":
        return [_filter_item(n) for n in sorted(a.filters)]
    if (
        prev
        and prev[0] == "name"
        and (prev[1] == "is" or (prev[1] == "not" and len(toks) > 1 and toks[-2][1] == "is"))
    ):
        return [_test_item(n) for n in sorted(a.tests)]
    if prev and prev[0] == "op" and prev[1] == "." and len(toks) > 1 and toks[-2][0] == "name":
        return _attributes(a, toks[-2][1], offset, index)
    return _variables(a, offset)


def _tags(a: Analyzer, offset: int) -> list[Item]:
    items = []
    expected = _open_end_tag(a, offset)
    if expected:
        items.append(Item(expected, "keyword", "closes the open block", sort="0"))
    for name in sorted(K.BLOCK_TAGS):
        end = K.BLOCK_TAGS[name][0]
        items.append(
            Item(
                name,
                "snippet",
                f"... {{% {end} %}}",
                K.TAG_DOCS.get(name, ""),
                f"{name} $1 %}}\n$0\n{{% {end}",
                "3",
            )
        )
    for name in sorted(K.SINGLE_TAGS | {"elif", "else"} | a.custom_single | set(a.custom_block)):
        items.append(Item(name, "keyword", "tag", K.TAG_DOCS.get(name, ""), sort="4"))
    return items


def _open_end_tag(a: Analyzer, offset: int) -> str | None:
    stack: list[str] = []
    for tag in a.tags:
        if tag.start >= offset:
            break
        if tag.kind != BLOCK:
            continue
        name = tag.name
        if name in K.BLOCK_TAGS and name != "raw":
            stack.append(K.BLOCK_TAGS[name][0])
        elif name in a.custom_block:
            stack.append(a.custom_block[name])
        elif name.startswith("end") and stack and stack[-1] == name:
            stack.pop()
    return stack[-1] if stack else None


def _filter_item(name: str) -> Item:
    doc = K.filter_doc(name) or "a filter configured in lint.extra_filters"
    return Item(name, "filter", "filter", doc)


def _test_item(name: str) -> Item:
    doc = K.test_doc(name) or "a test configured in lint.extra_tests"
    return Item(name, "test", "test", doc)


def _attributes(a: Analyzer, obj: str, offset: int, index: TemplateIndex | None) -> list[Item]:
    if obj == "loop":
        return [Item(k, "property", "loop", v) for k, v in LOOP_ATTRS.items()]
    d = visible_defs(a, offset).get(obj)
    if d is not None and d.kind == "import" and isinstance(d.info, str) and index is not None:
        exports = index.exports(d.info, a.path)
        if exports is not None:
            return [Item(n, "function", sig.label()) for n, sig in sorted(exports.macros.items())]
    return []


def _variables(a: Analyzer, offset: int) -> list[Item]:
    items: list[Item] = []
    for name, d in sorted(visible_defs(a, offset).items()):
        items.append(
            Item(name, "variable", describe_def(a, d).split("\n")[0], describe_def(a, d), sort="1")
        )
    names = {i.label for i in items}
    if a.kind == CHAT:
        for name in sorted(K.CHAT_GLOBALS - names):
            items.append(Item(name, "variable", "chat template", CHAT_DOCS.get(name, ""), sort="2"))
    for name in sorted(K.BUILTIN_GLOBALS - names):
        items.append(Item(name, "function", "Jinja global", GLOBAL_DOCS.get(name, ""), sort="3"))
    for word in ("true", "false", "none", "not", "and", "or", "in", "is", "if", "else"):
        items.append(Item(word, "keyword", sort="6"))
    return items


def describe_def(a: Analyzer, d: Def) -> str:
    line = a.lines.line_of(d.pos) + 1 if d.pos >= 0 else 0
    kind = d.kind
    if kind == "declared":
        decl = d.info
        vtype = getattr(decl, "type", "any")
        desc = getattr(decl, "description", "")
        return f"{d.name}: {vtype}\n\ndeclared in the front matter (line {line})" + (
            f"\n\n{desc}" if desc else ""
        )
    if kind == "macro" and isinstance(d.info, Signature):
        return f"macro {d.info.label()}\n\ndefined at line {line}"
    if kind == "import":
        return f"{d.name}: imported template {d.info!r} (line {line})"
    if kind == "from":
        src = d.info[0] if isinstance(d.info, tuple) else "?"
        return f"{d.name}: imported from {src!r} (line {line})"
    labels = {
        "set": "set",
        "loop": "loop variable",
        "param": "macro parameter",
        "with": "with-variable",
        "special": "provided by Jinja",
    }
    return f"{d.name}: {labels.get(kind, kind)} (line {line})"


def hover(
    a: Analyzer, offset: int, index: TemplateIndex | None = None
) -> tuple[str, int, int] | None:
    """Markdown for the token under the cursor, with its span."""
    tag = tag_at(a.tags, offset)
    if tag is None or tag.kind == COMMENT:
        return None
    toks = [t for t in tag.tokens if t[0] != "end"]
    at = next((i for i, t in enumerate(toks) if t[2] <= offset < t[2] + len(t[1])), None)
    if at is None:
        return None
    kind, value, pos = toks[at]
    span = (pos, pos + len(value))
    prev = toks[at - 1] if at > 0 else None
    if kind == "string":
        if (
            tag.kind == BLOCK
            and tag.name in ("include", "import", "extends", "from")
            and index is not None
        ):
            from tsr_lsp.jinja_lint.expr import unquote

            name = unquote(value)
            found = index.exists(name, a.path)
            state = "found" if found else ("not found" if found is False else "not checked")
            return (f"template `{name}`: {state}", *span)
        return None
    if kind != "name":
        return None
    if tag.kind == BLOCK and at == 0:
        doc = K.TAG_DOCS.get(value) or K.TAG_DOCS.get(value[3:], "")
        return (f"tag `{value}`\n\n{doc}".strip(), *span)
    if prev and prev[0] == "op" and prev[1] == "|":
        fdoc = K.filter_doc(value) or f"filter `{value}`: " + (
            "configured in lint.extra_filters" if value in a.filters else "unknown"
        )
        return (fdoc, *span)
    if (
        prev
        and prev[0] == "name"
        and prev[1] in ("is", "not")
        and (prev[1] == "is" or (at > 1 and toks[at - 2][1] == "is"))
    ):
        tdoc = K.test_doc(value) or f"test `{value}`: " + (
            "configured in lint.extra_tests" if value in a.tests else "unknown"
        )
        return (tdoc, *span)
    if prev and prev[0] == "op" and prev[1] == ".":
        if at > 1 and toks[at - 2][1] == "loop" and value in LOOP_ATTRS:
            return (f"`loop.{value}`: {LOOP_ATTRS[value]}", *span)
        return None
    d = visible_defs(a, offset).get(value)
    if d is not None:
        return (describe_def(a, d), *span)
    if value in CHAT_DOCS and a.kind == CHAT:
        return (f"`{value}`: {CHAT_DOCS[value]} (chat-template context)", *span)
    if value in GLOBAL_DOCS:
        return (f"`{value}`: {GLOBAL_DOCS[value]}", *span)
    if value == "loop":
        return ("`loop`: the current loop (loop.index, loop.first, loop.last, ...)", *span)
    if value in (
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "and",
        "or",
        "not",
        "in",
        "is",
        "if",
        "else",
    ):
        return None
    return (f"`{value}`: not defined in this template; it comes from the render context", *span)
