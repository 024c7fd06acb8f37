"""bench completion: inline completion quality and latency, tsr-lsp vs a direct call, in
one run (docs/COMPLETION.md).

tsr-lsp side: a real LSP client (pygls) starts ``tsr-lsp stdio --no-daemon`` in a fresh
project folder and, per group of tasks (the masked lines of one file, in order):
  1. writes the masked file to disk, opens it (``--set project``: after the sibling
     files the task carries, as an editor has them open); for half of the groups it sends the
     ``tsr/inline/didFocus`` hint at the cursor (what the editor plugins do), then waits
     5 s (``p50_ms_first`` with the hint, ``p50_ms_first_nohint`` without);
  2. asks ``textDocument/inlineCompletion`` (Automatic) at the cursor after the
     indentation; the first line of item 0 (after the line's indentation) is compared
     with the original line: exact match and edit similarity;
  3. types the first two characters of the suggestion and asks again
     (``p50_ms_type_through``: answered from the cache; ``type_through_hit_ratio``);
  4. with ``--accept``: accepts the suggestion ACCEPT_WAIT_S after it came (the user read
     it), presses Enter (a new line indented as editors do: ``press_enter``) and asks there
     (``p50_ms_after_accept``; ``speculative_used_ratio``: the share of those requests the
     speculative completion answered from the cache, of ``after_accept_tries``);
  5. on a long file (cursor at line >= LONG_LINE: ``--set stdlib``), fills the masked
     line in, adds a line below it with the same indentation (the user pressed Enter) and
     asks there (``p50_ms_next_line_long``: what typing forward costs);
  6. moves to the next masked line of the same file with ``didChange``
     (``p50_ms_next_line``).

Direct side: llama-cpp-python with the same GGUF and constructor arguments, the model's own
FIM tokens around the whole prefix (up to the cursor, indentation included) and suffix,
greedy, stop at the first newline: what a plugin calling the model directly would get.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tsr_lsp import paths
from tsr_lsp.bench import fim_data
from tsr_lsp.bench.fim_data import Task, edit_similarity
from tsr_lsp.bench.stats import median

if TYPE_CHECKING:
    from tsr_lsp.config import ModelProfile

FIRST_WAIT_S = 5.0
TYPED = 2
DEFAULT_LIMIT = 60
LONG_LINE = 60  # a cursor this far down: the prefix window no longer starts at line 0
ACCEPT_WAIT_S = 1.0  # from a suggestion on screen to Tab and Enter (an assumption)
_ENDS_BLOCK = ("return", "raise", "pass", "break", "continue")


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def press_enter(text: str, line: int) -> tuple[str, int]:
    """Enter at the end of ``line`` of a Python file, as an editor indents the new line
    (VS Code's Python support, Neovim's python indent): one level deeper after ':', one
    less after return/raise/pass/break/continue, else the same. The text and the column."""
    lines = text.split("\n")
    code = lines[line]
    indent = len(code) - len(code.lstrip())
    words = code.split()
    if code.rstrip().endswith(":"):
        indent += 4
    elif words and words[0] in _ENDS_BLOCK:
        indent = max(0, indent - 4)
    lines.insert(line + 1, " " * indent)
    return "\n".join(lines), indent


def apply_item(text: str, item: Any) -> str:
    """``text`` with an inline completion item accepted (its range replaced)."""
    lines = text.split("\n")
    start, end = item.range.start, item.range.end
    row = lines[start.line]
    lines[start.line] = row[: start.character] + item.insert_text + row[end.character :]
    return "\n".join(lines)


@dataclasses.dataclass
class Side:
    em: list[float] = dataclasses.field(default_factory=list)
    es: list[float] = dataclasses.field(default_factory=list)
    first: list[float] = dataclasses.field(default_factory=list)
    first_nohint: list[float] = dataclasses.field(default_factory=list)
    next_line: list[float] = dataclasses.field(default_factory=list)
    next_line_long: list[float] = dataclasses.field(default_factory=list)
    type_through: list[float] = dataclasses.field(default_factory=list)
    after_accept: list[float] = dataclasses.field(default_factory=list)
    hits: int = 0
    tries: int = 0
    all_ms: list[float] = dataclasses.field(default_factory=list)
    got: list[str] = dataclasses.field(default_factory=list)

    def score(self, got: str, task: Task) -> None:
        self.got.append(got)
        self.em.append(float(got == task.expected))
        self.es.append(edit_similarity(got, task.expected))


class TsrSide:
    def __init__(self, root: Path, init: dict[str, Any]) -> None:
        self.root = root
        self.init = init
        self.side = Side()
        self.client: Any = None
        self.version = 0
        self.accept = False  # step 4 (--accept)

    async def start(self) -> None:
        from tsr_lsp.client import TsrClient, server_command

        env = {
            "TSR_LSP_HOME": str(self.root / ".home"),
            "TSR_LSP_MODELS_DIR": str(paths.models_dir()),
        }
        self.client = TsrClient()
        await self.client.start(
            server_command(no_daemon=True),
            root=self.root,
            env=env,
            initialization_options=self.init,
        )

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()

    def _notify(self, method: str, params: Any) -> None:
        self.client.lsp.protocol.notify(method, params)

    def _change(self, uri: str, text: str) -> None:
        from lsprotocol import types as t

        self.version += 1
        self.client.lsp.text_document_did_change(
            t.DidChangeTextDocumentParams(
                t.VersionedTextDocumentIdentifier(uri=uri, version=self.version),
                [t.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def _ask(self, uri: str, line: int, column: int) -> tuple[float, Any]:
        from lsprotocol import types as t

        params = t.InlineCompletionParams(
            text_document=t.TextDocumentIdentifier(uri),
            position=t.Position(line, column),
            context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind(2)),
        )
        start = time.perf_counter()
        result = await self.client.lsp.text_document_inline_completion_async(params)
        return (time.perf_counter() - start) * 1000, result

    def _open(self, relative: str, text: str) -> Path:
        """Write a file into the project and open it in the editor."""
        from lsprotocol import types as t

        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.version += 1
        self.client.lsp.text_document_did_open(
            t.DidOpenTextDocumentParams(
                t.TextDocumentItem(path.as_uri(), "python", self.version, text)
            )
        )
        return path

    def _close(self, uri: str) -> None:
        from lsprotocol import types as t

        self.client.lsp.text_document_did_close(
            t.DidCloseTextDocumentParams(t.TextDocumentIdentifier(uri))
        )

    async def group(self, tasks: list[Task], hint: bool) -> None:
        others = [self._open(path, text).as_uri() for path, text in tasks[0].others]
        path = self._open(tasks[0].path, tasks[0].text)
        uri = path.as_uri()
        if hint:
            position = {"line": tasks[0].line, "character": tasks[0].column}
            self._notify(
                "tsr/inline/didFocus", {"textDocument": {"uri": uri}, "position": position}
            )
        await asyncio.sleep(FIRST_WAIT_S)
        for n, task in enumerate(tasks):
            if n:
                path.write_text(task.text)
                self._change(uri, task.text)
            ms, result = await self._ask(uri, task.line, task.column)
            shown = time.monotonic()
            items = list(result.items) if result is not None else []
            suggestion = items[0].insert_text[task.column :] if items else ""
            self.side.score(_first_line(suggestion), task)
            (
                self.side.next_line if n else self.side.first if hint else self.side.first_nohint
            ).append(ms)
            self.side.all_ms.append(ms)
            if len(suggestion) > TYPED:
                await self._type_through(uri, task, suggestion)
            if self.accept and items and items[0].range is not None:
                await asyncio.sleep(max(0.0, shown + ACCEPT_WAIT_S - time.monotonic()))
                await self._accept_and_enter(uri, task, items[0])
            if task.line >= LONG_LINE:
                await self._typed_next_line(uri, task)
        for opened in [uri, *others]:
            self._close(opened)

    async def _type_through(self, uri: str, task: Task, suggestion: str) -> None:
        lines = task.text.split("\n")
        lines[task.line] += suggestion[:TYPED]
        self._change(uri, "\n".join(lines))
        ms, result = await self._ask(uri, task.line, task.column + TYPED)
        self.side.tries += 1
        items = list(result.items) if result is not None else []
        if items and items[0].insert_text[task.column :] == suggestion:
            self.side.hits += 1
            self.side.type_through.append(ms)
        self._change(uri, task.text)

    async def _accept_and_enter(self, uri: str, task: Task, item: Any) -> None:
        """The user accepted the suggestion and pressed Enter: the request on the new line
        (``p50_ms_after_accept``)."""
        text, column = press_enter(apply_item(task.text, item), task.line)
        self._change(uri, text)
        ms, _ = await self._ask(uri, task.line + 1, column)
        self.side.after_accept.append(ms)
        self._change(uri, task.text)

    async def speculative(self) -> dict[str, int]:
        stats = await self.client.lsp.protocol.send_request_async("tsr/inline/stats", {})
        return dict(stats.get("speculative", {}))

    async def _typed_next_line(self, uri: str, task: Task) -> None:
        """The user wrote the masked line and pressed Enter (same indentation): the
        request on the new line, the lines below unchanged (``p50_ms_next_line_long``)."""
        lines = task.text.split("\n")
        indent = lines[task.line]
        typed = [*lines[: task.line], indent + task.expected, indent, *lines[task.line + 1 :]]
        self._change(uri, "\n".join(typed))
        ms, _ = await self._ask(uri, task.line + 1, task.column)
        self.side.next_line_long.append(ms)
        self._change(uri, task.text)


def lane_profile(init: dict[str, Any]) -> ModelProfile:
    """The profile the bench's server runs inline completion on, given its
    initializationOptions (no user config: the server gets a fresh home), so the direct
    call uses the same model file (the router's rule, every profile available)."""
    from tsr_lsp.config import load_settings
    from tsr_lsp.router.policy import inline_profile

    settings, _ = load_settings(None, ("bench", init), user_file=Path(os.devnull))
    name = inline_profile(settings, set(settings.models)) or "coder"
    return dataclasses.replace(settings.profile(name), n_ctx=settings.completion.n_ctx)


class DirectSide:
    def __init__(self, profile: ModelProfile) -> None:
        from llama_cpp import Llama

        from tsr_lsp.backends.llama_cpp import llama_kwargs

        self.profile = profile
        self.llm = Llama(**llama_kwargs(profile))
        vocab = self.llm._model.vocab
        import llama_cpp

        self.fim = (
            llama_cpp.llama_vocab_fim_pre(vocab),
            llama_cpp.llama_vocab_fim_suf(vocab),
            llama_cpp.llama_vocab_fim_mid(vocab),
        )
        self.side = Side()

    def _tok(self, text: str) -> list[int]:
        return list(self.llm.tokenize(text.encode(), add_bos=False, special=False)) if text else []

    def task(self, task: Task) -> None:
        lines = task.text.split("\n")
        head = "\n".join(lines[: task.line]) + "\n" + lines[task.line][: task.column]
        tail = lines[task.line][task.column :] + "\n" + "\n".join(lines[task.line + 1 :])
        pre, suf, mid = self.fim
        before, after = self._tok(head), self._tok(tail)
        room = self.llm.n_ctx() - 64 - 3
        if len(before) + len(after) > room:  # keep the text nearest to the hole
            after = after[: max(room // 4, room - len(before))]
            before = before[-(room - len(after)) :]
        tokens = [pre, *before, suf, *after, mid]
        start = time.perf_counter()
        out: Any = self.llm.create_completion(
            prompt=tokens, max_tokens=48, temperature=0.0, stop=["\n"]
        )
        self.side.all_ms.append((time.perf_counter() - start) * 1000)
        self.side.score(_first_line(str(out["choices"][0]["text"])), task)

    def close(self) -> None:
        self.llm.close()


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 4) if xs else 0.0


def _p50(xs: list[float]) -> float:
    return round(median(xs), 1) if xs else -1.0


def _write_details(out: Path, tasks: list[Task], tsr: Side, direct: Side | None) -> None:
    """One JSON line per task (outside the repository: it quotes the evaluated files)."""
    with out.open("w") as fh:
        for i, task in enumerate(tasks):
            row = {"path": task.path, "line": task.line, "expected": task.expected}
            row["tsr"] = tsr.got[i] if i < len(tsr.got) else None
            if direct is not None:
                row["direct"] = direct.got[i] if i < len(direct.got) else None
            fh.write(json.dumps(row) + "\n")


async def _measure(
    tasks: list[Task],
    init: dict[str, Any],
    direct: ModelProfile | None,
    out: Path | None,
    accept: bool = False,
) -> dict[str, Any]:
    """``direct``: the profile the direct call runs (the inline lane's), None: no direct
    call. ``accept``: step 4 too (it changes what the cache holds for step 5, which then
    answers the exact-match tasks from the cache: step 5's latency is not comparable)."""
    groups: dict[str, list[Task]] = {}
    for task in tasks:
        groups.setdefault(task.group, []).append(task)
    tasks = [task for group in groups.values() for task in group]  # the order they are asked
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="tsr-bench-completion-") as tmp:
        tsr = TsrSide(Path(tmp), init)
        tsr.accept = accept
        base = DirectSide(direct) if direct is not None else None
        await tsr.start()
        try:
            for i, group in enumerate(groups.values()):
                await tsr.group(group, hint=i % 2 == 0)
                if base is not None:  # alternate, so both sides see the same machine load
                    for task in group:
                        base.task(task)
            speculative = await tsr.speculative()
        finally:
            await tsr.stop()
            if base is not None:
                base.close()
    s = tsr.side
    if out is not None:
        _write_details(out, tasks, s, base.side if base is not None else None)
    metrics: dict[str, Any] = {
        "exact_match": _mean(s.em),
        "edit_similarity": _mean(s.es),
    }
    if base is not None:
        d = base.side
        metrics |= {
            "direct_exact_match": _mean(d.em),
            "direct_edit_similarity": _mean(d.es),
            "exact_match_gain": round(_mean(s.em) - _mean(d.em), 4),
            "direct_p50_ms": _p50(d.all_ms),
        }
    metrics |= {
        "p50_ms_next_line": _p50(s.next_line),
        "p50_ms_next_line_long": _p50(s.next_line_long),
        "p50_ms_first": _p50(s.first),
        "p50_ms_first_nohint": _p50(s.first_nohint),
        "p50_ms_type_through": _p50(s.type_through),
        "type_through_hit_ratio": round(s.hits / s.tries, 3) if s.tries else 0.0,
        "p50_ms_after_accept": _p50(s.after_accept),
        "after_accept_tries": len(s.after_accept),
        "speculative_used_ratio": round(speculative.get("used", 0) / len(s.after_accept), 3)
        if s.after_accept
        else 0.0,
        "speculative": speculative,
        "p90_ms_all": round(sorted(s.all_ms)[int(0.9 * (len(s.all_ms) - 1))], 1)
        if s.all_ms
        else -1.0,
        "tasks": len(tasks),
        "groups": len(groups),
        "load_before": load_before,
        "load_after": _load(),
    }
    return metrics


def run(args: argparse.Namespace) -> dict[str, Any]:
    name = getattr(args, "set", None) or "humaneval"
    limit = getattr(args, "limit", 0) or DEFAULT_LIMIT
    overrides = json.loads(getattr(args, "settings", None) or "{}")
    every = fim_data.load(name)
    tasks = fim_data.sample(every, limit)
    root = Path(__file__).resolve().parents[2]  # a source checkout; an installed wheel has none
    overlap = fim_data.repo_overlap(every, root) if (root / "tests").is_dir() else []
    for path in overlap:
        print(f"bench completion: {path} shares 8 words with the {name} set", file=sys.stderr)
    init: dict[str, Any] = {"completion": overrides} if overrides else {}
    if getattr(args, "candidates", False):  # with --settings '{"profile": NAME}'
        from tsr_lsp.modelfiles import candidate_profiles

        progress = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
        only = [overrides["profile"]] if overrides.get("profile") else None
        init["models"] = candidate_profiles(progress, only=only)
    lane = lane_profile(init)  # the inline lane's model, and so the direct call's
    direct = None if getattr(args, "no_direct", False) else lane
    accept = getattr(args, "accept", False)
    metrics = asyncio.run(_measure(tasks, init, direct, getattr(args, "out", None), accept))
    model = Path(lane.path).name
    return {"set": name, "model": model, **metrics, "repo_files_overlapping_set": len(overlap)}
