"""Who holds the memory writer: a probe light enough for ``initialize`` and tsr/status.

Tantivy admits one writer per index, an flock on ``.tantivy-writer.lock`` in the index
folder. A ``--no-daemon`` server next to the daemon (which keeps the writer once it wrote)
could record nothing and said so only in its log; the server warns with this instead.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

WRITER_LOCK = ".tantivy-writer.lock"
WRITER_BUSY = "another tsr-lsp process holds the memory writer"


def writer_busy(index_dir: Path) -> bool:
    """Whether another process holds the writer lock of ``index_dir``: a non-blocking flock,
    released at once, so the probe never keeps the lock from anyone."""
    try:
        fd = os.open(index_dir / WRITER_LOCK, os.O_RDWR)
    except OSError:  # no lock file: nobody ever wrote (or there is no index yet)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def held_elsewhere(memory_dir: Path) -> str | None:
    """WRITER_BUSY when another process holds the writer of the memory in ``memory_dir``
    (for a process that has not opened that memory itself), else None."""
    return WRITER_BUSY if writer_busy(memory_dir / "index") else None
