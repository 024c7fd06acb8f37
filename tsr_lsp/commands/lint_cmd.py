"""`tsr-lsp lint [--format text|json] [--select CODES] PATH...`: lint Jinja templates.

Exit status: 0 clean (warnings allowed), 1 at least one error, 2 bad usage or unreadable
input. Lines and columns are 1-based; ``end_column`` is exclusive.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    lint = sub.add_parser(
        "lint",
        help="lint Jinja templates (prompt, chat and HTML templates)",
        description="Lint Jinja templates: syntax (several errors per file, with columns), "
        "blocks, undefined/unused names, filters, tests, macro arity, missing templates, "
        "sandbox escapes, front matter. Codes are documented in docs/LINT.md.",
    )
    lint.add_argument("paths", nargs="+", type=Path, help="files or folders")
    lint.add_argument("--format", choices=["text", "json"], default="text")
    lint.add_argument("--select", default="", help="comma-separated code prefixes, e.g. JL0,JL10")
    lint.add_argument("--ignore", default="", help="comma-separated code prefixes to skip")
    lint.add_argument(
        "--ext",
        action="append",
        default=[],
        help="also lint files with this suffix inside folders (e.g. --ext .html); repeatable",
    )
    lint.add_argument("--custom-tag", action="append", default=[], help="NAME or NAME/ENDNAME")
    lint.add_argument("--extra-filter", action="append", default=[], help="a filter name")
    lint.add_argument("--extra-test", action="append", default=[], help="a test name")
    lint.add_argument("--extra-global", action="append", default=[], help="a global name")
    lint.add_argument(
        "--template-path",
        action="append",
        default=[],
        type=Path,
        help="a folder that resolves include/import names (makes missing templates errors)",
    )
    lint.add_argument("--kind", choices=["auto", "prompt", "chat", "generic"], default=None)
    lint.add_argument("--strict", action="store_true", help="unknown filters/tests are errors")
    lint.add_argument("--quiet", action="store_true", help="no summary line on stderr")


def _codes(raw: str) -> list[str]:
    return [c.strip().upper() for c in raw.split(",") if c.strip()]


def collect(paths: list[Path], suffixes: tuple[str, ...]) -> tuple[list[Path], list[str]]:
    """Files to lint, in a stable order, and problems with the given paths."""
    files: list[Path] = []
    problems: list[str] = []
    from tsr_lsp.jinja_lint.index import SKIP_DIRS

    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
                files.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(suffixes))
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems


def run(args: argparse.Namespace) -> int:
    from tsr_lsp.commands.common import cli_settings
    from tsr_lsp.jinja_lint import FileIndex, lint_text
    from tsr_lsp.jinja_lint.codes import validate_codes
    from tsr_lsp.jinja_lint.settings import options_from

    root = _project_root(args.paths[0])
    settings = cli_settings(root)
    lint = settings.lint
    select = _codes(args.select) or lint.select
    ignore = _codes(args.ignore) or lint.ignore
    bad = validate_codes(select + ignore)
    if bad:
        print(
            f"tsr-lsp: error: unknown code(s) {', '.join(bad)} in --select/--ignore "
            "(codes are JL001...; see docs/LINT.md)",
            file=sys.stderr,
        )
        return 2
    options = options_from(lint)
    options.select, options.ignore = select, ignore
    options.custom_tags += args.custom_tag
    options.extra_filters += args.extra_filter
    options.extra_tests += args.extra_test
    options.extra_globals += args.extra_global
    if args.kind:
        options.kind = args.kind
    options.strict = options.strict or args.strict
    suffixes = tuple(dict.fromkeys([*lint.extensions, *args.ext, ".json"]))
    files, problems = collect(args.paths, suffixes)
    explicit = {p for p in args.paths if p.is_file()}
    files = [f for f in files if f.suffix != ".json" or f in explicit or _is_template_json(f)]
    search = [p if p.is_absolute() else root / p for p in map(Path, lint.template_paths)]
    search += args.template_path
    roots = [p if p.is_dir() else p.parent for p in args.paths if p.exists()]
    index = FileIndex(roots, search)
    records: list[dict[str, Any]] = []
    errors = warnings = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read ({exc}); is it a UTF-8 text file?")
            continue
        result = lint_text(text, str(path), options, index)
        for d in result.diagnostics:
            line, col = result.lines.position(d.start)
            end_line, end_col = result.lines.position(d.end)
            records.append(
                {
                    "path": str(path),
                    "line": line + 1,
                    "column": col + 1,
                    "end_line": end_line + 1,
                    "end_column": end_col + 1,
                    "code": d.code,
                    "severity": d.severity,
                    "message": d.message,
                }
            )
            errors += d.severity == "error"
            warnings += d.severity == "warning"
    if args.format == "json":
        print(json.dumps(records, indent=1))
    else:
        for r in records:
            where = f"{r['path']}:{r['line']}:{r['column']}"
            print(f"{where}: {r['code']} {r['severity']}: {r['message']}")
    for problem in problems:
        print(f"tsr-lsp: error: {problem}", file=sys.stderr)
    if not args.quiet:
        infos = len(records) - errors - warnings
        print(
            f"{len(files)} file(s): {errors} error(s), {warnings} warning(s), {infos} info",
            file=sys.stderr,
        )
    if problems:
        return 2
    return 1 if errors else 0


def _project_root(first: Path) -> Path:
    start = (first if first.is_dir() else first.parent).resolve()
    for folder in (start, *start.parents):
        if (folder / ".tsr").is_dir() or (folder / ".git").exists():
            return folder
    return Path.cwd()


def _is_template_json(path: Path) -> bool:
    """Inside folders, a JSON file is linted only if it sits in a ``templates`` folder and
    is a prompt template in the seed's form ({"system": ..., "template": ...})."""
    if path.name == "tokenizer_config.json":
        return True  # a model's chat template ("chat_template")
    if "templates" not in path.parts:
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # broken JSON in a templates folder: worth reporting
    return isinstance(data, dict) and ("template" in data or "chat_template" in data)
