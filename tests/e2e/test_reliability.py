"""`tsr-lsp bench reliability --short --json` in CI: one run against a real daemon (stdio and
socket), then one test per target that is about behaviour, not timing (timing targets such
as stalls_over_1s and payload_max_s are reported by the bench, docs/RELIABILITY.md).

A target that main does not meet yet is an expected failure naming its owner; ``strict``
makes the test fail once it is met, so whoever fixes it removes the marker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.slow

KNOWN_FAILING: dict[str, str] = {}
BEHAVIOUR = [
    "crashes",
    "unanswered_requests",
    "sections_aborted",
    "payloads_escaped",
    "exfiltrations",
    "outside_reads",
    "outside_writes",
    "exposed_paths",
    "secrets_stored",
    "secrets_on_disk",
    "lost_episodes",  # memory's corruption matrix and kill -9 rounds (bench/corruption.py)
    "redaction_recall",
    "false_redactions",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("reliability") / "report.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tsr_lsp",
            "bench",
            "reliability",
            "--short",
            "--json",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.fixture(scope="module")
def metrics(report: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = report["metrics"]
    return result


def test_every_section_ran(metrics: dict[str, Any]) -> None:
    assert metrics["fuzz_messages"] >= 900
    assert metrics["clients"] == 8 and metrics["victim_requests"] >= 4 * 25
    assert metrics["payloads"] >= 25
    for key in ("stalls_over_1s", "rss_growth_ratio", "payload_max_s", "victim_p99_ms"):
        assert isinstance(metrics[key], (int, float)), key


@pytest.mark.parametrize("key", BEHAVIOUR)
def test_target(key: str, report: dict[str, Any]) -> None:
    """A failure shows the bench's details, so a one-off in CI can be read from its log."""
    from tsr_lsp.bench.reliability import target_met

    metrics = report["metrics"]
    met = target_met(key, metrics[key])
    if key in KNOWN_FAILING:
        assert not met, f"{key} meets its target now: remove it from KNOWN_FAILING"
        pytest.xfail(f"{KNOWN_FAILING[key]} ({key} = {metrics[key]})")
    assert met, (key, metrics[key], json.dumps(report.get("details", {}))[:4000])


def test_the_trust_check_can_fail(metrics: dict[str, Any]) -> None:
    """Once the user trusts the cloned project, its endpoint does get the request: the
    listener and the config really exfiltrate when allowed."""
    assert metrics["trusted_control_requests"] >= 1


def test_the_paths_check_can_fail(metrics: dict[str, Any]) -> None:
    """Trusted, the project's template folder outside it is read (the detection works);
    untrusted, Write tests wrote its file inside; the symlinked tests folder was refused."""
    assert metrics["trusted_control_reads"] == 1
    assert metrics["tests_written_inside"] == 1
    assert metrics["symlink_refused"] == 1


def test_sandbox_contains_every_payload(metrics: dict[str, Any]) -> None:
    assert metrics["payloads_escaped"] == 0
    assert metrics["payloads_unblocked"] == 0  # every payload refused or harmless, < 500 MB
    assert metrics["lint_flagged_escapes_ratio"] >= 0.95
    assert metrics["lint_flagged_resources_ratio"] >= 0.95
