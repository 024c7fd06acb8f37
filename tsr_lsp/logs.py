"""Logging hygiene: what tsr-lsp writes to its logs is redacted, bounded and private.

- Every record is formatted, then passed through the memory redactor (`memory/redact.py`):
  a secret in a request, a traceback or a library's message never reaches a log.
- Each line is cut to `MAX_LINE` characters (a 10 MB request used to add 10 MB of log).
- Log files are created 0600 and rotated (`LOG_BYTES` x `LOG_BACKUPS`); the rotated copies
  keep the mode. Request text is only logged at debug level (``-vv``), and then redacted
  and cut like everything else.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

from tsr_lsp import paths

MAX_LINE = 4096
LOG_BYTES = 5_000_000
LOG_BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def clip(text: str, limit: int = MAX_LINE) -> str:
    """Every line of ``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit and "\n" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        if len(line) > limit:
            line = f"{line[:limit]}... [{len(line) - limit} characters cut]"
        lines.append(line)
    return "\n".join(lines)


def scrub(text: str, limit: int = MAX_LINE) -> str:
    """``text`` redacted and cut: what may be logged. A huge text is cut before the
    redactor sees it (with a margin, so a secret at the cut is still recognised)."""
    from tsr_lsp.memory.redact import redact

    if len(text) > 8 * limit:  # a payload, not a message: keep its head
        text = f"{text[: 2 * limit]}... [{len(text) - 2 * limit} characters cut]"
    return clip(redact(text), limit)


class RedactingFormatter(logging.Formatter):
    """Formats as usual (traceback included), then redacts and cuts the result."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file that is created 0600 whatever the umask (and tightened if an
    older tsr-lsp left it readable)."""

    def _open(self) -> Any:
        return paths.private_file(Path(self.baseFilename), "a")


def setup(verbose: int, log_file: Path | None) -> None:
    """Logging for a tsr-lsp process: stderr (never stdout: stdio mode owns it) or a
    private rotating file, always through the redacting formatter."""
    level = logging.WARNING - 10 * min(verbose, 2)
    handler: logging.Handler
    if log_file is not None:
        folder = log_file.parent
        if folder.resolve() == paths.log_dir().resolve():
            paths.private_dir(folder)
        else:  # the user's own folder (--log-file /tmp/x.log): created private, never chmod'ed
            folder.mkdir(parents=True, exist_ok=True, mode=paths.PRIVATE_DIR)
        handler = PrivateRotatingFileHandler(
            log_file, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # pygls logs every message body at INFO; only show that at -vv (then redacted and cut)
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
