"""Block structure (end, middle and unclosed tags) and the whole-file checks: undefined
names, unused definitions, macro arity, the front matter's system prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tsr_lsp.jinja_lint import knowledge as K
from tsr_lsp.jinja_lint import recovery
from tsr_lsp.jinja_lint.context import CHAT, GENERIC, PROMPT
from tsr_lsp.jinja_lint.expr import NAME
from tsr_lsp.jinja_lint.lexer import Tag
from tsr_lsp.jinja_lint.model import ERROR, INFO, WARNING
from tsr_lsp.jinja_lint.scopes import Scope, Signature, Suggester, is_inflection, suggest

if TYPE_CHECKING:
    from tsr_lsp.jinja_lint.analyzer import Analyzer, Frame


# ==================================================================== structure
def _tag_label(name: str) -> str:
    return f"'{{% {name} %}}'"


def close(a: Analyzer, name: str, tag: Tag) -> None:
    frames = a.frames
    if frames and frames[-1].end_tag == name:
        frame = frames.pop()
        _check_end_args(a, frame, tag)
        a.pop(frame, tag.end)
        # an end tag on its own line, indented differently from the line that opened the
        # block, may belong to an outer block (remembered in case one stays unclosed)
        opener_indent = a.line_indent(frame.start, anywhere=True)
        closer_indent = a.line_indent(tag.start)
        if (
            opener_indent is not None
            and closer_indent is not None
            and opener_indent != closer_indent
            and a.lines.line_of(frame.start) != a.lines.line_of(tag.start)
        ):
            a.suspicious.append((frame.tag, frame.start, tag.start, closer_indent))
        return
    idx = next((i for i in range(len(frames) - 1, -1, -1) if frames[i].end_tag == name), None)
    if idx is None:
        opener = name[3:] or name
        a.add(
            "JL005",
            ERROR,
            f"{_tag_label(name)} has no open {opener!r} block to close",
            tag.start,
            tag.end,
            remove=[tag.start, tag.end],
        )
        return
    _unwind_to(a, idx, tag, f"{_tag_label(name)} closes")
    frame = frames.pop()
    a.pop(frame, tag.end)


def _unwind_to(a: Analyzer, idx: int, tag: Tag, action: str) -> None:
    """``tag`` belongs to frame ``idx`` but inner blocks are still open: report the
    innermost one (JL004, with a close-the-block fix) and close them all at ``tag``."""
    frames = a.frames
    inner = frames[-1]
    a.add(
        "JL004",
        ERROR,
        f"{action} the {frames[idx].tag!r} from line "
        f"{a.lines.line_of(frames[idx].start) + 1}, but the {inner.tag!r} from line "
        f"{a.lines.line_of(inner.start) + 1} is still open (missing {_tag_label(inner.end_tag)})",
        tag.start,
        tag.end,
        end_tag=inner.end_tag,
        insert_at=tag.start,
        opener=inner.start,
    )
    while len(frames) > idx + 1:
        frame = frames.pop()
        report_unclosed(a, frame, tag.start, tag)
        a.pop(frame, tag.start)


def _check_end_args(a: Analyzer, frame: Frame, tag: Tag) -> None:
    toks = tag.tokens
    if len(toks) <= 2:
        return
    if frame.tag == "block" and toks[1][0] == "name" and len(toks) == 3:
        if frame.info and toks[1][1] != frame.info:
            a.add(
                "JL004",
                ERROR,
                f"'endblock {toks[1][1]}' closes block {frame.info!r}",
                toks[1][2],
                toks[1][2] + len(toks[1][1]),
            )
        return
    if frame.tag in a.custom_block:
        return
    a.add(
        "JL001",
        ERROR,
        f"unexpected {toks[1][1]!r} after {tag.name!r}",
        toks[1][2],
        a.token_end(toks[1][2]),
    )


def middle(a: Analyzer, name: str, tag: Tag) -> Frame | None:
    frames = a.frames
    idx = next((i for i in range(len(frames) - 1, -1, -1) if name in frames[i].middles), None)
    if idx is None:
        owners = " or ".join(repr(t) for t, (_, mids) in K.BLOCK_TAGS.items() if name in mids)
        a.add(
            "JL005",
            ERROR,
            f"{_tag_label(name)} outside any {owners} block",
            tag.start,
            tag.end,
            remove=[tag.start, tag.end],
        )
        return None
    if idx != len(frames) - 1:
        _unwind_to(a, idx, tag, f"{_tag_label(name)} belongs to")
    frame = frames[-1]
    if frame.seen_else:
        what = "a second 'else'" if name == "else" else f"{name!r} after 'else'"
        a.add(
            "JL001",
            ERROR,
            f"{what} in the {frame.tag!r} from line {a.lines.line_of(frame.start) + 1}",
            tag.start,
            tag.end,
        )
    if name == "else":
        frame.seen_else = True
    return frame


def report_unclosed(a: Analyzer, frame: Frame, stop: int, closing: Tag | None) -> None:
    lines = a.lines
    open_line = lines.line_of(frame.start)
    guess = recovery.guess_end_line(a, frame, stop)
    stop_line = lines.line_of(stop)
    tag_end = a.source.find("%}", frame.start)
    end = tag_end + 2 if tag_end != -1 and lines.line_of(tag_end) == open_line else frame.start + 2
    where = ""
    if guess is not None and guess != open_line:
        where = f"; by its indentation it ends before line {guess + 1}"
    a.add(
        "JL003",
        ERROR,
        f"{_tag_label(frame.tag)} is never closed (missing {_tag_label(frame.end_tag)}){where}",
        frame.start,
        end,
        end_tag=frame.end_tag,
        opener=frame.start,
        insert_at=lines.offset(guess, 0)
        if guess is not None
        else (closing.start if closing else len(a.source)),
        indent=lines.line_text(open_line)[
            : len(lines.line_text(open_line)) - len(lines.line_text(open_line).lstrip())
        ],
    )
    # An end tag indented like this block but consumed by an inner block of the same kind:
    # that inner block is probably the one that lost its end tag.
    own_indent = a.line_indent(frame.start)
    for tag_name, inner_start, closer, closer_indent in a.suspicious:
        if (
            tag_name == frame.tag
            and frame.start < inner_start
            and closer < stop
            and closer_indent == own_indent
        ):
            a.add(
                "JL003",
                INFO,
                f"this {frame.tag!r} is probably the block missing its "
                f"{_tag_label(frame.end_tag)}: "
                f"the one at line {lines.line_of(closer) + 1} is indented like the {frame.tag!r} "
                f"from line {open_line + 1}",
                inner_start,
                inner_start + 2,
                end_tag=frame.end_tag,
                opener=frame.start,
                insert_at=closer,
            )
    at_tag = closing is not None and guess == stop_line  # JL004 already sits on that line
    if guess is not None and guess != open_line and not at_tag and guess < lines.line_count:
        start = lines.offset(guess, 0)
        a.add(
            "JL003",
            INFO,
            f"{_tag_label(frame.end_tag)} for the {frame.tag!r} from line {open_line + 1} "
            "is probably missing here",
            start,
            max(lines.line_end(guess), start + 1),
            end_tag=frame.end_tag,
            opener=frame.start,
            insert_at=start,
            indent=lines.line_text(open_line)[
                : len(lines.line_text(open_line)) - len(lines.line_text(open_line).lstrip())
            ],
        )


# ==================================================================== names
def report_undefined(a: Analyzer) -> None:
    pool = Suggester(a.def_names | a.globals | set(a.ctx.declared) | _SPECIALS)
    _guarded_typos(a, pool)
    unresolved = [(n, p) for n, p in a.unresolved if n not in a.globals and n not in a.guarded]
    if not unresolved:
        return
    if a.kind == GENERIC:
        _generic_typos(a, unresolved, pool)
        return
    for name, pos in unresolved:
        hints = [h for h in pool(name) if not is_inflection(name, h)]
        if a.kind == CHAT:
            severity = ERROR if hints else WARNING
            message = (
                f"{name!r} is not defined; did you mean {hints[0]!r}?"
                if hints
                else f"{name!r} is not a chat-template variable (messages, tools, "
                "add_generation_prompt, bos_token, ...); guard it with 'is defined' if it is "
                "an optional extra"
            )
        else:
            severity = ERROR
            message = f"{name!r} is not declared in the front matter"
            if hints:
                message += f"; did you mean {hints[0]!r}?"
        _undefined(a, name, pos, severity, message, hints, declare=a.kind == PROMPT)


def _undefined(
    a: Analyzer, name: str, pos: int, severity: str, message: str, hints: list[str], declare: bool
) -> None:
    """JL010 on ``name``; the quick fixes read its name, suggestions and whether to
    offer declaring it in the front matter."""
    a.add(
        "JL010",
        severity,
        message,
        pos,
        pos + len(name),
        name=name,
        suggestions=hints,
        declare=declare,
    )


_SPECIALS = frozenset({"loop", "caller", "varargs", "kwargs", "super"})


def _guarded_typos(a: Analyzer, pool: Suggester) -> None:
    """``{% if naem is defined %}`` never fails, so a typo there hides forever: flag a
    guarded name one edit away from a name this file defines."""
    seen: set[str] = set()
    for name, pos in a.unresolved:
        if name not in a.guarded or name in a.globals or name in seen or len(name) < 3:
            continue
        seen.add(name)
        hints = [h for h in pool(name, 1) if not is_inflection(name, h)]
        if hints:
            message = (
                f"{name!r} is not defined (so 'is defined' is always false); "
                f"did you mean {hints[0]!r}?"
            )
            _undefined(a, name, pos, WARNING, message, hints, declare=False)


def _generic_typos(a: Analyzer, unresolved: list[tuple[str, int]], base: Suggester) -> None:
    """Unknown context: report only likely typos. A name used once here, one edit away
    from a name this file defines or repeats, or (with a project index) from a name other
    templates use while no other template uses this one."""
    counts = a.use_counts
    vocab = a.vocabulary
    pool = Suggester(
        set(base.words) | {n for n, _ in unresolved if counts.get(n, 0) > 1} | K.FRAMEWORK_NAMES
    )
    words: _Words | None = None
    for name, pos in unresolved:
        if counts.get(name, 0) > 1 or len(name) < 2:
            continue
        if vocab is not None and vocab.others(name, a.abspath) > 0:
            continue  # other templates use it too: a context variable, not a typo
        hints: list[str] = []
        if len(name) >= 3:
            limit = 2 if len(name) >= 8 else 1
            hints = [
                h
                for h in pool(name, limit)
                if not is_inflection(name, h) and (name, h) not in a.loop_pairs
            ]
        if not hints and vocab is not None:
            hints = [
                h
                for h in vocab.near(name)
                if vocab.others(h, a.abspath) >= 1 and not is_inflection(name, h)
            ][:3]
        if not hints and "_" in name.strip("_"):
            if words is None:
                words = _Words(a, vocab)
            hints = _part_typo(name, words)
        if not hints:
            continue
        message = f"{name!r} is not defined here; did you mean {hints[0]!r}?"
        _undefined(a, name, pos, WARNING, message, hints, declare=False)


class _Words:
    """The words (``_``-separated parts, 5+ letters) of the names a file and the project
    use, each remembering which names it came from (so a name never vouches for itself)."""

    def __init__(self, a: Analyzer, vocab: Any) -> None:
        self.path = a.abspath
        self.vocab = vocab
        self.local: dict[str, set[str]] = {}
        for n in set(a.use_counts) | a.def_names:
            for w in n.split("_"):
                if len(w) >= 5:
                    self.local.setdefault(w, set()).add(n)
        self.near_local = Suggester(self.local)

    def known(self, word: str, besides: str) -> bool:
        if self.local.get(word, set()) - {besides}:
            return True
        vocab = self.vocab
        if vocab is None:
            return False
        return any(n != besides and vocab.others(n, self.path) > 0 for n in vocab.part_names(word))

    def popularity(self, word: str) -> int:
        """How many names use the word (this file's and the project's)."""
        vocab_names = len(self.vocab.part_names(word)) if self.vocab is not None else 0
        return len(self.local.get(word, ())) + vocab_names

    def near(self, word: str) -> list[str]:
        found = list(self.near_local(word, 1))
        if self.vocab is not None:
            found += self.vocab.part_suggester()(word, 1)
        return found


def _part_typo(name: str, words: _Words) -> list[str]:
    """``nginx_keeplaive_requests``: one word of a compound name is a typo of a word
    other names use (``keepalive`` in ``nginx_keepalive_timeout``)."""
    parts = name.split("_")
    for i, part in enumerate(parts):
        if len(part) < 5 or words.known(part, name):
            continue
        for near in words.near(part):
            if (
                len(near) >= 5
                and not is_inflection(part, near)
                and words.known(near, name)
                and words.popularity(near) > words.popularity(part)  # the rarer one is the typo
            ):
                return ["_".join([*parts[:i], near, *parts[i + 1 :]])]
    return []


def report_unused(a: Analyzer, scope: Scope, nested: bool) -> None:
    kind = a.kind
    generic = kind == GENERIC
    top_ok = not generic or (a.has_output and not a.extends and not a.has_include)
    for d in scope.defs.values():
        if d.used or d.name.startswith("_"):
            continue
        k = d.kind
        if k == "declared":
            code, message = "JL011", f"variable {d.name!r} is declared but never used"
        elif k == "set" and (nested or top_ok) and not (generic and a.has_include):
            code, message = "JL012", f"{d.name!r} is set but never used"
        elif k == "macro" and (
            nested or not generic or ((a.has_output or a.extends) and not a.has_include)
        ):
            code, message = "JL013", f"macro {d.name!r} is never called"
        elif k in ("import", "from") and not a.has_include:
            code, message = "JL014", f"{d.name!r} is imported but never used"
        else:
            continue
        a.add(code, WARNING, message, d.pos, d.pos + len(d.name), name=d.name)


# ==================================================================== macro arity
def check_arity(a: Analyzer) -> None:
    for func, nargs, kwargs, pos, dyn, scope in a.calls:
        if dyn:
            continue
        sig = _signature_for(a, func, scope)
        if sig is None:
            continue
        _check_call(a, sig, nargs, kwargs, func, pos)


def _signature_for(a: Analyzer, func: tuple, scope: Scope) -> Signature | None:
    if func[0] == NAME:
        d = scope.lookup(func[1])
        if d is None:
            return None
        if d.kind == "macro" and isinstance(d.info, Signature):
            return d.info
        if d.kind == "from" and a.index is not None and isinstance(d.info, tuple) and d.info[0]:
            exports = a.index.exports(d.info[0], a.path)
            return exports.macros.get(d.info[1]) if exports else None
        return None
    obj = func[1]
    if obj[0] != NAME or a.index is None:
        return None
    d = scope.lookup(obj[1])
    if d is None or d.kind != "import" or not isinstance(d.info, str):
        return None
    exports = a.index.exports(d.info, a.path)
    return exports.macros.get(func[2]) if exports else None


def _check_call(
    a: Analyzer, sig: Signature, nargs: int, kwargs: list[str], func: tuple, pos: int
) -> None:
    start = func[-1] if func[0] != NAME else func[2]
    end = pos + 1
    params = sig.params
    label = sig.label()
    if nargs > len(params) and not sig.varargs:
        a.add(
            "JL030",
            ERROR,
            f"macro {label} takes at most {len(params)} positional argument(s), got {nargs}",
            start,
            end,
        )
    for kw in kwargs:
        if kw in params[:nargs]:
            a.add(
                "JL030",
                ERROR,
                f"macro {label}: {kw!r} is given twice (by position and by keyword)",
                start,
                end,
            )
        elif kw not in params and not sig.kwargs and kw != "caller":
            hints = suggest(kw, params)
            extra = f"; did you mean {hints[0]!r}?" if hints else ""
            a.add("JL030", ERROR, f"macro {label} has no parameter {kw!r}{extra}", start, end)
    missing = [p for i, p in enumerate(params[: sig.required]) if i >= nargs and p not in kwargs]
    if missing:
        a.add(
            "JL030",
            INFO,
            f"macro {label} called without {', '.join(repr(m) for m in missing)} "
            "(undefined inside the macro)",
            start,
            end,
        )


__all__ = ["CHAT", "check_arity", "close", "middle", "report_undefined", "report_unused"]
