"""The router from the command line, as a user scripts it: route --jsonl, router train/eval,
and over LSP (tsr/route answered by the shipped pretrained network)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_lsp import LanguageClient

from tests.e2e.conftest import request

FIXTURE = Path(__file__).parents[1] / "fixtures" / "router_small.jsonl"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tsr_lsp", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=600,
    )


def test_route_jsonl_keeps_order_and_marks_bad_lines(tmp_path: Path, home: Path) -> None:
    rows = [
        {"text": "hi there!"},
        {"text": "Solve 3x + 5 = 20 for x"},
        {
            "text": "def add(a, b):\n    return a + b",
            "kind": "inline_completion",
            "language": "python",
        },
        {"nope": 1},
        {"text": "Write a short poem about the sea"},
        {"text": "Extract all the dates from: the fair runs 3 May to 9 May 2025."},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    proc = cli("route", "--jsonl", str(path))
    assert proc.returncode == 1  # one bad line
    assert f"{path}:4: missing 'text'" in proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len(rows)
    assert [d.get("category") for d in out] == [
        "chat",
        "math",
        "code",
        None,
        "writing",
        "extraction",
    ]
    assert out[3]["line"] == 4 and "missing 'text'" in out[3]["error"]
    assert out[2]["model"] == "fim" and out[2]["cot_steps"] == 0  # completion.profile
    assert all(d["router"] == "pretrained" for d in out if "router" in d)
    same = cli("route", "--jsonl", "-", stdin=path.read_text())
    assert same.stdout == proc.stdout.replace(f"{path}:4", "-:4")


def test_train_then_eval_then_route_with_the_trained_weights(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "mine.tsrw"
    proc = cli(
        "router", "train", str(FIXTURE), "--base", "scratch", "--epochs", "6", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "epoch   1/6" in proc.stderr and "val loss" in proc.stderr
    assert f"saved {out}" in proc.stdout and out.stat().st_size > 0
    ev = cli("router", "eval", str(FIXTURE), "--weights", str(out), "--json")
    assert ev.returncode == 0, ev.stderr
    report = json.loads(ev.stdout)
    rows = len(FIXTURE.read_text().splitlines())
    assert report["router"] == "trained:mine.tsrw" and report["n"] == rows
    assert set(report["per_category"]["code"]) == {"precision", "recall", "f1", "support"}
    assert 0 <= report["ece"] <= 1 and report["latency_p50_ms"] > 0
    assert "accuracy" in report["rules"]
    png = tmp_path / "eval.png"
    text = cli("router", "eval", str(FIXTURE), "--weights", str(out), "--plot", str(png))
    assert "confusion (rows = true" in text.stdout and "keyword baseline" in text.stdout
    assert png.read_bytes().startswith(b"\x89PNG")
    cfg = home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[router]\nweights = "{out}"\n', encoding="utf-8")
    routed = cli("route", "--json", "hello there")
    assert json.loads(routed.stdout)["router"] == "trained:mine.tsrw", routed.stderr


def test_bad_training_data_fails_with_line_numbers(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "hi", "category": "chat"}\n{"text": "x", "category": "poetry"}\n')
    proc = cli("router", "train", str(bad), "--out", str(tmp_path / "w.tsrw"))
    assert proc.returncode == 1
    assert f"{bad}:2: unknown category 'poetry'" in proc.stderr
    assert not (tmp_path / "w.tsrw").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    proc = cli("router", "eval", str(empty))
    assert proc.returncode == 1 and "no examples (empty file)" in proc.stderr


async def test_tsr_route_uses_the_pretrained_network(client: LanguageClient, home: Any) -> None:
    decision = await request(client, "tsr/route", {"text": "Summarise this review: loved it"})
    assert decision["router"] == "pretrained" and decision["category"] == "analysis"


def test_train_from_feedback_folds_stored_outcomes_into_weights(tmp_path: Path, home: Path) -> None:
    """Outcomes stored by the real memory service become training rows for the router."""
    import time

    from tsr_lsp.config import Settings
    from tsr_lsp.engine import Engine
    from tsr_lsp.memory.service import MemoryService
    from tsr_lsp.router.decision import RouteRequest

    settings = Settings()
    settings.memory.embeddings = "off"
    engine = Engine(settings)
    memory = MemoryService(settings, embedder=None)
    try:
        for topic in ("the sea", "autumn", "my cat", "trains", "old castles", "rain"):
            request = RouteRequest(f"Write a short poem about {topic}", project=str(tmp_path))
            decision = engine.route(request)
            episode = memory.record_generation(
                str(tmp_path), request, decision, "a poem", started=time.time()
            )
            assert episode is not None
            memory.feedback(episode, "accepted")
    finally:
        memory.close()
        engine.close()
    out = tmp_path / "from-feedback.tsrw"
    proc = cli(
        "router", "train", "--from-feedback", "--epochs", "3", "--replay", "200", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert "feedback: 6 accepted/edited outcomes" in proc.stderr
    assert out.is_file() and f"saved {out}" in proc.stdout
