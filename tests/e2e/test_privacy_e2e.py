"""Privacy end to end, under a usual umask (022): a real daemon, a real model, real files.

Secrets sent through tsr/generate, tsr.memory.remember, tsr/memory/import (every text field)
and tsr/feedback (editedText) reach neither memory (index, journal, vectors, exports) nor the
daemon's log; every folder tsr-lsp made is 0700 and every file 0600 (data, memory, log,
runtime, the config `trust` and `models add` write, `memory export -o`), while a file the
daemon creates in the project keeps the user's umask; a -vv log of a 1 MB request is redacted
and cut.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from tsr_lsp.client import TsrClient

STDIO = [sys.executable, "-m", "tsr_lsp"]
GITHUB = "ghp_" + "Rk3mW8qZ1xT5vB9nC2hJ6pL4sD7fG0yA3uE8"
AWS = "AKIA" + "W4R7Y2QXP9ZTLK3M"
PASSWORD = "S3cure!Passw0rd"
TOKEN = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 2
SECRETS = [GITHUB, AWS, PASSWORD, TOKEN]
TEXT = f"deploy with {GITHUB} and {AWS}; db at postgres://app:{PASSWORD}@db:5432/x; {TOKEN}"


@pytest.fixture
def umask_022(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tsr_lsp.paths import USER_UMASK_ENV

    monkeypatch.delenv(USER_UMASK_ENV, raising=False)  # what an in-process CLI run left
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def loose_paths(home: Path) -> list[str]:
    """Folders not 0700 and files not 0600 under what tsr-lsp keeps."""
    bad = []
    for path in [home / "config", home / "data", home / "log", home / "run"]:
        if not path.exists():
            continue
        for p in [path, *path.rglob("*")]:
            if p.is_symlink() or str(p).startswith(str(home / "data" / "models")):
                continue
            mode = stat.S_IMODE(p.lstat().st_mode)
            if stat.S_ISDIR(p.lstat().st_mode):
                if mode != 0o700:
                    bad.append(f"{p} {mode:o}")
            elif stat.S_ISSOCK(p.lstat().st_mode):
                if mode & 0o077:
                    bad.append(f"{p} {mode:o}")
            elif mode != 0o600:
                bad.append(f"{p} {mode:o}")
    return bad


def leaks(home: Path) -> list[str]:
    found = []
    for p in home.rglob("*"):
        if p.is_file() and not p.is_symlink() and p.stat().st_size < 500_000_000:
            data = p.read_bytes()
            found += [f"{s[:8]}... in {p}" for s in SECRETS if s.encode() in data]
    return found


async def test_secrets_stay_out_of_memory_and_logs_and_files_are_private(
    home: Path, tmp_path: Path, models_dir: Path, umask_022: None
) -> None:
    client = TsrClient()
    await client.start(STDIO, root=tmp_path)
    try:
        out: dict[str, Any] = await client.request(
            "tsr/generate", {"text": f"Why does this fail? {TEXT}", "maxTokens": 6, "seed": 1}
        )
        episode = out["episodeId"]
        params = types.ExecuteCommandParams(
            command="tsr.memory.remember", arguments=[f"remember: {TEXT}"]
        )
        await client.lsp.workspace_execute_command_async(params)
        short = f"{GITHUB} {AWS}"
        record = {
            "project": str(tmp_path),
            "text": TEXT,
            "response": TEXT,
            "file": short,
            "speaker": short,
            "thread": short,
            "language": short,
            "category": short,
            "model": short,
            "template": short,
            "meta": {"note": TEXT, "nested": [{"k": TOKEN}]},
        }
        imported = await client.request("tsr/memory/import", {"episodes": [record]})
        assert imported["imported"] == 1 and imported["rejected"] == []
        await client.request(
            "tsr/feedback", {"episodeId": episode, "outcome": "edited", "editedText": TEXT}
        )
        exported = await client.request("tsr/memory/export", {"allProjects": True})
        found = await client.request("tsr/memory/search", {"query": "deploy db", "k": 20})
        check = await client.request("tsr/memory/check", {})
        template = tmp_path / "prompts" / "mine.jinja"  # the project's: the user's umask
        created = types.ExecuteCommandParams(
            command="tsr.createTemplate", arguments=[str(template)]
        )
        await client.lsp.workspace_execute_command_async(created)
    finally:
        await client.stop()
    for secret in SECRETS:
        assert secret not in json.dumps(exported) and secret not in json.dumps(found)
    assert len(exported["episodes"]) == 3 and check["ok"], check
    assert stat.S_IMODE(template.stat().st_mode) == 0o644
    assert stat.S_IMODE(template.parent.stat().st_mode) == 0o755
    dump = tmp_path / "memory.jsonl"
    dump.write_text("")  # already there, readable by others: the export makes it private
    for argv in (
        ["memory", "export", "-o", str(dump)],  # through the daemon
        ["trust", str(tmp_path)],
        ["models", "add", "far", "--url", "http://127.0.0.1:9/v1", "--tags", "general"],
    ):
        proc = subprocess.run([*STDIO, *argv], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (argv, proc.stderr[-2000:])
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    assert len(dump.read_text().splitlines()) == 3
    assert {"trust.toml", "config.toml"} <= {p.name for p in (home / "config").iterdir()}
    pid = int((home / "run" / "daemon.lock").read_text())
    os.kill(pid, signal.SIGTERM)  # its log and files are complete once it has gone
    for _ in range(200):
        if not Path(f"/proc/{pid}").exists():
            break
        await __import__("asyncio").sleep(0.05)
    assert (home / "log" / "daemon.log").is_file()
    assert leaks(tmp_path) == []  # the home, the project and the export
    assert loose_paths(home) == []


async def test_a_verbose_log_of_a_huge_request_is_redacted_and_cut(
    home: Path, tmp_path: Path, umask_022: None
) -> None:
    log = home / "log" / "tsr.log"
    client = TsrClient()
    await client.start(
        [*STDIO, "-vv", "--log-file", str(log), "stdio", "--no-daemon"], root=tmp_path
    )
    try:
        # over server.max_text_kb: refused with the limit, and logged cut like any other
        with pytest.raises(JsonRpcInvalidParams, match="max_text_kb"):
            await client.request("tsr/route", {"text": TEXT + " pad" * 250_000})  # 1 MB
        big = TEXT + " pad" * 60_000  # 240 kB, under the limit: routed
        assert (await client.request("tsr/route", {"text": big}))["category"]
        await client.request("tsr/route", {"text": TEXT})
    finally:
        await client.stop()
    text = log.read_text()
    assert "tsr/route" in text  # -vv logs the messages ...
    assert [s for s in SECRETS if s in text] == []  # ... redacted
    assert max(len(line) for line in text.splitlines()) <= 4096 + 40
    assert log.stat().st_size < 400_000  # not the 1.2 MB of text sent
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert loose_paths(home) == []
