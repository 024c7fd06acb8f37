"""Import ``lsprotocol.types`` with its generated code cached on disk.

lsprotocol defines ~570 attrs classes; attrs writes and compiles an ``__init__``, ``__eq__``,
``__repr__`` ... for each, and those ``compile()`` calls are ~40% of the import, itself the
largest part of a cold daemon's `initialize` (docs/RELIABILITY.md, `bench startup`). The
code objects are kept in one marshal file per Python, attrs and lsprotocol version in the
user's private cache folder, keyed by the exact generated source: a stale entry is never
used, only left unused. Any surprise (another attrs, an unreadable file) falls back to the
plain import.
"""

from __future__ import annotations

import logging
import marshal
import sys
from pathlib import Path
from types import CodeType
from typing import Any

log = logging.getLogger(__name__)


def cache_file(attrs_version: str) -> Path:
    """One file per Python, attrs and lsprotocol (its module's size and mtime: no metadata
    scan, which would cost more than it saves)."""
    from importlib.util import find_spec

    from tsr_lsp import paths

    spec = find_spec("lsprotocol")
    origin = Path(spec.origin).parent / "types.py" if spec and spec.origin else None
    try:
        st = origin.stat() if origin else None
    except OSError:
        st = None
    stamp = f"{st.st_size}-{st.st_mtime_ns}" if st else "unknown"
    name = f"lsprotocol-{sys.implementation.cache_tag}-attrs{attrs_version}-{stamp}.marshal"
    return paths.cache_dir() / name


def load_lsprotocol() -> None:
    """``import lsprotocol.types``, through the code cache when it is the first import."""
    if "lsprotocol.types" in sys.modules:
        return
    import attr
    import attr._make as make

    original = getattr(make, "_compile_and_eval", None)
    if original is None:  # another attrs: no cache
        import lsprotocol.types

        return
    path = cache_file(str(getattr(attr, "__version__", "")))
    cache: dict[tuple[str, str], CodeType] = {}
    try:
        loaded = marshal.loads(path.read_bytes())
        if isinstance(loaded, dict):
            cache = loaded
    except (OSError, ValueError, EOFError, TypeError):
        pass
    fresh = 0

    def compile_and_eval(
        script: str, globs: Any = None, locs: Any = None, filename: str = ""
    ) -> None:
        nonlocal fresh
        code = cache.get((script, filename))
        if code is None:
            code = compile(script, filename, "exec")
            cache[(script, filename)] = code
            fresh += 1
        eval(code, globs, locs)

    make._compile_and_eval = compile_and_eval
    try:
        import lsprotocol.types  # noqa: F401
    finally:
        make._compile_and_eval = original
    if fresh:
        _save(path, cache)


def _save(path: Path, cache: dict[tuple[str, str], CodeType]) -> None:
    from tsr_lsp import paths

    try:
        paths.private_dir(path.parent)
        paths.write_private(path, marshal.dumps(cache))
    except (OSError, ValueError) as exc:
        log.debug("lsprotocol code cache not written: %s", exc)
