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
- ``direct``: the model's FIM tokens around the whole file, stop at the newline.

``--set stdlib``: the single-file development set (no other files: only ``path`` differs).

  .venv/bin/python scripts/completion_project_probe.py plain,head,outline,direct --limit 60
"""

from __future__ import annotations

import argparse
import re
import sys
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
                chunks=chunks_for(task, name),
                chunk_tokens=args.chunk_tokens,
                header=name == "path",
            )
            tally.add(row, name, got, task.expected, prompt.extra["chunk_tokens"])
        tally.task_done(row)
    tally.summary()


if __name__ == "__main__":
    main()
