"""Training data errors name the file and line and say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsr_lsp.router.data import DataError, Example, load_jsonl, write_jsonl


def write(tmp_path: Path, blob: bytes) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_bytes(blob)
    return path


def test_every_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    blob = (
        b'{"text": "hello", "category": "chat"}\n'
        b'{"category": "chat"}\n'
        b'{"text": "what is 2+2"}\n'
        b'{"text": "hi", "category": "smalltalk"}\n'
        b"\n"
        b"not json\n"
        b'{"text": "x", "category": "math", "cot_steps": -1}\n'
        b'{"text": "x", "category": "math", "temperature": "hot"}\n'
    )
    with pytest.raises(DataError) as err:
        load_jsonl(write(tmp_path, blob))
    lines = str(err.value).splitlines()
    assert [ln.split(":")[1] for ln in lines] == ["2", "3", "4", "6", "7", "8"]
    assert "missing 'text'" in lines[0]
    assert "missing 'category'" in lines[1] and "code, math" in lines[1]
    assert "unknown category 'smalltalk'" in lines[2]
    assert "invalid JSON" in lines[3]
    assert "cot_steps" in lines[4] and "temperature" in lines[5]


def test_empty_file_says_what_a_line_looks_like(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no examples \(empty file\).*\"category\""):
        load_jsonl(write(tmp_path, b"\n\n"))


def test_non_utf8_line_is_named(tmp_path: Path) -> None:
    blob = b'{"text": "ok", "category": "chat"}\n{"text": "caf\xe9", "category": "chat"}\n'
    with pytest.raises(DataError, match=r"data.jsonl:2: not valid UTF-8.*save the file as UTF-8"):
        load_jsonl(write(tmp_path, blob))


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_jsonl(tmp_path / "nope.jsonl")


def test_optional_fields_round_trip(tmp_path: Path) -> None:
    ex = Example(
        "Add tests",
        "code",
        kind="tests",
        language="python",
        cot_steps=2,
        temperature=1.0,
        model="coder",
        source="mine",
    )
    path = tmp_path / "out.jsonl"
    write_jsonl([ex], path)
    assert load_jsonl(path) == [ex]
    assert ex.difficulty_target() == pytest.approx(2 / 3)
