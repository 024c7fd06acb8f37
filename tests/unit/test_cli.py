from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tsr_lsp import __version__
from tsr_lsp.cli import COMMANDS, build_parser, fast_args, main
from tsr_lsp.server.daemon import spawn_args


def test_every_command_parses() -> None:
    parser = build_parser()
    assert parser.parse_args(["ask", "hello", "world", "--json"]).text == ["hello", "world"]
    assert parser.parse_args(["models", "install-defaults"]).models_command == "install-defaults"
    assert parser.parse_args(["bench", "startup", "--json"]).json is True
    assert parser.parse_args([]).command is None  # stdio by default
    assert set(COMMANDS) >= {"stdio", "serve", "ask", "route", "models", "bench", "doctor"}


def test_the_fast_paths_parse_as_the_full_parser_does(tmp_path: Path) -> None:
    """Editors' and the spawned daemon's starts skip build_parser: they must mean the same."""
    daemon = spawn_args(tmp_path / "d.log", tmp_path / "s")
    for argv in (["stdio"], ["stdio", "--no-daemon"], daemon):
        fast = fast_args(argv)
        assert fast is not None, argv
        assert vars(fast) == vars(build_parser().parse_args(argv))
    assert fast_args(["serve", "--socket", "x", "--idle-timeout", "3"]) is None  # the parser's


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_kind_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--kind", "poetry", "hi"]) == 2
    assert "unknown --kind 'poetry'" in capsys.readouterr().err


def test_unknown_profile_on_verify(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "verify", "gpu-box"]) == 1
    assert "unknown model profile 'gpu-box'" in capsys.readouterr().err


def test_models_verify_reports_a_missing_file(home: Path, tmp_path: Path) -> None:
    cfg = home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[models.general]\npath = "{tmp_path / "gone.gguf"}"\nsha256 = ""\nsize = 0\n')
    proc = subprocess.run(
        [sys.executable, "-m", "tsr_lsp", "models", "verify", "general"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "gone.gguf" in proc.stdout and "install-defaults" in proc.stdout


def test_models_add_appends_a_valid_profile(home: Path, tmp_path: Path) -> None:
    model = tmp_path / "x.gguf"
    model.write_bytes(b"GGUF0000")
    assert main(["models", "add", "mine", "--path", str(model), "--tags", "code,fim"]) == 0
    text = (home / "config" / "config.toml").read_text()
    assert "[models.mine]" in text and '"llama_cpp"' in text
    assert main(["models", "add", "mine", "--path", str(model)]) == 1  # no silent overwrite


def test_logs_never_reach_stdout_in_stdio_mode(home: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tsr_lsp", "-vv", "stdio", "--no-daemon"],
        input=b"",
        capture_output=True,
        timeout=30,
    )
    assert proc.stdout == b""


def test_stdio_server_reads_from_a_file_or_dev_null(home: Path, tmp_path: Path) -> None:
    body = b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}'
    script = tmp_path / "in.lsp"
    script.write_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    with script.open("rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "tsr_lsp", "stdio", "--no-daemon"],
            stdin=stdin,
            capture_output=True,
            timeout=30,
        )
    assert b'"serverInfo"' in proc.stdout and b"tsr-lsp" in proc.stdout
    with open("/dev/null", "rb") as devnull:
        proc = subprocess.run(
            [sys.executable, "-m", "tsr_lsp", "stdio", "--no-daemon"],
            stdin=devnull,
            capture_output=True,
            timeout=30,
        )
    assert proc.returncode == 0


@pytest.mark.parametrize("argv", [["route", "hello"], ["models", "list"], ["ask", "hello"]])
def test_unreadable_config_is_a_one_line_error(home: Path, argv: list[str]) -> None:
    cfg = home / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("[router\nmin_confidence = ")
    proc = subprocess.run(
        [sys.executable, "-m", "tsr_lsp", *argv], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "config.toml" in lines[0] and "fix or remove" in lines[0]


def test_a_missing_extra_names_the_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The light install leaves torch out: a training command says which extra to add."""
    import tsr_lsp.commands.router_cmd as router_cmd

    def needs_torch(args: object) -> int:
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    monkeypatch.setattr(router_cmd, "run", needs_torch)
    assert main(["router", "train", "x.jsonl"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'tsr-lsp[train]'" in err and "`router`" in err

    def needs_other(args: object) -> int:
        raise ModuleNotFoundError("No module named 'nothing'", name="nothing")

    monkeypatch.setattr(router_cmd, "run", needs_other)
    with pytest.raises(ModuleNotFoundError):
        main(["router", "train", "x.jsonl"])


def test_ask_does_not_print_an_answer_the_stream_already_ended_with() -> None:
    from tsr_lsp.commands.ask import streamed_answer

    assert streamed_answer("```python\nanswer = 120 / 1.5\n```\n\nAnswer: 80", "80")
    assert streamed_answer("Step 1: add.\n**Answer:** 42\n", "42")
    assert not streamed_answer("Step 1: add.\nStep 2: it is 42", "42")  # no marker
    assert not streamed_answer("Answer: 41", "42")
    assert not streamed_answer("", "")
