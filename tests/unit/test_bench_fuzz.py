"""The reliability bench's fuzzer: seeded, varied, and honest about which replies are owed."""

from __future__ import annotations

import json
from collections import Counter

from tsr_lsp.bench import fuzz
from tsr_lsp.bench.hostile_cases import exposed
from tsr_lsp.bench.reliability import TARGETS, target_met


def test_same_seed_same_bytes() -> None:
    a = [c.data for c in fuzz.cases(3, 300)]
    b = [c.data for c in fuzz.cases(3, 300)]
    c = [c.data for c in fuzz.cases(4, 300)]
    assert a == b
    assert a != c


def test_mix_of_mutations_and_owed_replies() -> None:
    cases = list(fuzz.cases(1, 3000))
    assert len(cases) >= 2900
    labels = Counter(c.label.split("-")[0].rstrip("0123456789") for c in cases)
    for kind in ("valid", "params", "id", "version", "method", "deep", "body", "header"):
        assert labels[kind] > 20, labels
    headers = {c.label for c in cases if c.label.startswith("header-")}
    assert headers == {f"header-{h}" for h in fuzz.HEADER_CASES}
    owed = [c.expect_id for c in cases if c.expect_id is not None]
    assert len(owed) == len(set(owed)) > 500  # unique: replies can be matched


def test_owed_ids_are_sound_requests() -> None:
    for case in fuzz.cases(2, 1000):
        if case.expect_id is None or not case.label.startswith(("valid", "params")):
            continue
        head, _, body = case.data.partition(b"\r\n\r\n")
        assert int(head.split(b":")[1]) == len(body)
        msg = json.loads(body)
        assert msg["id"] == case.expect_id and msg["jsonrpc"] == "2.0"


def test_targets() -> None:
    assert target_met("crashes", 0) and not target_met("crashes", 1)
    assert target_met("redaction_recall", 0.995) and not target_met("redaction_recall", 0.9)
    assert target_met("rss_growth_ratio", 1.1) and not target_met("rss_growth_ratio", 1.5)
    assert target_met("crashes", None) is None
    assert {"crashes", "stalls_over_1s", "lost_episodes", "payloads_escaped"} <= set(TARGETS)


def test_exposed_lists_group_or_world_access(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "data").mkdir(mode=0o700)
    secret = tmp_path / "data" / "store.json"
    secret.write_text("{}")
    secret.chmod(0o644)
    (tmp_path / "data").chmod(0o700)
    assert exposed(tmp_path) == ["0o644 data/store.json"]
    secret.chmod(0o600)
    assert exposed(tmp_path) == []
