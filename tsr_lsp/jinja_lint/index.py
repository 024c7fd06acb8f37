"""Which templates exist, and what macros they export: for include/import/extends checks,
macro arity across files and template-name completion.

The analysis only sees the :class:`TemplateIndex` protocol. :class:`FileIndex` is the
filesystem implementation the CLI and the server use. With explicit search paths (like a
Jinja ``FileSystemLoader``) a missing target is certain; without them the linted tree is
searched by path suffix and a miss is only likely (the tree may be partial).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tsr_lsp.jinja_lint.expr import ParseError, Parser
from tsr_lsp.jinja_lint.lexer import BLOCK, scan
from tsr_lsp.jinja_lint.scopes import Signature, Suggester

SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".mypy_cache",
        ".ruff_cache",
        "dist",
        "build",
    }
)
TEMPLATE_SUFFIXES = (
    ".jinja",
    ".jinja2",
    ".j2",
    ".html",
    ".htm",
    ".xml",
    ".txt",
    ".md",
    ".json",
    ".tmpl",
    ".tpl",
    ".sql",
    ".yaml",
    ".yml",
)
MAX_FILES = 50_000


class TemplateIndex(Protocol):
    strict: bool

    def exists(self, name: str, from_path: str | None) -> bool | None: ...

    def exports(self, name: str, from_path: str | None) -> Exports | None: ...

    def names(self) -> list[str]: ...

    def vocabulary(self) -> Vocabulary | None: ...


_TAG_BODY = re.compile(r"\{[{%](.*?)[}%]\}", re.S)
_STRING = re.compile(r"'[^'\\]*(?:\\.[^'\\]*)*'|\"[^\"\\]*(?:\\.[^\"\\]*)*\"")
_IDENT = re.compile(r"(?<![.\w])[A-Za-z_]\w*")


def names_in(text: str) -> set[str]:
    """Names used inside the tags of a template (not strings, not attributes)."""
    return set(_IDENT.findall(_STRING.sub(" ", " ".join(_TAG_BODY.findall(text)))))


class Vocabulary:
    """The names a project's templates use, and in how many files: a name no other file
    uses, one edit away from a name many files use, is most likely a typo."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.owners: dict[str, set[str]] = {}
        self._near: dict[str, set[str]] | None = None
        self._parts: dict[str, list[str]] | None = None
        self._part_suggester: Suggester | None = None

    def add(self, path: str, names: set[str]) -> None:
        counts, owners = self.counts, self.owners
        for name in names:
            c = counts.get(name, 0) + 1
            counts[name] = c
            if c <= 3:
                owners.setdefault(name, set()).add(path)
            else:
                owners.pop(name, None)
        self._near = None
        self._parts = None

    def _words(self) -> dict[str, list[str]]:
        if self._parts is None:
            parts: dict[str, list[str]] = {}
            for n in self.counts:
                for w in n.split("_"):
                    if len(w) >= 5:
                        names = parts.setdefault(w, [])
                        if len(names) < 8:
                            names.append(n)
            self._parts = parts
            self._part_suggester = Suggester(parts)
        return self._parts

    def part_names(self, word: str) -> list[str]:
        """Some names (at most 8) containing ``word`` as an ``_``-separated part."""
        return self._words().get(word, [])

    def part_suggester(self) -> Suggester:
        """Did-you-mean over the words (5+ letters) of every name the project uses."""
        self._words()
        assert self._part_suggester is not None
        return self._part_suggester

    def others(self, name: str, path: str | None) -> int:
        """Files other than ``path`` that use ``name``."""
        c = self.counts.get(name, 0)
        owners = self.owners.get(name)
        return c - 1 if owners is not None and path in owners else c

    def near(self, name: str) -> list[str]:
        """Names one edit (insert, delete, replace, swap) away: a deletion index."""
        if self._near is None:
            near: dict[str, set[str]] = {}
            for word in self.counts:
                near.setdefault(word, set()).add(word)
                for i in range(len(word)):
                    near.setdefault(word[:i] + word[i + 1 :], set()).add(word)
            self._near = near
        found: set[str] = set(self._near.get(name, ()))
        for i in range(len(name)):
            found |= self._near.get(name[:i] + name[i + 1 :], set())
        found.discard(name)
        return sorted(found)


@dataclass
class Exports:
    macros: dict[str, Signature]
    variables: set[str]


class _Null:
    def use(self, name: str, pos: int) -> None: ...
    def on_filter(self, *a: object) -> None: ...
    def on_test(self, *a: object) -> None: ...
    def on_call(self, *a: object) -> None: ...
    def on_attr(self, *a: object) -> None: ...


_SPECIAL = re.compile(r"\b(varargs|kwargs|caller)\b")


def read_exports(text: str) -> Exports:
    """Top-level macros (with signatures) and ``set`` names of a template: a light pass
    that parses only block tags."""
    macros: dict[str, Signature] = {}
    variables: set[str] = set()
    depth = 0
    current: tuple[Signature, int] | None = None
    sink = _Null()
    for tag in scan(text):
        if tag.kind != BLOCK or tag.error is not None:
            continue
        name = tag.name
        if name in ("macro", "for", "if", "block", "call", "filter", "with"):
            if name == "macro" and depth == 0:
                sig = _signature(tag.tokens, sink)
                if sig is not None:
                    macros[sig.name] = sig
                    current = (sig, tag.end)
            depth += 1
        elif name in ("endmacro", "endfor", "endif", "endblock", "endcall", "endfilter", "endwith"):
            depth = max(0, depth - 1)
            if depth == 0 and current is not None and name == "endmacro":
                sig, body_start = current
                for m in _SPECIAL.finditer(text, body_start, tag.start):
                    setattr(sig, m.group(1), True)
                current = None
        elif name == "set" and depth == 0:
            toks = tag.tokens
            if len(toks) > 1 and toks[1][0] == "name":
                variables.add(toks[1][1])
    return Exports(macros, variables)


def _signature(tokens: list[tuple[str, str, int]], sink: _Null) -> Signature | None:
    p = Parser(tokens, sink, 1)
    try:
        name = p.expect_name()
        p.expect_op("(")
        params: list[str] = []
        required = -1
        while not p.is_op(")"):
            if params:
                p.expect_op(",")
            params.append(p.expect_name()[1])
            if p.skip_op("="):
                p.expression()
                if required < 0:
                    required = len(params) - 1
        return Signature(name[1], params, len(params) if required < 0 else required, name[2])
    except ParseError:
        return None


class FileIndex:
    """Templates under ``roots``; ``search_paths`` (if given) resolve names like a loader."""

    def __init__(self, roots: list[Path], search_paths: list[Path] | None = None) -> None:
        self.roots = [r.resolve() for r in roots]
        self.search_paths = [p.resolve() for p in (search_paths or [])]
        self.strict = bool(self.search_paths)
        self._files: list[str] | None = None
        self._suffixes: dict[str, str] | None = None
        self._ambiguous: set[str] = set()  # names several files in the tree end with
        self._exports: dict[str, tuple[float, Exports]] = {}
        self._vocabulary: Vocabulary | None = None

    # ---------------------------------------------------------------- lookup
    def _all(self) -> list[str]:
        if self._files is None:
            files: list[str] = []
            for root in self.roots:
                if root.is_file():
                    files.append(root.as_posix())
                    continue
                for dirpath, dirnames, filenames in os.walk(root):
                    dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
                    files.extend(
                        f"{dirpath}/{f}" for f in filenames if f.endswith(TEMPLATE_SUFFIXES)
                    )
                    if len(files) > MAX_FILES:
                        break
            self._files = files
            suffixes: dict[str, str] = {}
            ambiguous: set[str] = set()
            for f in files:
                parts = f.split("/")
                for i in range(1, min(len(parts), 8)):
                    key = "/".join(parts[-i:])
                    if suffixes.setdefault(key, f) != f:
                        ambiguous.add(key)
            self._ambiguous = ambiguous
            self._suffixes = suffixes
        return self._files

    def find(self, name: str, from_path: str | None) -> Path | None:
        name = name.lstrip("/")
        for sp in self.search_paths:
            cand = sp / name
            if cand.is_file():
                return cand
        if self.strict:
            return None
        if from_path:
            cand = Path(from_path).parent / name
            if cand.is_file():
                return cand
        self._all()
        assert self._suffixes is not None
        found = self._suffixes.get(name)
        return Path(found) if found else None

    def exists(self, name: str, from_path: str | None) -> bool | None:
        if not name or "{" in name:
            return None
        return self.find(name, from_path) is not None

    def exports(self, name: str, from_path: str | None) -> Exports | None:
        """Macros and variables of a template, or None when it cannot be told which file
        the name means (missing, or several files in an unconfigured tree end with it)."""
        path = self.find(name, from_path)
        if path is None:
            return None
        guessed = not self.strict and not (from_path and (Path(from_path).parent / name).is_file())
        if guessed and name.lstrip("/") in self._ambiguous:
            return None
        key = str(path)
        try:
            mtime = path.stat().st_mtime
            cached = self._exports.get(key)
            if cached is not None and cached[0] == mtime:
                return cached[1]
            exports = read_exports(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
        self._exports[key] = (mtime, exports)
        return exports

    def names(self) -> list[str]:
        """Template names relative to the search paths (or roots), for completion."""
        bases = self.search_paths or self.roots
        out: set[str] = set()
        for f in self._all() if not self.strict else _walk(bases):
            for base in bases:
                prefix = base.as_posix().rstrip("/") + "/"
                if f.startswith(prefix):
                    out.add(f[len(prefix) :])
                    break
        return sorted(out)

    def vocabulary(self) -> Vocabulary | None:
        if self._vocabulary is None:
            vocab = Vocabulary()
            for f in self._all():
                try:
                    text = Path(f).read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                if "{" in text:
                    vocab.add(f, names_in(text))
            self._vocabulary = vocab
        return self._vocabulary

    def add(self, path: str, text: str) -> None:
        """A file was saved or created: make it resolvable and learn its names."""
        path = str(Path(path).resolve())
        self._exports.pop(path, None)
        if self._files is not None and self._suffixes is not None and path not in self._files:
            self._files.append(path)
            parts = path.split("/")
            for i in range(1, min(len(parts), 8)):
                self._suffixes.setdefault("/".join(parts[-i:]), path)
        if self._vocabulary is not None:
            vocab = self._vocabulary
            known = {n for n, o in vocab.owners.items() if path in o}
            vocab.add(path, names_in(text) - known)

    def invalidate(self) -> None:
        self._files = None
        self._suffixes = None
        self._vocabulary = None


def _walk(bases: list[Path]) -> list[str]:
    files: list[str] = []
    for base in bases:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            files.extend(f"{dirpath}/{f}" for f in filenames if f.endswith(TEMPLATE_SUFFIXES))
            if len(files) > MAX_FILES:
                return files
    return files
