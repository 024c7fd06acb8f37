"""`tsr-lsp` / `tsr-lsp stdio` (what editors launch) and `tsr-lsp serve` (the daemon)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tsr_lsp.config import DaemonSettings

log = logging.getLogger(__name__)


def _daemon_settings() -> tuple[bool, DaemonSettings]:
    """Whether editors use the daemon (``TSR_LSP_DAEMON=0`` says no), and its settings (the
    user's: its warnings reach the log when the Engine loads them)."""
    from tsr_lsp.config import load_settings

    conf = load_settings(None)[0].daemon
    return conf.enabled and os.environ.get("TSR_LSP_DAEMON", "1") != "0", conf


def socket_path(setting: str) -> Path:
    """The daemon's socket: the ``daemon.socket`` setting, else the private runtime folder."""
    from tsr_lsp.server.daemon import default_socket_path

    return Path(setting).expanduser() if setting else default_socket_path()


def _forwarder_settings() -> tuple[bool, str]:
    """``daemon.enabled`` and ``daemon.socket`` read straight from the user config. The
    forwarder starts with every editor and needs only these two; building all settings
    (cattrs, model files, backend plugins) cost more than the rest of its start. A value of
    the wrong type counts as unset, as in ``load_settings`` (the daemon reports it)."""
    import tomllib

    from tsr_lsp import paths

    try:
        with paths.user_config_file().open("rb") as fh:
            table = tomllib.load(fh).get("daemon")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        table = None
    table = table if isinstance(table, dict) else {}
    enabled, socket = table.get("enabled", True), table.get("socket", "")
    enabled = enabled if isinstance(enabled, bool) else True
    on = enabled and os.environ.get("TSR_LSP_DAEMON", "1") != "0"
    return on, socket if isinstance(socket, str) else ""


def run_stdio(args: argparse.Namespace) -> int:
    enabled, socket_setting = _forwarder_settings()
    if enabled and not args.no_daemon:
        from tsr_lsp.server.daemon import connect_or_spawn, forward_stdio

        path = socket_path(socket_setting)
        try:
            sock = connect_or_spawn(path)
        except ConnectionError as exc:
            print(f"tsr-lsp: {exc}; serving in-process instead", file=sys.stderr)
        else:
            code = forward_stdio(sock)
            sys.stdout.flush()
            os._exit(code)  # skip interpreter teardown: the stdin thread may still be blocked
    from tsr_lsp.lspcache import load_lsprotocol

    load_lsprotocol()  # before pygls imports it: the cached path is 40% faster
    from tsr_lsp.server.app import serve_stdio

    return serve_stdio()


def run_daemon(args: argparse.Namespace) -> int:
    from tsr_lsp.server.daemon import daemon_env

    if "PYTHONMALLOC" not in os.environ:  # started by hand: again with the daemon's allocator
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], daemon_env(os.environ))
    from tsr_lsp.lspcache import load_lsprotocol

    load_lsprotocol()  # before pygls imports it: the cached path is 40% faster
    from tsr_lsp.server.daemon import Daemon

    _, conf = _daemon_settings()
    path = args.socket or socket_path(conf.socket)
    idle = args.idle_timeout if args.idle_timeout is not None else conf.idle_timeout_s
    argv = [sys.executable, *sys.orig_argv[1:]]  # run again in place when it recycles
    return Daemon(path, idle, conf.recycle_stranded_mb, argv).run()
