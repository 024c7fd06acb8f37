"""Where tsr-lsp keeps its files (platformdirs; every path overridable for tests and CI).

``TSR_LSP_HOME`` moves everything (config, data, runtime, logs) under one folder, which is
what the test-suite uses to isolate itself. ``TSR_LSP_MODELS_DIR`` moves only the model
files, so isolated test homes can still share the large default models.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import platformdirs

APP = "tsr-lsp"


def _home() -> Path | None:
    home = os.environ.get("TSR_LSP_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP))


def models_dir() -> Path:
    override = os.environ.get("TSR_LSP_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    return data_dir() / "models"


def memory_dir() -> Path:
    return data_dir() / "memory"


def log_dir() -> Path:
    home = _home()
    return home / "log" if home else Path(platformdirs.user_log_dir(APP))


def cache_dir() -> Path:
    """Code caches (the lsprotocol one): derived from installed libraries alone, so every
    TSR_LSP_HOME shares the user's one; deleting it costs one slower start."""
    return Path(platformdirs.user_cache_dir(APP))


def runtime_dir() -> Path:
    """A private per-user folder for the daemon socket (XDG_RUNTIME_DIR when present)."""
    home = _home()
    if home:
        return home / "run"
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        return Path(base) / APP
    return Path(platformdirs.user_cache_dir(APP)) / "run"


def user_config_file() -> Path:
    return config_dir() / "config.toml"


def user_templates_dir() -> Path:
    return config_dir() / "templates"


def shipped_templates_dir() -> Path:
    """The templates/ folder shipped with the package (repo checkout or installed wheel)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    return here.parent / "templates"


def shared_data_dir() -> Path:
    """The public datasets (``../shared/data`` beside the repository).

    ``TSR_LSP_SHARED_DATA`` wins; then ``shared/data`` beside the repository or any of its
    parent folders (CI clones elsewhere); then this workplace's fixed location.
    """
    env = os.environ.get("TSR_LSP_SHARED_DATA")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[1]
    for parent in repo.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    fixed = Path("/work/shared/data")
    return fixed if fixed.is_dir() else repo.parent / "shared" / "data"


# ---------------------------------------------------------------------- private files
# Everything tsr-lsp keeps (config it writes, data, memory, logs) is the user's alone,
# whatever the umask: folders 0700, files 0600 (docs/MEMORY.md, Privacy).
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
USER_UMASK_ENV = "TSR_LSP_USER_UMASK"
_user_umask: int | None = None


def make_umask_private() -> None:
    """Add 077 to the process umask (what the CLI and the daemon do first), so files that
    libraries create for us (Tantivy segments, rotated logs) are private too. The user's own
    umask is kept for files made in their projects (`user_file_mode`), and handed to child
    processes in ``TSR_LSP_USER_UMASK``: the daemon is started by a tsr-lsp process whose
    umask is already private, and would otherwise make project files 0600."""
    global _user_umask
    old = os.umask(0o077)
    if _user_umask is None:
        _user_umask = _inherited_umask(old)
        os.environ[USER_UMASK_ENV] = f"{_user_umask:03o}"
    os.umask(old | 0o077)


def _inherited_umask(current: int) -> int:
    """The user's umask as a parent tsr-lsp recorded it, else ``current``."""
    try:
        value = int(os.environ.get(USER_UMASK_ENV, ""), 8)
    except ValueError:
        return current
    return value if 0 <= value <= 0o777 else current


def _user_umask_now() -> int:
    return current_umask() if _user_umask is None else _user_umask


def user_file_mode() -> int:
    """The mode a new file in the user's project gets under their own umask."""
    return 0o666 & ~_user_umask_now()


def user_mkdir(path: Path) -> None:
    """``path`` and missing parents created as the user's own umask would make them (a
    folder in their project, not one of ours)."""
    for folder in _missing(path):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o777 & ~_user_umask_now())


def current_umask() -> int:
    """The process umask, read without changing it (Linux /proc), else set-and-restore."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def _missing(path: Path) -> list[Path]:
    """The folders ``path.mkdir(parents=True)`` would create, outermost first."""
    missing = []
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing.append(folder)
    return missing[::-1]


def private_dir(path: Path) -> Path:
    """``path`` created and made 0700 if it is ours and looser; folders it had to create
    above it are 0700 too (existing ones are left as they are)."""
    for folder in _missing(path):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        _tighten(folder, PRIVATE_DIR)  # mkdir's mode goes through the umask
    _tighten(path, PRIVATE_DIR)
    return path


def _tighten(path: Path, mode: int) -> bool:
    """Drop group/other permissions of ``path`` (ours, not a symlink); True if it had any."""
    try:
        st = os.lstat(path)
        if st.st_uid == os.getuid() and not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
            os.chmod(path, mode)
            return True
    except OSError:
        pass
    return False


def private_file(path: Path, mode: str = "wb") -> Any:
    """Open ``path`` for writing ("wb", "ab", "w", "a") as a 0600 file, even if it existed
    with a looser mode; text modes are UTF-8."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    flags |= os.O_APPEND if mode.startswith("a") else os.O_TRUNC
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except OSError:
        pass
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8")


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` atomically as a 0600 file (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with private_file(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def secure_tree(root: Path) -> int:
    """Make every folder under ``root`` 0700 and every file 0600 (ours only); returns how
    many were looser. For files other libraries created (Tantivy) and for installations made
    before tsr-lsp kept its files private."""
    fixed = int(_tighten(root, PRIVATE_DIR))
    for dirpath, dirs, files in os.walk(root):
        for name in dirs:
            fixed += _tighten(Path(dirpath, name), PRIVATE_DIR)
        for name in files:
            fixed += _tighten(Path(dirpath, name), PRIVATE_FILE)
    return fixed


def tighten_app_dirs() -> None:
    """Make the config, data and log folders 0700 where they exist and are ours (a
    tsr-lsp from before private modes left them 0755); a moved home is left alone."""
    for folder in (config_dir(), data_dir(), log_dir()):
        if folder.is_dir():
            _tighten(folder, PRIVATE_DIR)
