"""The success predictor (graded outcomes -> which profile to use) and the policy's use of
it: cheapest profile within router.quality of the best, evidence named, stale outcomes of
another model ignored, and no costlier model chosen because of a runner-up category."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tsr_lsp.config import Settings
from tsr_lsp.router.decision import Prediction, RouteRequest
from tsr_lsp.router.policy import decide
from tsr_lsp.router.success import (
    Estimate,
    Outcome,
    OutcomeCache,
    SuccessTable,
    choose,
    fingerprint,
    load_outcomes,
)

DIM = 64


def vec(text: str) -> list[float]:
    """A toy meaning vector: hashed bag of words (deterministic, no model files)."""
    out = [0.0] * DIM
    for w in text.lower().split():
        out[int(hashlib.md5(w.encode()).hexdigest(), 16) % DIM] += 1.0
    return out


CODE = [f"write a python function that sorts list number {i} quickly" for i in range(20)]
CHAT = [f"hello there my friend how are you doing today {i}" for i in range(20)]


def outcomes(settings: Settings, general_code: float = 0.0) -> list[Outcome]:
    fp = {n: fingerprint(p) for n, p in settings.models.items()}
    rows = []
    for i, text in enumerate(CODE):
        rows.append(Outcome(f"c{i}", "code", "coder", 1.0 if i % 5 else 0.0, text, fp["coder"]))
        rows.append(Outcome(f"c{i}", "code", "general", general_code, text, fp["general"]))
    for i, text in enumerate(CHAT):
        rows.append(Outcome(f"h{i}", "chat", "coder", 1.0, text, fp["coder"]))
        rows.append(Outcome(f"h{i}", "chat", "general", 1.0 if i else 0.0, text, fp["general"]))
    return rows


def prediction(category: str, text: str, runner: str = "", p: float = 0.0) -> Prediction:
    scores = {category: 1.0 - p, **({runner: p} if runner else {})}
    return Prediction(category, scores, 0.0, "test", meaning=vec(text))


def test_similar_tasks_predict_each_profiles_success() -> None:
    settings = Settings()
    table = SuccessTable(outcomes(settings), vec)
    fps = {n: fingerprint(p) for n, p in settings.models.items()}
    est = table.predict(vec(CODE[3]), "code", fps)
    assert est["coder"].success > 0.7 > 0.2 > est["general"].success
    assert est["coder"].tasks >= 20
    chat = table.predict(vec("hello there my friend how are you doing"), "chat", fps)
    assert chat["general"].success > 0.8 and chat["coder"].success > 0.8


def test_outcomes_of_another_model_do_not_count() -> None:
    settings = Settings()
    table = SuccessTable(outcomes(settings), vec)
    est = table.predict(vec(CODE[0]), "code", {"coder": "file:bigger.gguf", "general": "x"})
    assert est == {}


def test_cheapest_profile_within_quality_of_the_best() -> None:
    costs = {"coder": 3.0, "general": 1.0}
    est = {"coder": Estimate("coder", 0.92, 24), "general": Estimate("general", 0.90, 24)}
    pick, why = choose(est, costs, 0.95) or ("", "")
    assert pick == "general"
    assert why == (
        "general predicted 0.90 vs coder 0.92 on 24 similar calibrated tasks "
        "(cheaper, within quality 0.95)"
    )
    assert (choose(est, costs, 1.0) or ("",))[0] == "coder"
    est["coder"] = Estimate("coder", 0.71, 24)
    est["general"] = Estimate("general", 0.42, 30)
    assert choose(est, costs, 0.95) == (
        "coder",
        "coder predicted 0.71 vs general 0.42 on 24 similar calibrated tasks",
    )
    assert choose({"coder": est["coder"]}, costs, 0.95) is None  # nothing to compare


def test_policy_follows_the_evidence_and_says_so() -> None:
    settings = Settings()
    table = SuccessTable(outcomes(settings), vec)
    available = set(settings.models)
    # misjudged as writing (whose row says general): outcomes of similar tasks say coder
    text = "write a python function that sorts list number 7 quickly"
    d = decide(prediction("writing", text), RouteRequest(text), settings, available, (), table)
    assert d.model == "coder"
    assert "coder predicted" in d.explanation and "similar calibrated tasks" in d.explanation
    # small talk: general fails 1 in 20, coder never; within quality 0.9 the cheaper answers
    settings.router.quality = 0.9
    hi = "hello there my friend how are you doing today"
    d = decide(prediction("chat", hi), RouteRequest(hi), settings, available, (), table)
    assert d.model == "general" and "general predicted" in d.explanation
    # quality 1.0: the best predicted profile whatever it costs
    settings.router.quality = 1.0
    d = decide(prediction("chat", hi), RouteRequest(hi), settings, available, (), table)
    assert d.model == "coder"


def test_a_profile_without_the_rows_tags_is_never_chosen_by_evidence() -> None:
    settings = Settings()
    fp = fingerprint(settings.models["fim"])
    rows = outcomes(settings) + [
        Outcome(f"c{i}", "code", "fim", 1.0, text, fp) for i, text in enumerate(CODE)
    ]
    table = SuccessTable(rows, vec)
    text = CODE[5]  # the coder fails it (1 in 5); the 1.5B passes every code task
    d = decide(
        prediction("code", text), RouteRequest(text), settings, set(settings.models), (), table
    )
    assert d.model == "fim" and "fim predicted" in d.explanation
    settings.models["fim"].tags = ["fim"]  # inline completion only: out of answering
    d = decide(
        prediction("code", text), RouteRequest(text), settings, set(settings.models), (), table
    )
    assert d.model == "coder" and "fim" not in d.explanation


def test_without_evidence_the_policy_table_decides() -> None:
    settings = Settings()
    text = "What is the capital of France?"
    d = decide(prediction("knowledge", text), RouteRequest(text), settings, set(settings.models))
    assert d.model == "general" and "predicted" not in d.explanation


def test_a_runner_up_category_never_switches_to_a_costlier_model() -> None:
    settings = Settings()
    text = "What is the capital of France?"
    for p in (0.02, 0.1, 0.3):
        pred = prediction("knowledge", text, runner="code", p=p)
        d = decide(pred, RouteRequest(text), settings, set(settings.models))
        assert d.model == "general", d.explanation
        assert "model coder" not in d.explanation


def test_bad_outcome_lines_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "outcomes.jsonl"
    good = Outcome("t1", "code", "coder", 1.0, "write code").to_json()
    path.write_text(json.dumps(good) + "\nnot json\n" + json.dumps({**good, "score": 7}) + "\n{}\n")
    rows = load_outcomes([path, tmp_path / "missing.jsonl"])
    assert [r.task for r in rows] == ["t1"]
    assert "3 unreadable outcome lines" in caplog.text


def test_outcome_cache_rebuilds_when_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tsr_lsp.router import success

    path = tmp_path / "mine.jsonl"
    monkeypatch.setattr(success, "SHIPPED", tmp_path / "none.jsonl")
    cache = OutcomeCache(recheck_s=0.0)
    assert cache.table(str(path)) is None
    path.write_text(json.dumps(Outcome("t1", "code", "coder", 1.0, "x").to_json()) + "\n")
    first = cache.table(str(path))
    assert first is not None and len(first) == 1
    assert cache.table(str(path)) is first
    with path.open("a") as fh:
        fh.write(json.dumps(Outcome("t2", "code", "coder", 0.0, "y").to_json()) + "\n")
    assert len(cache.table(str(path)) or []) == 2
    assert cache.table("off") is None


def test_outcome_cache_looks_at_its_files_once_per_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every route asks for the table: the files are checked once per ``recheck_s``."""
    import time

    from tsr_lsp.router import success

    path = tmp_path / "mine.jsonl"
    monkeypatch.setattr(success, "SHIPPED", tmp_path / "none.jsonl")
    path.write_text(json.dumps(Outcome("t1", "code", "coder", 1.0, "x").to_json()) + "\n")
    cache = OutcomeCache(recheck_s=0.5)
    first = cache.table(str(path))
    with path.open("a") as fh:
        fh.write(json.dumps(Outcome("t2", "code", "coder", 0.0, "y").to_json()) + "\n")
    assert cache.table(str(path)) is first  # not looked at again yet
    time.sleep(0.6)
    assert len(cache.table(str(path)) or []) == 2


def test_tradeoff_reports_quality_kept_and_latency_paid_per_setting() -> None:
    from tsr_lsp.router.success import tradeoff

    settings = Settings()
    rows = []
    fp = {n: fingerprint(p) for n, p in settings.models.items()}
    for i, text in enumerate(CODE):
        rows.append(Outcome(f"c{i}", "code", "coder", 1.0, text, fp["coder"], 100.0))
        rows.append(Outcome(f"c{i}", "code", "general", 0.0, text, fp["general"], 10.0))
    for i, text in enumerate(CHAT):
        rows.append(Outcome(f"h{i}", "chat", "coder", 1.0, text, fp["coder"], 100.0))
        rows.append(Outcome(f"h{i}", "chat", "general", 1.0, text, fp["general"], 10.0))
    table = SuccessTable(rows, vec)
    costs = {n: p.cost for n, p in settings.models.items()}
    by_q = {t.quality: t for t in tradeoff(table, fp, costs, [1.0, 0.95, 0.0])}
    # 0.95: chat (a tie) goes to the cheaper general, code stays with the coder
    assert by_q[0.95].kept == pytest.approx(1.0)
    assert by_q[0.95].latency == pytest.approx(0.55)
    assert by_q[0.95].shares == {"coder": 0.5, "general": 0.5}
    # 0.0: everything to the cheapest model: half the quality at a tenth of the latency
    assert by_q[0.0].kept == pytest.approx(0.5) and by_q[0.0].latency == pytest.approx(0.1)


def test_feedback_becomes_evidence_for_the_profile_that_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tsr_lsp.memory.api import FeedbackExample
    from tsr_lsp.router import success
    from tsr_lsp.router.success import feedback_outcomes

    settings = Settings()
    fp = {n: fingerprint(p) for n, p in settings.models.items()}

    def ex(text: str, model: str, outcome: str) -> FeedbackExample:
        return FeedbackExample(text, "chat", "", "chat", model, 0.6, 0, outcome)

    rows = feedback_outcomes(
        [
            ex("hello there my friend", "general", "accepted"),
            ex("hello there my friend", "coder", "edited"),
            ex("how are you doing today", "coder", "rejected"),
            ex("old profile", "gone", "accepted"),  # no longer configured: left out
            ex("no verdict", "general", ""),
        ],
        fp,
    )
    assert [(o.profile, o.score, o.fingerprint) for o in rows] == [
        ("general", 1.0, fp["general"]),
        ("coder", 0.5, fp["coder"]),
        ("coder", 0.0, fp["coder"]),
    ]
    assert rows[0].task == rows[1].task  # the same request: one task, two graded answers
    monkeypatch.setattr(success, "SHIPPED", tmp_path / "none.jsonl")
    cache = OutcomeCache()
    table = cache.table(str(tmp_path / "none-either.jsonl"), rows, "3")
    assert table is not None and len(table) == 2
    assert cache.table(str(tmp_path / "none-either.jsonl"), rows, "3") is table
    assert cache.table(str(tmp_path / "none-either.jsonl"), rows[:1], "1") is not table


def configured(settings: Settings) -> list[Outcome]:
    """Code tasks graded at the table's depth and at CoT 0: the coder is as good without
    the plan and answers in fewer tokens; the general model fails either way."""
    fp = {n: fingerprint(p) for n, p in settings.models.items()}
    rows = []
    for i, text in enumerate(CODE):
        ok = 1.0 if i % 5 else 0.0
        rows += [
            Outcome(f"c{i}", "code", "coder", ok, text, fp["coder"], 900.0, 1.0, None, 180, 100),
            Outcome(f"c{i}", "code", "coder", ok, text, fp["coder"], 500.0, 1.0, 0, 90, 100),
            Outcome(f"c{i}", "code", "general", 0.0, text, fp["general"], 300, 1.0, None, 150, 100),
        ]
    return rows


def test_configurations_are_predicted_apart_with_their_token_cost() -> None:
    settings = Settings()
    table = SuccessTable(configured(settings), vec)
    fps = {n: fingerprint(p) for n, p in settings.models.items()}
    est = table.predict(vec(CODE[3]), "code", fps)
    assert set(est) == {"coder", "coder CoT 0", "general"}
    assert est["coder CoT 0"].cot == 0 and est["coder"].cot is None
    assert est["coder CoT 0"].tokens == pytest.approx(90) and est["coder"].tokens == pytest.approx(
        180
    )
    assert est["coder CoT 0"].work == pytest.approx(90 + 0.25 * 100)
    costs = {"coder": 3.0, "general": 1.0}
    pick, why = choose(est, costs, 0.95) or ("", "")
    assert pick == "coder CoT 0"
    assert why.startswith("coder CoT 0 predicted 0.") and "in ~90 tokens vs coder" in why


def test_policy_applies_the_calibrated_depth_within_the_row() -> None:
    settings = Settings()
    table = SuccessTable(configured(settings), vec)
    text = CODE[7]
    pred = Prediction("code", {"code": 1.0}, 1.0, "test", meaning=vec(text))  # table: CoT 3
    d = decide(pred, RouteRequest(text), settings, set(settings.models), (), table)
    assert (d.model, d.cot_steps) == ("coder", 0)
    assert "coder CoT 0 predicted" in d.explanation
    # a depth outside the row is no candidate: math's row starts at CoT 2
    pred = Prediction("math", {"math": 1.0}, 1.0, "test", meaning=vec(text))
    d = decide(pred, RouteRequest(text), settings, set(settings.models), (), table)
    assert d.cot_steps == 4 and "CoT 0" not in d.explanation


def test_a_hedged_depth_is_kept_over_the_calibrated_one() -> None:
    """Unsure between code and analysis, the hedge's CoT 1 suits both rows; the code-only
    calibrated CoT 0 would drop the analysis row again."""
    settings = Settings()
    table = SuccessTable(configured(settings), vec)
    text = CODE[7]
    pred = Prediction("code", {"code": 0.55, "analysis": 0.45}, 0.55, "test", meaning=vec(text))
    d = decide(pred, RouteRequest(text), settings, set(settings.models), (), table)
    assert (d.model, d.cot_steps) == ("coder", 1)
    assert "unsure (analysis 0.45): CoT 1" in d.explanation


def test_outcome_json_round_trip_keeps_the_configuration() -> None:
    o = Outcome("t", "code", "coder", 0.5, "x", "fp", 12.0, 1.0, 2, 40, 80)
    row = o.to_json()
    assert row["cot"] == 2 and row["completion_tokens"] == 40 and row["prompt_tokens"] == 80
    assert Outcome.from_json(row) == o
    old = {k: v for k, v in row.items() if k not in ("cot", "completion_tokens", "prompt_tokens")}
    assert Outcome.from_json(old).cot is None and Outcome.from_json(old).work == 0.0
    with pytest.raises(ValueError):
        Outcome.from_json({**row, "cot": -1})


def test_lossless_floor_and_tradeoff_over_configurations() -> None:
    from tsr_lsp.router.success import lossless_floor, tradeoff

    settings = Settings()
    rows = configured(settings)
    table = SuccessTable(rows, vec)
    fps = {n: fingerprint(p) for n, p in settings.models.items()}
    kept, share = lossless_floor(table, fps) or (0.0, 0.0)
    # failed tasks (1 in 5) go to the fastest (general, 300 ms); the others to CoT 0 (500 ms)
    assert kept == pytest.approx(1.0)
    assert share == pytest.approx((0.2 * 300 + 0.8 * 500) / 900)
    costs = {n: p.cost for n, p in settings.models.items()}
    (t,) = tradeoff(table, fps, costs, [0.95])
    assert t.kept == pytest.approx(1.0) and t.latency == pytest.approx(500 / 900)
    assert t.shares == {"coder CoT 0": 1.0}


def test_a_calibrated_fixed_depth_is_answered_in_steps_not_by_program() -> None:
    """Math's row answers by program; evidence for a fixed depth was graded in steps
    (calibrate), so following it must also switch the method."""
    settings = Settings()
    settings.router.policy["code"].method = "program"
    table = SuccessTable(configured(settings), vec)
    text = CODE[7]  # has a digit: a program would suit it
    pred = Prediction("code", {"code": 1.0}, 1.0, "test", meaning=vec(text))
    d = decide(pred, RouteRequest(text), settings, set(settings.models), (), table)
    assert (d.cot_steps, d.method) == (0, "steps")
    d = decide(pred, RouteRequest(text), settings, set(settings.models))  # no evidence
    assert (d.cot_steps, d.method) == (3, "program")
    assert "a program (CoT 3 if it does not compute)" in d.explanation
