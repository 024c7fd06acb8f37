"""Memory end to end: real server, real models, real daemon restarts and kill -9.

- cross-session: a new daemon recalls last session's CSV episodes into the prompt;
- crash safety: every acknowledged episode survives kill -9 of the daemon (in a loop);
- learning: outcomes become a pattern and move the next routing decision;
- the CLI goes through the running daemon (Tantivy allows one writer per index).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tsr_lsp.client import TsrClient

STDIO = [sys.executable, "-m", "tsr_lsp"]  # what editors launch: forwards to the daemon
IN_PROCESS = [*STDIO, "stdio", "--no-daemon"]
CSV_REQUEST = "Write a Python function that parses a CSV file into a list of dicts"


def daemon_pid(home: Path) -> int:
    return int((home / "run" / "daemon.lock").read_text())


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in state  # a zombie nobody reaped has exited all the same


def wait_gone(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        assert time.monotonic() < deadline, f"daemon {pid} did not exit"
        time.sleep(0.05)


@pytest.fixture
def daemon_home(home: Path) -> Any:
    yield home
    try:
        os.kill(daemon_pid(home), signal.SIGKILL)
    except (OSError, ValueError):
        pass


async def started(root: Path, cmd: list[str] = STDIO) -> TsrClient:
    client = TsrClient()
    await client.start(cmd, root=root)
    return client


async def remember(client: TsrClient, argument: Any) -> dict[str, Any]:
    params = types.ExecuteCommandParams(command="tsr.memory.remember", arguments=[argument])
    result: dict[str, Any] = await client.lsp.workspace_execute_command_async(params)
    return result


async def generate(client: TsrClient, text: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await client.request(
        "tsr/generate", {"text": text, "maxTokens": 6, "seed": 1, **extra}
    )
    return result


async def test_a_new_daemon_recalls_last_sessions_csv_work(
    daemon_home: Path, tmp_path: Path, models_dir: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    first = await started(project)
    try:
        csv = await generate(first, CSV_REQUEST, file=str(project / "csvparse.py"))
        other = await generate(first, "Explain what a Python decorator is")
        assert csv["episodeId"] and other["episodeId"]
        pid = (await first.request("tsr/status", {}))["pid"]
    finally:
        await first.stop()
    os.kill(pid, signal.SIGTERM)  # the daemon goes away: a week passes
    wait_gone(pid)

    second = await started(project)
    try:
        assert (await second.request("tsr/status", {}))["pid"] != pid
        out = await generate(second, "continue with the CSV parser", debug=True)
        assert out["memory"]["episodes"][0] == csv["episodeId"]
        prompt = "\n".join(m["content"] for m in out["messages"])
        assert "Earlier in this project:" in prompt and CSV_REQUEST in prompt
        found = await second.request("tsr/memory/search", {"query": "CSV parser", "k": 5})
        ranked = [r["id"] for r in found["results"]]  # this session's request is in there too
        assert csv["episodeId"] in ranked[:2]
        assert other["episodeId"] not in ranked[: ranked.index(csv["episodeId"])]
        hit = found["results"][ranked.index(csv["episodeId"])]
        assert hit["file"] == str(project / "csvparse.py") and hit["response"]
    finally:
        await second.stop()


async def test_acknowledged_episodes_survive_kill_9(
    daemon_home: Path, tmp_path: Path, models_dir: Path
) -> None:
    acknowledged: list[str] = []
    for round_ in range(3):
        client = await started(tmp_path)
        try:
            fact = await remember(client, f"kill test fact {round_}")
            acknowledged.append(fact["id"])
            if round_ == 0:
                out = await generate(client, "Say hello to Anna")
                acknowledged.append(out["episodeId"])
            pid = (await client.request("tsr/status", {}))["pid"]
            os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
        finally:
            await client.stop()
    survivor = await started(tmp_path)
    try:
        exported = await survivor.request("tsr/memory/export", {})
        assert set(acknowledged) <= {e["id"] for e in exported["episodes"]}
        stats = await survivor.request("tsr/memory/stats", {})
        assert stats["notices"] == []  # stale locks opened cleanly, nothing moved aside
        assert not list((daemon_home / "data" / "memory").glob("corrupt-*"))
    finally:
        await survivor.stop()


async def test_feedback_becomes_a_pattern_that_moves_routing(
    home: Path, tmp_path: Path, models_dir: Path
) -> None:
    client = await started(tmp_path, IN_PROCESS)
    try:
        request = "Write a Python function for parsing a CSV file"
        for temperature, outcome in [(0.3, "accepted"), (0.7, "rejected")] * 3:
            out = await generate(client, request, temperature=temperature)
            ack = await client.request(
                "tsr/feedback", {"episodeId": out["episodeId"], "outcome": outcome}
            )
            assert ack == {"episodeId": out["episodeId"], "outcome": outcome}
        patterns = (await client.request("tsr/memory/consolidate", {}))["patterns"]
        topic = next(p for p in patterns if p["topic"] == "csv parsing")
        assert topic["statement"].startswith("for csv parsing tasks, temperature 0.3")
        assert sum(len(s["episode_ids"]) for s in topic["settings"]) == 6
        by_temp: dict[float, list[int]] = {}
        for s in topic["settings"]:  # the router may also vary CoT between requests
            got = by_temp.setdefault(s["temperature"], [0, 0])
            got[0] += s["accepted"]
            got[1] += s["tries"]
        assert by_temp == {0.3: [3, 3], 0.7: [0, 3]}
        decision = await client.request(
            "tsr/route", {"text": "Write a CSV parsing function in Python"}
        )
        assert decision["temperature"] == 0.3, decision["explanation"]
        assert "feedback" in decision["explanation"]
        with pytest.raises(Exception, match="no episode with id"):
            await client.request("tsr/feedback", {"episodeId": "nope", "outcome": "accepted"})
        with pytest.raises(Exception, match="exactly one of"):
            await client.request("tsr/memory/forget", {"all": True, "project": "/x"})
    finally:
        await client.stop()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STDIO, "memory", *args], capture_output=True, text=True, timeout=120, check=False
    )


async def test_cli_goes_through_the_running_daemon(daemon_home: Path, tmp_path: Path) -> None:
    client = await started(tmp_path)
    try:
        await remember(client, {"text": "we parse CSV with the stdlib", "kind": "decision"})
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(None, cli, "search", "csv", "stdlib", "--json")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["text"] == "we parse CSV with the stdlib"
        dump = tmp_path / "dump.jsonl"
        done = await loop.run_in_executor(None, cli, "export", "-o", str(dump))
        assert done.returncode == 0, done.stderr
        assert len(dump.read_text().splitlines()) == 1
        gone_ = await loop.run_in_executor(None, cli, "forget", "--project", str(tmp_path))
        assert "forgot 1 episodes" in gone_.stdout
        back = await loop.run_in_executor(None, cli, "import", str(dump))
        assert "imported 1 new episodes" in back.stdout
        stats = json.loads((await loop.run_in_executor(None, cli, "stats", "--json")).stdout)
        assert stats["episodes"] == 1 and stats["projects"] == {str(tmp_path): 1}
    finally:
        await client.stop()


async def _suggestion(client: TsrClient, path: Path, text: str, language: str) -> dict[str, Any]:
    """Open ``path`` and ask for an Invoked inline completion at its end (real coder model);
    the item's acceptance arguments, after telling the server it was shown."""
    path.write_text(text)
    uri = path.as_uri()
    client.lsp.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, 1, text))
    )
    lines = text.split("\n")
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri),
        position=types.Position(len(lines) - 1, len(lines[-1])),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind(1)),
    )
    result = await client.lsp.text_document_inline_completion_async(params)
    assert result is not None and result.items, f"no suggestion for {path.name}"
    command = result.items[0].command
    assert command is not None
    args: dict[str, Any] = command.arguments[0]
    client.lsp.protocol.notify("tsr/inline/didShow", args)
    return args


async def test_memory_stats_shows_inline_acceptance_per_project_and_language(
    daemon_home: Path, tmp_path: Path, models_dir: Path
) -> None:
    """Outcomes sent by two editors of two projects, through the daemon, come back from
    `tsr-lsp memory stats` per project and language (a partial acceptance counts half)."""
    python = "def add(a, b):\n    return "
    js = "function add(a, b) {\n  return "
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    first, second = await started(one), await started(two)
    try:
        args = await _suggestion(first, one / "calc.py", python, "python")
        accepted = await first.lsp.workspace_execute_command_async(
            types.ExecuteCommandParams(command="tsr.inline.accepted", arguments=[args])
        )
        assert accepted == {"id": args["id"], "outcome": "accepted"}
        args = await _suggestion(first, one / "calc.js", js, "javascript")
        first.lsp.protocol.notify("tsr/inline/didPartiallyAccept", {**args, "acceptedLength": 2})
        first.lsp.protocol.notify("tsr/inline/didDismiss", args)
        args = await _suggestion(second, two / "calc.py", python, "python")
        second.lsp.protocol.notify("tsr/inline/didDismiss", args)
        for client, shown in ((first, 2), (second, 1)):  # stats waits for received outcomes
            assert (await client.request("tsr/inline/stats", {}))["shown"] == shown
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(None, cli, "stats", "--json")
        assert done.returncode == 0, done.stderr
        table = json.loads(done.stdout)["completions"]
        assert set(table) == {str(one), str(two)}
        a, b = table[str(one)], table[str(two)]
        assert (a["shown"], a["accepted"], a["partial"], a["rejected"]) == (2, 1, 1, 0)
        assert a["acceptanceRate"] == pytest.approx(0.75)
        assert a["byLanguage"]["python"]["acceptanceRate"] == 1.0
        assert a["byLanguage"]["javascript"]["acceptanceRate"] == pytest.approx(0.5)
        assert (b["shown"], b["rejected"], b["acceptanceRate"]) == (1, 1, 0.0)
        assert list(b["byLanguage"]) == ["python"] and b["byLanguage"]["python"]["rejected"] == 1
        text = await loop.run_in_executor(None, cli, "stats")
        assert text.returncode == 0, text.stderr
        out = text.stdout.splitlines()
        at = out.index(f"  {one}")
        assert out[at + 1].split()[:3] == ["all", "75%", "of"]
        assert [line.split()[0] for line in out[at + 2 : at + 4]] == ["javascript", "python"]
        assert f"  {two}" in out
    finally:
        await first.stop()
        await second.stop()
