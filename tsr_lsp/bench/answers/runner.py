"""Send suite tasks through the real language server and grade the answers.

`SuiteRunner` starts ``tsr-lsp stdio --no-daemon`` (the real server, spoken to by the real
LSP client in tsr_lsp/client.py) in an isolated ``TSR_LSP_HOME``: its own config and
memory, the shared default models. Each task is one ``tsr/generate`` with the task's
generation budget and a fixed seed, either with ``model`` forced to a profile or routed.
Latency is what the client sees (request sent -> reply received); the model is loaded by
`warm` before timing starts, so latencies compare generation, not loading.

Memory is off unless asked for (one task's episode must not leak into the next task's
prompt); the memory measurements (bench answers: memory_harm, memory_help) switch it on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tsr_lsp import paths
from tsr_lsp.bench.answers.tasks import Task, grade

SEED = 1234
ROUTED = "routed"
BASELINE = "routed_baseline"  # the routed pass of another checkout (bench answers --baseline)


@dataclass
class TaskResult:
    task_id: str
    category: str
    split: str
    profile: str  # the profile that was forced, or "routed"
    model: str  # the profile that answered (the router's pick when routed)
    score: float
    latency_ms: float
    completion_tokens: int
    prompt_tokens: int
    text: str = ""
    decision: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # the server's error message when the request failed (score 0)
    memory_episodes: int = 0  # how many remembered episodes the server put in the prompt

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_served_from(code_root: Path, python: str, env: dict[str, str]) -> None:
    """Refuse a baseline whose server would import tsr_lsp from somewhere else."""
    found = subprocess.run(
        [python, "-P", "-c", "import tsr_lsp; print(tsr_lsp.__file__)"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    if not found or not Path(found).resolve().is_relative_to(code_root.resolve()):
        raise ValueError(f"--baseline {code_root}: its server would import {found or 'nothing'}")


def _config_toml(memory: bool, record: bool, extra: dict[str, float]) -> str:
    lines = ["[memory]", f"enabled = {str(memory).lower()}"]
    if memory:
        lines.append(f"record_interactions = {str(record).lower()}")
        # lexical retrieval: no encoder build in a throw-away home (the gate reads words)
        lines.append('embeddings = "off"')
        lines += [f"{key} = {value!r}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


class SuiteRunner:
    """One real server session for a run of the suite (async context manager).

    ``memory``: give the server a (fresh, empty) memory; ``record``: store every generation
    as an episode, as a user's server does. ``initialization_options`` reach the session
    like an editor's (e.g. extra model profiles: ``{"models": {"big": {...}}}``). ``home``
    keeps the server's files somewhere you choose (default: a temporary folder, removed on
    exit). ``memory_config``: numeric ``[memory]`` settings for the server's config file
    (memory settings are the daemon's, not a session's), e.g. the relevance gate's."""

    def __init__(
        self,
        *,
        memory: bool = False,
        record: bool = False,
        memory_config: dict[str, float] | None = None,
        initialization_options: dict[str, Any] | None = None,
        home: Path | None = None,
        seed: int = SEED,
        timeout_s: float = 600.0,
        code_root: Path | None = None,
        label: str = ROUTED,
    ):
        self.memory = memory
        self.record = record
        self.memory_config = memory_config or {}
        self.init_options = initialization_options or {}
        self.seed = seed
        self.timeout_s = timeout_s
        self.code_root = code_root  # serve from another checkout (put first on PYTHONPATH)
        self.label = label  # what its routed results are called
        self._own_home = home is None
        self.home = Path(home) if home else Path(tempfile.mkdtemp(prefix="tsr-answers-"))
        self.project = self.home / "project"
        self.client: Any = None
        self._warm: set[str] = set()

    async def __aenter__(self) -> SuiteRunner:
        from tsr_lsp.client import TsrClient, server_command

        config = self.home / "config" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(_config_toml(self.memory, self.record, self.memory_config))
        self.project.mkdir(parents=True, exist_ok=True)
        env = {"TSR_LSP_HOME": str(self.home), "TSR_LSP_MODELS_DIR": str(paths.models_dir())}
        command = server_command(no_daemon=True)
        if self.code_root is not None:
            env["PYTHONPATH"] = str(self.code_root)
            # -P: without it `python -m` puts the working directory first, so a bench run
            # from this checkout's root served this checkout as the "baseline"
            command = [command[0], "-P", *command[1:]]
            _check_served_from(self.code_root, command[0], env)
        self.client = TsrClient()
        await self.client.start(
            command,
            root=self.project,
            env=env,
            initialization_options=self.init_options,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.client is not None:
            await self.client.stop()
            self.client = None
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    @property
    def project_id(self) -> str:
        """The project name memory files episodes under (the workspace root)."""
        return str(self.project.resolve())

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        return await asyncio.wait_for(self.client.request(method, params), self.timeout_s)

    async def warm(self, profile: str | None) -> None:
        """Load a profile's model (not timed). Routed runs warm every profile they meet."""
        if profile is None or profile in self._warm:
            return
        await self.request(
            "tsr/generate", {"text": "Hi", "model": profile, "maxTokens": 1, "raw": True}
        )
        self._warm.add(profile)

    async def generate(
        self,
        text: str,
        *,
        profile: str | None = None,
        max_tokens: int = 256,
        kind: str = "ask",
        cot: int | None = None,
    ) -> tuple[dict[str, Any], float]:
        """One tsr/generate as an editor sends it (``cot``: a fixed reasoning depth, as
        calibration grades configurations); the reply and the client-side latency."""
        await self.warm(profile)
        params: dict[str, Any] = {
            "text": text,
            "kind": kind,
            "maxTokens": max_tokens,
            "seed": self.seed,
        }
        if cot is not None:
            params["cotSteps"] = cot
        if profile:
            params["model"] = profile
        else:  # routed: load the model the router will pick before timing
            decision = await self.request("tsr/route", {"text": text, "kind": kind})
            await self.warm(decision.get("model"))
        start = time.perf_counter()
        reply = await self.request("tsr/generate", params)
        return reply, (time.perf_counter() - start) * 1000

    async def run(
        self, task: Task, profile: str | None = None, cot: int | None = None
    ) -> TaskResult:
        """Send one task (``profile`` forced, or None for the router's choice; ``cot`` a
        fixed depth) and grade it. A request the server rejects scores 0 with its error
        kept, so one bad profile does not stop a run."""
        from pygls.exceptions import JsonRpcException

        label = profile or self.label
        try:
            reply, latency = await self.generate(
                task.prompt,
                profile=profile,
                max_tokens=task.max_tokens,
                kind=task.kind,
                cot=cot,
            )
        except (JsonRpcException, TimeoutError) as exc:
            message = getattr(exc, "message", "") or str(exc) or type(exc).__name__
            return TaskResult(
                task.id,
                task.category,
                task.split,
                label,
                profile or "",
                0.0,
                0.0,
                0,
                0,
                error=message,
            )
        text = str(reply.get("text", ""))
        decision = reply.get("decision", {})
        usage = reply.get("usage", {})
        return TaskResult(
            task_id=task.id,
            category=task.category,
            split=task.split,
            profile=label,
            model=str(decision.get("model", profile or "")),
            score=grade(task, text),
            latency_ms=round(latency, 1),
            completion_tokens=int(usage.get("completionTokens", 0)),
            prompt_tokens=int(usage.get("promptTokens", 0)),
            text=text,
            decision={
                k: decision.get(k)
                for k in ("category", "model", "cot_steps", "temperature", "confidence")
            },
            memory_episodes=len((reply.get("memory") or {}).get("episodes") or []),
        )


Progress = Callable[[int, int, TaskResult], None]


def stderr_progress(done: int, total: int, result: TaskResult) -> None:
    """One line per task on stderr: long runs show they are alive."""
    memory = f" memory {result.memory_episodes}" if result.memory_episodes else ""
    print(
        f"[{done}/{total}] {result.profile:<8} {result.task_id:<22} score {result.score:.2f} "
        f"{result.latency_ms:7.0f} ms{memory} {result.error[:60]}",
        file=sys.stderr,
        flush=True,
    )


def schedule(n_tasks: int, n_profiles: int) -> list[tuple[int, int]]:
    """(task index, profile index) pairs in run order: staggered, so profile ``j`` runs task
    ``i`` at step ``i + j`` and every profile's pass spans the same stretch of time.

    Run one after another, the last pass (routed) met the most load: on a shared machine the
    load drifts within a run, and that drift landed on one side of the comparison. Staggering
    (not just alternating) also keeps a model from answering the same prompt twice in a row,
    which would let the second answer reuse the first's prompt cache (llama.cpp keeps the
    last prompt's KV state) and look faster than it is."""
    order = []
    for step in range(n_tasks + n_profiles - 1):
        for j in range(n_profiles):
            i = step - j
            if 0 <= i < n_tasks:
                order.append((i, j))
    return order


async def run_tasks_async(
    tasks: Sequence[Task],
    profiles: Sequence[str | None],
    *,
    progress: Progress | None = None,
    runner: SuiteRunner | None = None,
    baseline: SuiteRunner | None = None,
) -> list[TaskResult]:
    """Every task with every profile (None = routed), interleaved (`schedule`), plus a
    routed pass on ``baseline`` (another checkout's server) when given; results in run
    order."""
    total = len(tasks) * (len(profiles) + (baseline is not None))
    results: list[TaskResult] = []

    async def go(r: SuiteRunner) -> None:
        passes: list[tuple[SuiteRunner, str | None]] = [(r, p) for p in profiles]
        if baseline is not None:
            passes.append((baseline, None))
        for i, j in schedule(len(tasks), len(passes)):
            on, profile = passes[j]
            result = await on.run(tasks[i], profile)
            results.append(result)
            if progress:
                progress(len(results), total, result)

    if runner is not None:
        await go(runner)
    else:
        async with SuiteRunner() as own:
            await go(own)
    return results


def run_tasks(
    tasks: Sequence[Task],
    profiles: Sequence[str | None],
    progress: Progress | None = None,
) -> list[TaskResult]:
    """Synchronous wrapper: one isolated server for the whole run."""
    return asyncio.run(run_tasks_async(tasks, profiles, progress=progress))
