"""Does context from the project's other files help a line that calls into them?
(docs/COMPLETION.md, "Project context")

Development set only: ``project`` of tsr_lsp/bench/fim_data.py (lines that use a name
imported from a sibling module; each task carries the siblings an editor would have open).
One process, one model instance; per task and configuration the server's prompt
(``build_prompt``, the lane's stop rule, ``postprocess``) with the other files given as
chunks in one of these forms, or the bench's direct call on the one file:

- ``plain``: no chunks (the default);
- ``head``: each other file's first 64 lines (the ring's chunk for an opened file);
- ``outline``: each other file's stub (``outline`` below) of the names this file uses;
- ``path``: no chunks, but the repository header (repo name, the file's path) around the
  one file;
- ``similar``: the code windows of the project on disk most like the lines above the
  cursor (RepoCoder's retrieval: windows of ``WINDOW`` lines, Jaccard similarity of their
  identifiers with the ``WINDOW`` lines before the cursor), as chunks (repository format);
- ``similar-comment``: the same windows as comments before the prefix ("# Compare this
  snippet from PATH:", the form Copilot uses), the file keeping its plain FIM form;
- ``direct``: the model's FIM tokens around the whole file, stop at the newline.

The project on disk: for ``project`` the task's package, for ``stdlib`` the other top-level
modules of the standard library; the task's own module is never read.

``--set stdlib``: the single-file development set (no other files: only ``path`` differs).

  .venv/bin/python scripts/completion_project_probe.py plain,head,outline,direct --limit 60
"""

from __future__ import annotations

import argparse
import re
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from completion_window_probe import Tally, direct_answer, tsr_answer

from tsr_lsp.bench import fim_data
from tsr_lsp.completion.chunks import pick
from tsr_lsp.completion.context import Chunk, locate

_HEADER = re.compile(r"^(\s*)(?:async\s+def|def|class)\s+(\w+)")
_ASSIGN = re.compile(r"^(\s*)(\w+)\s*(?::[^=]*)?=[^=]")
MAX_HEADER_LINES = 6
WINDOW = 12  # lines of a retrieved window, and of the query before the cursor
STRIDE = 6
SIMILAR_K = 2
MIN_SIMILARITY = 0.2
MAX_ASSIGN_CHARS = 100


def _wants(wanted: set[str] | None, name: str) -> bool:
    return wanted is None or name in wanted


def _header(lines: Sequence[str], i: int) -> tuple[str, int]:
    """A def/class header from line ``i`` to its colon (signatures span lines), joined."""
    parts = []
    for j in range(i, min(i + MAX_HEADER_LINES, len(lines))):
        part = lines[j].split("#", 1)[0].rstrip()
        parts.append(part if j == i else part.strip())
        if part.endswith(":"):
            return " ".join(parts), j + 1
    return "", i + 1


def outline(text: str, wanted: set[str] | None = None) -> str:
    """A stub of a Python module for a prompt: the definitions named in ``wanted`` (the
    identifiers of the file being edited; None: all), each a signature with ``...`` for its body;
    a wanted class brings its ``__init__``, and the wanted names assigned at module or
    class level come as their assignment line (cut to MAX_ASSIGN_CHARS). The part of
    another file that a line calling into it needs, at a fraction of its tokens."""
    lines = text.split("\n")
    out: list[str] = []
    scope: list[tuple[int, bool]] = []  # (indent, kept) of the classes around line i
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        while scope and indent <= scope[-1][0]:
            scope.pop()
        in_kept_class = bool(scope) and scope[-1][1]
        head = _HEADER.match(line)
        if head:
            header, after = _header(lines, i)
            name = head.group(2)
            is_class = line.lstrip().startswith("class")
            # methods only inside a kept class; nested functions never
            visible = not scope or (in_kept_class and len(scope) == 1 and indent > 0)
            keep = bool(header) and (
                (_wants(wanted, name) and (visible or not scope))
                or (in_kept_class and name == "__init__")
            )
            if keep and not (scope and not in_kept_class):
                out.append(header if is_class else header + " ...")
            if is_class:
                scope.append((indent, keep and not scope))
            elif indent == 0 or in_kept_class:
                scope.append((indent, False))  # a function body: skip what is inside
            i = max(after, i + 1)
            continue
        assign = _ASSIGN.match(line)
        if assign and _wants(wanted, assign.group(2)) and (not scope or in_kept_class):
            out.append(line.rstrip()[: MAX_ASSIGN_CHARS + indent])
        i += 1
    # a class with nothing kept inside becomes "class X: ..."
    result: list[str] = []
    for n, line in enumerate(out):
        nxt = out[n + 1] if n + 1 < len(out) else ""
        own = len(line) - len(line.lstrip())
        if line.lstrip().startswith("class") and len(nxt) - len(nxt.lstrip()) <= own:
            line += " ..."
        result.append(line)
    return "\n".join(result)


_POOLS: dict[tuple[str, str], list[tuple[str, str, frozenset[str]]]] = {}


def _pool(task: fim_data.Task, stdlib: bool) -> list[tuple[str, str, frozenset[str]]]:
    """(path, window text, its identifiers) of every window of the task's project files."""
    root = Path(sysconfig.get_paths()["stdlib"])
    if stdlib:
        files = sorted(root.glob("*.py"))
        key = ("stdlib", task.path)
    else:
        package = task.path.split("/")[0]
        files = sorted((root / package).rglob("*.py"))
        key = (package, task.path)
    if key not in _POOLS:
        out = []
        for f in files:
            rel = str(f.relative_to(root))
            if rel == task.path:
                continue
            try:
                lines = f.read_text().split("\n")
            except (OSError, UnicodeDecodeError):
                continue
            for s in range(0, max(1, len(lines) - WINDOW + 1), STRIDE):
                text = "\n".join(lines[s : s + WINDOW]).strip("\n")
                ids = frozenset(fim_data.identifiers(text))
                if len(ids) >= 3:
                    out.append((rel, text, ids))
        _POOLS[key] = out
    return _POOLS[key]


def similar(task: fim_data.Task, stdlib: bool) -> list[Chunk]:
    """The ``SIMILAR_K`` project windows most like the ``WINDOW`` lines before the cursor."""
    lines = task.text.split("\n")
    query = frozenset(
        fim_data.identifiers("\n".join(lines[max(0, task.line - WINDOW) : task.line]))
    )
    if not query:
        return []
    scored = sorted(
        (
            (len(query & ids) / len(query | ids), path, text)
            for path, text, ids in _pool(task, stdlib)
        ),
        reverse=True,
    )
    return [
        Chunk(path, text) for score, path, text in scored[:SIMILAR_K] if score >= MIN_SIMILARITY
    ]


def as_comments(chunks: list[Chunk]) -> str:
    out = []
    for chunk in chunks:
        out.append(f"# Compare this snippet from {chunk.path}:")
        out.extend("# " + line if line.strip() else "#" for line in chunk.text.split("\n"))
    return "\n".join(out) + "\n" if out else ""


def chunks_for(task: fim_data.Task, form: str) -> list[Chunk]:
    if form == "head":
        return [Chunk(path, pick(text.split("\n"), 0)) for path, text in task.others]
    if form == "outline":
        wanted = fim_data.identifiers(task.text)
        return [Chunk(path, outline(text, wanted)) for path, text in task.others]
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("configs", help="comma-separated: plain, head, outline, path, direct")
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--set", default="project", choices=("project", "stdlib"))
    ap.add_argument("--chunk-tokens", type=int, default=512)
    ap.add_argument("--out", default="", help="one JSON line per task (outside the repo)")
    ap.add_argument("--gguf", default="", help=fim_data.GGUF_HELP)
    args = ap.parse_args()
    configs = args.configs.split(",")
    conf, backend = fim_data.inline_coder(args.gguf)
    tasks = fim_data.sample(fim_data.load(args.set), args.limit)
    tally = Tally(configs, "chunk_tokens_mean", args.out)
    for task in tasks:
        cur = locate(task.text, task.line, task.column)
        assert cur is not None
        row: dict[str, object] = {"path": task.path, "expected": task.expected}
        found = (
            similar(task, args.set == "stdlib")
            if any(c.startswith("similar") for c in configs)
            else []
        )
        row["retrieved"] = [c.path for c in found]
        row["copies_expected"] = any(
            task.expected in (x.strip() for x in c.text.split("\n")) for c in found
        )
        for name in configs:
            if name == "direct":
                tally.add(row, name, direct_answer(backend, task), task.expected, 0)
                continue
            got, prompt = tsr_answer(
                backend,
                cur,
                [conf.prefix_tokens, conf.suffix_tokens, "definition"],
                conf,
                path=task.path,
                repo="project",
                chunks=found if name == "similar" else chunks_for(task, name),
                chunk_tokens=args.chunk_tokens,
                header=name == "path",
                before=as_comments(found) if name == "similar-comment" else "",
            )
            tally.add(row, name, got, task.expected, prompt.extra["chunk_tokens"])
        tally.task_done(row)
    tally.summary()


if __name__ == "__main__":
    main()
