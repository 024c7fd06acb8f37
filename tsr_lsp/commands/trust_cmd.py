"""`tsr-lsp trust`: which project folders may set model endpoints, paths and keys."""

from __future__ import annotations

import argparse
from pathlib import Path

from tsr_lsp import trust


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "trust",
        help="let a project's .tsr/config.toml set model endpoints, paths and keys",
        description=(
            "A project's .tsr/config.toml may not add model profiles or change a profile's "
            "backend, path, url or api_key_env, memory.dir or router.weights until you trust "
            "the folder (or one of its parents). Running servers apply it on the next request."
        ),
    )
    parser.add_argument("path", nargs="?", type=Path, help="the folder to trust")
    parser.add_argument("--list", action="store_true", help="show the trusted folders")
    parser.add_argument("--revoke", action="store_true", help="stop trusting PATH")


def run(args: argparse.Namespace) -> int:
    if args.list or args.path is None:
        folders = trust.trusted_folders()
        for folder in folders:
            print(folder)
        if not folders:
            print(f"no trusted folders ({trust.trust_file()})")
        return 0
    if args.revoke:
        if trust.revoke(args.path):
            print(f"no longer trusted: {args.path.expanduser().resolve()}")
            return 0
        print(f"not in the trusted list: {args.path} (see tsr-lsp trust --list)")
        return 1
    if not args.path.expanduser().is_dir():
        print(f"not a folder: {args.path}")
        return 2
    root = trust.trust(args.path)
    print(f"trusted: {root} (tsr-lsp trust --revoke {root} undoes it)")
    return 0
