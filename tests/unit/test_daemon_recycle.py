"""When an idle daemon starts afresh in place, and what the new image is handed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tsr_lsp.server.daemon import STATE_ENV, Daemon, inherited_state, should_recycle


def test_only_an_idle_daemon_that_served_and_holds_enough_stranded_memory_recycles() -> None:
    assert should_recycle(24, served=3, connections=0, running=0, stranded=30)
    assert not should_recycle(24, served=3, connections=0, running=0, stranded=20)
    assert not should_recycle(24, served=3, connections=1, running=0, stranded=90)
    assert not should_recycle(24, served=3, connections=0, running=1, stranded=90)
    assert not should_recycle(24, served=0, connections=0, running=0, stranded=90)
    assert not should_recycle(0, served=3, connections=0, running=0, stranded=900)


def _state(lock: int, listen: int) -> dict[str, float]:
    return {
        "lock": lock,
        "listen": listen,
        "recycles": 2,
        "startedAt": 1.5,
        "totalConnections": 9,
        "rssMb": 130.5,
    }


def test_the_state_is_taken_from_the_environment_once(tmp_path: Path) -> None:
    with (tmp_path / "daemon.lock").open("a+") as lock, socket.socket(socket.AF_UNIX) as sock:
        state = _state(lock.fileno(), sock.fileno())
        env = {STATE_ENV: json.dumps(state), "OTHER": "x"}
        assert inherited_state(env) == {k: float(v) for k, v in state.items()}
        assert env == {"OTHER": "x"}  # nothing the daemon starts sees it
        assert inherited_state(env) is None


def test_a_malformed_state_or_one_naming_the_wrong_files_is_ignored(tmp_path: Path) -> None:
    with (tmp_path / "daemon.lock").open("a+") as lock, socket.socket(socket.AF_UNIX) as sock:
        for raw in (
            "{",
            "[]",
            json.dumps({"lock": 5}),
            json.dumps({**_state(lock.fileno(), sock.fileno()), "listen": "x"}),
            json.dumps(_state(sock.fileno(), lock.fileno())),  # swapped
            json.dumps(_state(lock.fileno(), 999)),  # not open
        ):
            env = {STATE_ENV: raw}
            assert inherited_state(env) is None and env == {}, raw


def test_a_daemon_without_a_command_line_never_recycles(tmp_path: Path) -> None:
    assert Daemon(tmp_path / "s.sock", 60, recycle_mb=24, argv=None).recycle_mb == 0
    assert Daemon(tmp_path / "s.sock", 60, recycle_mb=24, argv=["python"]).recycle_mb == 24
