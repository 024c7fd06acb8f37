"""router calibrate end to end: a tiny calibration suite through the real server with the
two default models, graded, written, resumed, and then used by routing (the decision names
the calibrated evidence)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tsr_lsp.router.success import SHIPPED


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TSR_LSP_DAEMON": "0"}
    return subprocess.run(
        [sys.executable, "-m", "tsr_lsp", *args],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_calibrate_grades_resumes_and_routing_follows(
    tmp_path: Path, home: Path, models_dir: Path
) -> None:
    out = tmp_path / "outcomes.jsonl"
    tiny = ["--categories", "extraction,chat", "--per-category", "2", "--max-tokens", "40"]
    tiny += ["--profiles", "coder,general"]  # the 1.5B answers too, but costs CI minutes
    stopped = cli("router", "calibrate", *tiny, "--budget-min", "0", "--out", str(out), "--json")
    assert stopped.returncode == 0, stopped.stderr
    first = json.loads(stopped.stdout)
    assert first["stopped_by_budget"] and first["ran"] == 0 and first["remaining"] == 8

    run = cli("router", "calibrate", *tiny, "--out", str(out), "--json")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["ran"] == 8 and result["errors"] == 0
    assert "8/8" in run.stderr  # the progress bar reached the end
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted({r["profile"] for r in rows}) == ["coder", "general"]
    assert {r["category"] for r in rows} == {"extraction", "chat"}
    assert all(0.0 <= r["score"] <= 1.0 and r["latency_ms"] > 0 for r in rows)
    # the summary covers the shipped outcomes plus this run's: 2 more per profile and category
    shipped = Counter(
        (r["profile"], r["category"])
        for r in map(json.loads, SHIPPED.read_text().splitlines())
        if "cot" not in r
    )
    for prof in ("coder", "general"):
        for cat in ("extraction", "chat"):
            got = result["success"][prof][cat]["n"]
            assert got == shipped[(prof, cat)] + 2, (prof, cat, got)

    again = cli("router", "calibrate", *tiny, "--out", str(out), "--json")
    assert json.loads(again.stdout)["ran"] == 0  # everything done: nothing runs twice
    assert len(out.read_text().splitlines()) == 8

    # configurations: analysis (CoT 0-1) at the table's depth and at each fixed depth; the
    # fixed depth equal to the table's is the same request, recorded without running again
    deep = cli(
        "router", "calibrate", "--categories", "analysis", "--per-category", "1",
        "--max-tokens", "40", "--cot", "all", "--profiles", "coder,general",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert deep.returncode == 0, deep.stderr
    assert json.loads(deep.stdout)["ran"] == 4  # 2 profiles x (table + CoT 0 + CoT 1) - 2
    analysis = [json.loads(line) for line in out.read_text().splitlines()][8:]
    assert sorted((r["profile"], r.get("cot", -1)) for r in analysis) == [
        ("coder", -1), ("coder", 0), ("coder", 1),
        ("general", -1), ("general", 0), ("general", 1),
    ]  # fmt: skip
    assert all(r["completion_tokens"] > 0 and r["prompt_tokens"] > 0 for r in analysis)
    # the shipped file grades CoT 1 on reasoning only: analysis at CoT 1 is this run's
    assert "analysis" in json.loads(deep.stdout)["success"]["coder CoT 1"]

    config = home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[router]\noutcomes = "{out}"\nquality = 0.0\n')
    routed = cli("route", "--json", rows[0]["text"])
    assert routed.returncode == 0, routed.stderr
    decision = json.loads(routed.stdout)
    # quality 0: any calibrated profile qualifies, so the cheapest (general) answers, and
    # the explanation names the graded evidence
    assert decision["model"] == "general"
    assert "similar calibrated tasks" in decision["explanation"], decision["explanation"]
