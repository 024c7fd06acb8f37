"""`tsr-lsp router train|eval|loso|build-data`: train, measure and rebuild the router.

torch is imported only by `train` and `loso`; `eval` runs the same numpy path as the daemon.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tsr_lsp.config import Settings


def add_arguments(sub: Any) -> None:
    """Register `router` and its actions on the CLI's subparsers."""
    router = sub.add_parser("router", help="train and evaluate the router (see docs/ROUTER.md)")
    rsub = router.add_subparsers(dest="router_command", metavar="ACTION", required=True)

    tr = rsub.add_parser("train", help="train or fine-tune on a JSONL file")
    tr.add_argument("data", nargs="?", type=Path, help="JSONL: {text, category, ...} per line")
    tr.add_argument(
        "--base",
        default="pretrained",
        help="pretrained (fine-tune the shipped weights), scratch, or a weights path",
    )
    tr.add_argument("--epochs", type=int, default=30, help="at most this many (early stopping)")
    tr.add_argument("--out", type=Path, help="where to write the weights")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--val-fraction", type=float, default=0.1)
    tr.add_argument("--patience", type=int, default=3)
    tr.add_argument(
        "--user-boost",
        type=float,
        default=1.0,
        help="weight of real-user-style sources (team_user*) within their category",
    )
    tr.add_argument(
        "--prior",
        default="real-users",
        help="category prior applied at inference: real-users (default), uniform, or a "
        "JSON file {category: weight}",
    )
    tr.add_argument(
        "--from-feedback", action="store_true", help="add accepted/edited feedback from memory"
    )
    tr.add_argument(
        "--replay",
        type=int,
        default=1000,
        help="when fine-tuning, mix in up to N of the team's shipped examples (0: none)",
    )

    ev = rsub.add_parser("eval", help="accuracy, confusion, calibration, latency on a JSONL file")
    ev.add_argument("data", type=Path)
    ev.add_argument("--weights", help='weights path, "" (shipped) or "rules" (default: config)')
    ev.add_argument("--plot", type=Path, help="write a confusion/calibration PNG (matplotlib)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--mistakes", type=int, default=0, help="show up to N misrouted examples")

    lo = rsub.add_parser("loso", help="leave-one-source-out: held-out accuracy per source")
    lo.add_argument("data", type=Path, help="JSONL with a 'source' on every row")
    lo.add_argument("--epochs", type=int, default=30)
    lo.add_argument("--seed", type=int, default=0)
    lo.add_argument("--only", default="", help="comma-separated sources to hold out")
    lo.add_argument("--json", action="store_true")

    bd = rsub.add_parser("build-data", help="write the shipped training corpus as JSONL")
    bd.add_argument("out", type=Path)
    bd.add_argument("--shared", type=Path, help="../shared/data/router (default: beside repo)")
    bd.add_argument("--seed", type=int, default=0)
    bd.add_argument("--no-team", action="store_true", help="leave out the team's own prompts")

    ca = rsub.add_parser(
        "calibrate",
        help="grade profiles on the answer suite's calibration tasks; routing then follows",
    )
    ca.add_argument(
        "--profiles",
        default="",
        help="comma-separated (default: every profile a category row can route to)",
    )
    ca.add_argument("--budget-min", type=float, default=None, help="stop after N minutes")
    ca.add_argument("--per-category", type=int, default=10, help="tasks per category")
    ca.add_argument("--categories", default="", help="comma-separated (default: all)")
    ca.add_argument(
        "--max-tokens", type=int, default=0, help="cap each answer (default: the suite's)"
    )
    ca.add_argument(
        "--cot",
        default="min",
        help="fixed CoT depths to grade besides the policy table's: min (each row's lowest), "
        "all, none, or comma-separated depths (kept within each category's row)",
    )
    ca.add_argument("--out", type=Path, help="outcomes JSONL (default: the user's data dir)")
    ca.add_argument("--json", action="store_true", help="print one JSON summary object")

    ov = rsub.add_parser(
        "overlap", help="find rows that copy or mirror public test items (contamination check)"
    )
    ov.add_argument("files", nargs="*", type=Path, help="JSONL files (default: shipped data)")
    ov.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tsr_lsp.config import load_settings
    from tsr_lsp.router.data import DataError
    from tsr_lsp.router.infer import WeightsError

    settings, warnings = load_settings(Path.cwd())
    for warning in warnings:
        print(f"tsr-lsp: warning: {warning}", file=sys.stderr)
    action = {
        "train": _train,
        "eval": _eval,
        "loso": _loso,
        "build-data": _build,
        "overlap": _overlap,
        "calibrate": _calibrate,
    }
    try:
        return action[args.router_command](args, settings)
    except (DataError, WeightsError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"tsr-lsp: error: {exc}", file=sys.stderr)
        return 1


def _say(msg: str) -> None:
    sys.stderr.write(msg)
    sys.stderr.flush()


def default_out() -> Path:
    from tsr_lsp import paths

    return paths.data_dir() / "router" / "router.tsrw"


def feedback_source(settings: Settings) -> Any:
    """The memory's FeedbackSource (engine.memory), or a clear error naming the fix."""
    from tsr_lsp.engine import Engine

    memory = getattr(Engine(settings), "memory", None)
    if memory is None:
        raise RuntimeError(
            "no feedback store available: enable memory (memory.enabled = true) and give "
            "feedback first, or train from a JSONL file"
        )
    return memory


def load_base(base: str) -> Any:
    from tsr_lsp.router.infer import load_weights
    from tsr_lsp.router.loader import PRETRAINED

    if base == "scratch":
        return None
    return load_weights(PRETRAINED if base == "pretrained" else Path(base).expanduser())


def replay_examples(limit: int, seed: int) -> list[Any]:
    """A sample of the team's shipped prompts, so fine-tuning does not forget the basics."""
    import random

    from tsr_lsp.router.corpus import team_sources

    if limit <= 0:
        return []
    rows = team_sources()
    random.Random(seed).shuffle(rows)
    for ex in rows:
        ex.weight = 0.5
        ex.source = "replay:" + ex.source
    return rows[:limit]


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from tsr_lsp import paths
    from tsr_lsp.router.data import load_jsonl, parse_jsonl
    from tsr_lsp.router.feedback import training_rows
    from tsr_lsp.router.infer import save_weights
    from tsr_lsp.router.train import TrainConfig, train

    if args.data is None and not args.from_feedback:
        print("tsr-lsp: error: give a DATA.jsonl file and/or --from-feedback", file=sys.stderr)
        return 2
    examples = load_jsonl(args.data) if args.data else []
    if args.from_feedback:
        rows = training_rows(feedback_source(settings).feedback_examples())
        if not rows:
            raise RuntimeError("no accepted or edited feedback stored yet; nothing to learn")
        blob = "\n".join(json.dumps(r) for r in rows).encode()
        examples += parse_jsonl(blob, "feedback")
        _say(f"feedback: {len(rows)} accepted/edited outcomes\n")
    base = load_base(args.base)
    if base is not None:
        examples += replay_examples(args.replay, args.seed)
    config = TrainConfig(
        epochs=args.epochs,
        seed=args.seed,
        val_fraction=args.val_fraction,
        patience=args.patience,
        user_boost=args.user_boost,
        prior=args.prior,
    )
    if base is not None:
        config.lr = 1e-3
    weights, report = train(
        examples, config, base=base, progress=_say, meta={"name": (args.out or default_out()).name}
    )
    out = args.out or default_out()
    save_weights(weights, out)
    size_mb = out.stat().st_size / 1e6
    print(
        f"trained on {report.train_size} rows (validation {report.val_size}), best epoch "
        f"{report.best_epoch}/{report.epochs_run}, validation accuracy "
        f"{report.val_accuracy[0]:.3f} -> {report.val_accuracy_final:.3f} (ensemble of "
        f"{weights.members}), {report.seconds:.1f} s"
    )
    print(f"saved {out} ({size_mb:.2f} MB)")
    print(f'use it: add  [router] weights = "{out}"  to {paths.user_config_file()}')
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from tsr_lsp.router.data import load_jsonl
    from tsr_lsp.router.evaluate import evaluate, format_report, plot
    from tsr_lsp.router.loader import load_router
    from tsr_lsp.router.rules import keyword_predict

    examples = load_jsonl(args.data)
    if args.weights is not None:
        settings.router.weights = args.weights
    router = load_router(settings)
    res = evaluate(router.predict, examples, settings)
    base = evaluate(keyword_predict, examples, settings)
    if args.plot:
        plot(res, str(args.plot))
    if args.json:
        print(json.dumps({"router": router.name, **res.to_json(), "rules": base.to_json()}))
        return 0
    print(format_report(res, f"router: {router.name}"))
    print()
    print(
        f"keyword baseline (same rows): accuracy {base.accuracy:.3f}, within policy "
        f"{base.within_policy:.3f}; trained minus rules: accuracy "
        f"{res.accuracy - base.accuracy:+.3f}, within policy "
        f"{res.within_policy - base.within_policy:+.3f}"
    )
    for true, predicted, text in res.mistakes[: args.mistakes]:
        print(f"  {true} -> {predicted}: {text!r}")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


def _loso(args: argparse.Namespace, settings: Settings) -> int:
    from tsr_lsp.router.data import load_jsonl
    from tsr_lsp.router.evaluate import leave_one_source_out
    from tsr_lsp.router.train import TrainConfig

    examples = load_jsonl(args.data)
    only = [s for s in args.only.split(",") if s] or None
    config = TrainConfig(epochs=args.epochs, seed=args.seed)
    results = leave_one_source_out(examples, settings, config, only, progress=_say)
    if args.json:
        print(json.dumps(results))
        return 0
    total = sum(int(r["n"]) for r in results.values())
    if total:
        for key in ("accuracy", "within_policy", "rules_accuracy", "rules_within_policy"):
            mean = sum(r[key] * r["n"] for r in results.values()) / total
            print(f"pooled {key}: {mean:.3f}")
    return 0


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from collections import Counter

    from tsr_lsp.router.corpus import build_corpus
    from tsr_lsp.router.data import write_jsonl

    examples = build_corpus(args.shared, args.seed, team=not args.no_team)
    write_jsonl(examples, args.out)
    counts = Counter(ex.category for ex in examples)
    print(f"wrote {len(examples)} examples to {args.out}")
    print(", ".join(f"{cat} {n}" for cat, n in sorted(counts.items())))
    return 0


def _overlap(args: argparse.Namespace, settings: Settings) -> int:
    from tsr_lsp.router.overlap import jsonl_rows, load_index, scan_rows, shipped_files

    sets, reviewed = load_index()
    files = args.files or shipped_files()
    rows = jsonl_rows(files)
    found = scan_rows(rows, sets, reviewed)
    if args.json:
        print(
            json.dumps(
                {
                    "rows": len(rows),
                    "public_sets": {s.name: s.items for s in sets},
                    "findings": [
                        {
                            "where": f.where,
                            "kind": f.hit.kind,
                            "public": f.hit.public,
                            "detail": f.hit.detail,
                            "key": f.key,
                        }
                        for f in found
                    ],
                }
            )
        )
        return 1 if found else 0
    names = ", ".join(f"{s.name} ({s.items})" for s in sets)
    print(f"checked {len(rows)} rows of {len(files)} files against {names}")
    for f in found:
        print(f"{f.where}: {f.hit.kind} of {f.hit.public} ({f.hit.detail}): {f.text[:80]!r}")
    if found:
        print(
            f"{len(found)} finding(s): drop copies; drop mirrors, or add a row judged unrelated "
            "to tsr_lsp/router/data/public_tests/reviewed.tsv (key<TAB>why)"
        )
        return 1
    print("no copies or unreviewed mirrors")
    return 0


QUALITIES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.5, 0.0)


def _calibrate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from collections import Counter
    from dataclasses import asdict

    from tsr_lsp.router.calibrate import (
        calibrate,
        cot_levels,
        progress_bar,
        suite_grader,
        summary,
    )
    from tsr_lsp.router.policy import answer_profiles
    from tsr_lsp.router.success import (
        SuccessTable,
        choose,
        fingerprint,
        load_outcomes,
        lossless_floor,
        meaning_vector,
        outcome_files,
        tradeoff,
        user_outcomes_path,
    )

    try:
        from tsr_lsp.bench.answers import SuiteRunner, load_tasks
    except ImportError as exc:
        raise RuntimeError(f"the answer suite is not available ({exc})") from None
    names = [n for n in args.profiles.split(",") if n] or answer_profiles(settings)
    for name in names:
        settings.profile(name)  # unknown names: an error that lists the configured ones
    profiles = {n: fingerprint(settings.models[n]) for n in names}
    # only the suite's calibration split (its report split never trains the router)
    cats = [c for c in args.categories.split(",") if c] or None
    tasks = load_tasks("calibration", categories=cats, per_category=args.per_category)
    if args.max_tokens > 0:
        for task in tasks:
            task.max_tokens = min(task.max_tokens, args.max_tokens)
    out = args.out or user_outcomes_path()
    budget = args.budget_min * 60 if args.budget_min is not None else None
    # the suite's server runs in a private home: hand it the profiles being calibrated
    init = {"models": {n: asdict(settings.models[n]) for n in names}}
    _say(f"calibrating {', '.join(names)} on {len(tasks)} tasks -> {out}\n")

    levels = cot_levels(args.cot, settings.router.policy)

    async def main() -> Any:
        async with SuiteRunner(initialization_options=init) as runner:
            return await calibrate(
                tasks,
                profiles,
                suite_grader(runner),
                out,
                budget,
                progress_bar(_say),
                levels=levels,
            )

    report = asyncio.run(main())
    files = outcome_files(settings.router.outcomes if not args.out else str(out))
    outcomes = load_outcomes(files)
    table = SuccessTable(outcomes, meaning_vector)
    current = {n: fingerprint(p) for n, p in settings.models.items()}
    costs = {n: p.cost for n, p in settings.models.items()}
    routed: Counter[str] = Counter()
    for task in tasks:
        est = table.predict(meaning_vector(task.prompt), task.category, current)
        pick = choose(est, costs, settings.router.quality)
        routed[pick[0] if pick else "policy table"] += 1
    trade = tradeoff(table, current, costs, QUALITIES)
    floor = lossless_floor(table, current)
    result = {
        "ran": report.ran,
        "skipped_done": report.skipped,
        "errors": report.errors,
        "stopped_by_budget": report.stopped_by_budget,
        "remaining": len(report.remaining),
        "seconds": round(report.seconds, 1),
        "outcomes_file": str(out),
        "success": summary(outcomes, current),
        "calibration_tasks_routed_to": dict(routed),
        "tradeoff": [
            {
                "quality": t.quality,
                "kept_ratio": round(t.kept, 3),
                "latency_ratio": round(t.latency, 3),
            }
            for t in trade
        ],
        **({"lossless_floor_latency_ratio": round(floor[1], 3)} if floor else {}),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"graded {report.ran} answers ({report.skipped} already done, {report.errors} errors) "
        f"in {report.seconds / 60:.1f} min"
    )
    if report.stopped_by_budget:
        print(f"budget reached: {len(report.remaining)} left; run the same command to go on")
    for prof, cats in result["success"].items():
        cells = ", ".join(f"{c} {v['mean']:.2f} ({v['n']})" for c, v in cats.items())
        print(f"  {prof}: {cells}")
    split = ", ".join(f"{n} {k}" for n, k in routed.most_common())
    print(f"the router now sends these calibration tasks to: {split}")
    if trade:
        print("router.quality -> share of the best profile's quality kept / latency paid")
        print("(each calibrated task routed by a prediction that leaves it out):")
        for t in trade:
            mark = "  <- current" if abs(t.quality - settings.router.quality) < 1e-9 else ""
            print(f"  {t.quality:.2f}: {t.kept:.3f} / {t.latency:.3f}{mark}")
    if floor:
        print(
            f"  an oracle that knew every outcome, losing no point: {floor[0]:.3f} / "
            f"{floor[1]:.3f} (the floor for any router on these configurations)"
        )
    return 0
