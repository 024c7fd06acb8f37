"""The daemon under test of `bench reliability`: a private TSR_LSP_HOME with ``fake`` models,
and connections to the daemon spawned through the stdio forwarder or straight to its socket."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsr_lsp.bench.rawclient import Closed, RawConnection
from tsr_lsp.commands.daemon_cmd import alive

log = logging.getLogger(__name__)

SECRET_ENV = "TSR_BENCH_SECRET_KEY"

FAKE_MODELS = """
[models.general]
backend = "fake"
[models.coder]
backend = "fake"
[models.fim]
backend = "fake"
"""


@dataclass
class Bench:
    home: Path
    env: dict[str, str]
    socket: Path
    short: bool
    project: Path
    rng: random.Random = field(default_factory=lambda: random.Random(12))
    open_conns: list[RawConnection] = field(default_factory=list)
    failed_connects: int = 0  # initialize never answered: counted as crashes
    secret_items: list[Any] = field(default_factory=list)

    @property
    def stdio_cmd(self) -> list[str]:
        return [sys.executable, "-m", "tsr_lsp"]

    def daemon_pid(self) -> int | None:
        try:
            pid = int((self.home / "run" / "daemon.lock").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    async def connect(self, transport: str, root: Path | None = None) -> RawConnection:
        """A new initialized connection; ``stdio`` goes through the forwarder (spawning the
        daemon when none runs), ``socket`` straight to the daemon's socket."""
        if transport == "socket" and self.daemon_pid() is None:
            await (await self.connect("stdio")).close()
        for attempt in range(3):  # a daemon that just died is replaced by the forwarder
            try:
                if transport == "stdio":
                    conn = await RawConnection.stdio(self.stdio_cmd, self.env, "stdio")
                else:
                    conn = await RawConnection.unix(self.socket, "socket")
                await conn.initialize(root or self.project, timeout=60)
            except (Closed, OSError) as exc:
                log.warning("reliability: %s connection failed (%s)", transport, exc)
                self.failed_connects += 1
                await asyncio.sleep(1.0 + attempt)
                continue
            self.open_conns.append(conn)
            return conn
        raise Closed(f"{transport}: no connection after 3 attempts")

    async def close(self, conn: RawConnection) -> None:
        await conn.close(polite=not conn.closed)
        if conn in self.open_conns:
            self.open_conns.remove(conn)

    def rss_mb(self) -> float:
        from tsr_lsp.release import rss_mb

        pid = self.daemon_pid()
        return rss_mb(pid) if pid else 0.0


def make_home(root: Path) -> tuple[Path, dict[str, str]]:
    home = root / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(FAKE_MODELS)
    from tsr_lsp import paths

    env = {
        **os.environ,
        "TSR_LSP_HOME": str(home),
        "TSR_LSP_MODELS_DIR": str(paths.models_dir()),
        SECRET_ENV: "sk-bench-" + os.urandom(12).hex(),
        "TSR_LSP_DAEMON": "1",
    }
    return home, env
