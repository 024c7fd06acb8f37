"""Template previews in a worker process (prompts/worker.py): answers, hostile templates
blocked, a render that overruns its time is killed, one that overruns its memory gives up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tsr_lsp.prompts.worker import Renderer

PROMPT = "{#---\nname = 'greet'\n[variables]\nname = 'str'\n---#}\nHello {{ name }}!"
HOSTILE = "{{ ([[0] * 200000] * 10000)|sum(start=[])|length }}"


def test_previews_reuse_one_worker_and_hostile_templates_are_errors() -> None:
    renderer = Renderer()
    try:
        first = renderer.preview(
            "greet", PROMPT, "/p/greet.jinja", {"name": "Ann"}, timeout_s=30, memory_mb=512
        )
        assert first["text"] == "Hello Ann!" and first["values"] == {"name": "Ann"}
        pid = renderer.idle[0].proc.pid
        blocked = renderer.preview(
            "evil", HOSTILE, "/p/evil.jinja", {}, timeout_s=30, memory_mb=512
        )
        assert "blocked by the sandbox" in blocked["error"]
        assert renderer.idle[0].proc.pid == pid  # the same child served both
    finally:
        renderer.close()


def test_a_render_over_its_time_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A render that overruns (here a child whose renders never end: the sandbox's budget
    stops real templates sooner) is killed and answered with the limit."""
    endless = (
        "import sys, time, tsr_lsp.prompts.worker as w\n"
        "w.preview = lambda *a: time.sleep(60)\n"
        "sys.exit(w.serve(int(sys.argv[-1]), sys.stdin.buffer, sys.stdout.buffer))\n"
    )
    slow = tmp_path / "endless-python"
    slow.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c \'{endless}\' "$@"\n')
    slow.chmod(0o755)
    renderer = Renderer()
    try:
        with monkeypatch.context() as patch:
            patch.setattr(sys, "executable", str(slow))
            answer = renderer.preview(
                "greet", PROMPT, "/p/g.jinja", {}, timeout_s=0.5, memory_mb=512
            )
        assert "stopped after 0.5 s" in answer["error"]
        assert renderer.idle == []  # that child was killed, not kept
        again = renderer.preview("greet", PROMPT, "/p/g.jinja", {}, timeout_s=30, memory_mb=512)
        assert again["text"] == "Hello <name>!"
    finally:
        renderer.close()


def test_the_child_gives_up_beyond_its_memory_limit() -> None:
    code = (
        "import sys, tsr_lsp.prompts.worker as w\n"
        "w.preview = lambda *a: {'n': len(bytearray(600 * w.MB))}\n"
        "sys.exit(w.serve(256, sys.stdin.buffer, sys.stdout.buffer))\n"
    )
    request = {"name": "x", "source": "", "path": "/x", "values": {}}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(request).encode() + b"\n",
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    ready, answer = done.stdout.splitlines()
    assert ready == b"ready" and "more than 256 MB" in json.loads(answer)["crash"]


def test_a_slow_start_is_not_counted_as_render_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loaded machine the child's start and imports can take longer than a render may
    (server.render_timeout_s): only the render itself is timed."""
    slow = tmp_path / "slow-python"
    slow.write_text(f'#!/bin/sh\nsleep 1.5\nexec "{sys.executable}" "$@"\n')
    slow.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(slow))
    renderer = Renderer()
    try:
        answer = renderer.preview("greet", PROMPT, "/p/g.jinja", {}, timeout_s=1.0, memory_mb=512)
        assert answer.get("text") == "Hello <name>!", answer
    finally:
        renderer.close()
