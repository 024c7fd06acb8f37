"""bench lint: re-lint speed, corpus speed against djLint, and fault detection.

- ``relint_2000_lines_ms``: one 2,000-line template (real corpus files concatenated in path
  order) linted again and again, as the editor does on every keystroke; target < 20 ms.
- ``corpus_ms`` vs ``djlint_corpus_ms``: every file of the Jinja corpus, the same texts
  already in memory, both in-process (djLint through its documented ``djlint.api``,
  profile "jinja"); ``speedup_ratio`` = djLint time / ours, in the same run; target >= 5.
- ``mutation_*_ratio``: share of injected faults reported on the right line (see
  tsr_lsp/jinja_lint/mutate.py); target >= 0.95 overall.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from tsr_lsp import paths
from tsr_lsp.bench.stats import median, percentile
from tsr_lsp.jinja_lint import FileIndex, LintOptions, lint_text
from tsr_lsp.jinja_lint.lexer import scan
from tsr_lsp.jinja_lint.mutate import FAULTS, evaluate

CORPUS_OPTIONS = {"custom_tags": ["include_block"]}


def corpus_dir() -> Path:
    """$TSR_LSP_JINJA_CORPUS, else ``jinja/`` in the shared public data (paths.shared_data_dir)."""
    env = os.environ.get("TSR_LSP_JINJA_CORPUS")
    if env:
        return Path(env)
    return paths.shared_data_dir() / "jinja"


def corpus_files(root: Path) -> list[tuple[str, str]]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".html", ".jinja"))
    return [(str(p), p.read_text(encoding="utf-8")) for p in files]


def big_template(files: list[tuple[str, str]], lines: int = 2000) -> str:
    out: list[str] = []
    for _, text in files:
        out.extend(text.split("\n"))
        if len(out) >= lines:
            break
    return "\n".join(out[:lines])


def _timed(func: Any) -> float:
    start = time.perf_counter()
    func()
    return (time.perf_counter() - start) * 1000


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = corpus_dir()
    if not root.is_dir():
        raise SystemExit(
            f"tsr-lsp: error: Jinja corpus not found at {root}; set TSR_LSP_JINJA_CORPUS"
        )
    runs = args.runs or 5
    files = corpus_files(root)
    options = LintOptions(**CORPUS_OPTIONS)  # type: ignore[arg-type]
    metrics: dict[str, Any] = {"corpus_files": len(files)}
    metrics["corpus_lines"] = sum(t.count("\n") + 1 for _, t in files)

    big = big_template(files)
    relint = [_timed(lambda: lint_text(big, "big.html", options)) for _ in range(max(30, runs))]
    metrics["relint_2000_lines_tags"] = len(scan(big))
    metrics["relint_2000_lines_ms"] = median(relint)
    metrics["relint_2000_lines_p95_ms"] = percentile(relint, 95)

    def ours() -> int:
        index = FileIndex([root])
        errors = 0
        for path, text in files:
            errors += lint_text(text, path, options, index).errors
        return errors

    from djlint.api import lint_text as dj_lint_text
    from djlint.api import load_config

    dj_config = load_config(root, profile="jinja")

    def theirs() -> None:
        for path, text in files:
            dj_lint_text(dj_config, text, path)

    metrics["corpus_errors"] = ours()  # also the warm-up run
    theirs()
    mine: list[float] = []
    dj: list[float] = []
    for _ in range(runs):
        mine.append(_timed(ours))
        dj.append(_timed(theirs))
    metrics["corpus_ms"] = median(mine)
    metrics["djlint_corpus_ms"] = median(dj)
    metrics["speedup_ratio"] = median(dj) / median(mine)

    report = evaluate(files, options, FileIndex([root]), seed=6, per_fault=2)
    metrics["mutants"] = sum(report.total.values())
    metrics["mutation_detection_ratio"] = report.rate()
    for fault in FAULTS:
        metrics[f"mutation_{fault}_ratio"] = report.rate(fault)
    deleted = report.total.get("deleted_end_tag", 0)
    if deleted:
        metrics["mutation_deleted_end_tag_at_deletion_line_ratio"] = (
            report.found_at_fault_line / deleted
        )
    metrics.update(quick_fixes(files, options, FileIndex([root])))
    return metrics


def quick_fixes(
    files: list[tuple[str, str]], options: LintOptions, index: FileIndex
) -> dict[str, Any]:
    """Quick fixes on injected faults (tests/unit/test_lint_fix_corpus.py, seed 6): of the
    faults a fix exists for (``mutate.FIXABLE``), the share the offered fixes repair (no new
    diagnostic left) and restore (the clean file back, blank lines aside); offered fixes
    that leave a template Jinja2 rejects; and what the check costs a code action:
    ``verified_fixes`` (fixes + check) vs ``fixes_for`` (fixes alone) per diagnostic, in
    the same run."""
    import random

    from tsr_lsp.jinja_lint.fixes import fixes_for
    from tsr_lsp.jinja_lint.mutate import FIXABLE, evaluate_fixes, fix_mutants
    from tsr_lsp.jinja_lint.verify import verified_fixes

    report = evaluate_fixes(files, options, index, seed=6, per_fault=1)
    faults = sum(report.faults.get(f, 0) for f in FIXABLE)

    def share(counts: dict[str, int]) -> float:
        return sum(counts.get(f, 0) for f in FIXABLE) / faults if faults else 1.0

    out: dict[str, Any] = {
        "quickfix_faults": faults,
        "quickfix_repaired_ratio": share(report.repaired),
        "quickfix_restored_ratio": share(report.restored),
        "quickfix_offered_ratio": sum(report.offered.values())
        / max(sum(report.proposed.values()), 1),
        "quickfix_broke_parse": len(report.broke_parse),
    }
    rng = random.Random(6)
    plain: list[float] = []
    checked: list[float] = []
    for path, text in files[::4]:
        for m in fix_mutants(text, rng, 1, options, index, path):
            result = lint_text(m.source, path, options, index)
            for d in result.diagnostics[:3]:
                plain.append(_timed(lambda: fixes_for(m.source, d, result.lines)))  # noqa: B023
                checked.append(
                    _timed(lambda: verified_fixes(m.source, result, d, path, options, index))  # noqa: B023
                )
    out["quickfix_unchecked_p50_ms"] = median(plain)
    out["quickfix_checked_p50_ms"] = median(checked)
    out["quickfix_checked_p95_ms"] = percentile(checked, 95)
    return out
