"""The task sets of `bench completion` (tsr_lsp/bench/fim_data.py): how a masked-line task is
built, how a sample keeps whole files, edit similarity, and the check that the repository
shares no 8-word run with the evaluated files. Synthetic problems written here; the real
HumanEval file is read from its wheel only by the benchmark."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from tsr_lsp.bench import fim_data
from tsr_lsp.bench.fim_data import Task, edit_similarity

PROBLEM = {
    "task_id": "Toy/0",
    "prompt": 'def clamp(x, low, high):\n    """Keep x inside [low, high]."""\n',
    "canonical_solution": "    if x < low:\n        return low\n\n    return min(x, high)\n",
}


def restore(task: Task) -> str:
    lines = task.text.split("\n")
    assert lines[task.line] == " " * task.column  # only the indentation is left
    return "\n".join(
        [*lines[: task.line], lines[task.line] + task.expected, *lines[task.line + 1 :]]
    )


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> list[Task]:
    monkeypatch.setattr(fim_data, "_humaneval_problems", lambda: [PROBLEM])
    return fim_data.humaneval_tasks()


def test_every_non_blank_solution_line_is_masked_once_keeping_its_indentation(
    toy: list[Task],
) -> None:
    assert [t.expected for t in toy] == ["if x < low:", "return low", "return min(x, high)"]
    for task in toy:
        assert restore(task) == PROBLEM["prompt"] + PROBLEM["canonical_solution"]
    assert {t.group for t in toy} == {"Toy/0"} and toy[0].path == "Toy_0.py"
    assert [t.column for t in toy] == [4, 8, 4]


def test_a_sample_takes_whole_files_so_the_next_line_exists() -> None:
    tasks = [
        Task(group=f"g{g}", text="", line=i, column=0, expected="x")
        for g in range(10)
        for i in range(3)
    ]
    picked = fim_data.sample(tasks, 9)
    groups = {t.group for t in picked}
    assert len(picked) == 3 * len(groups) and 3 <= len(groups) <= 4
    assert len(groups) > 1 and "g0" in groups and "g1" not in groups  # spread over the set
    assert fim_data.sample(tasks, 0) == tasks and fim_data.sample(tasks, 100) == tasks


def test_stdlib_tasks_mask_single_line_statements_inside_functions() -> None:
    tasks = fim_data.stdlib_tasks()
    assert len(tasks) >= 60
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for task in tasks[:20]:
        assert task.column >= 4 and len(task.expected) > 3  # inside a function body
        assert restore(task) in (stdlib / task.path).read_text()  # a window of the real file
    assert fim_data.stdlib_tasks() == tasks  # a fixed sample: the dev set does not move
    with pytest.raises(ValueError):
        fim_data.load("santacoder")


def test_project_tasks_need_a_sibling_module_that_the_task_carries() -> None:
    tasks = fim_data.project_tasks()
    assert len(tasks) >= 60
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for task in tasks:
        assert restore(task).rstrip("\n") in (stdlib / task.path).read_text()
        assert task.others and len(task.others) <= fim_data.PROJECT_OTHERS
        package = task.path.split("/")[0]
        for path, text in task.others:
            assert path.split("/")[0] == package and path != task.path
            assert text == (stdlib / path).read_text()
        assert not any(part.startswith("test") for part in task.path.split("/"))
    assert fim_data.project_tasks() == tasks


def test_sibling_imports_resolve_relative_and_absolute_forms(tmp_path: Path) -> None:
    import ast

    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__", "util", "errors", "sub/__init__", "sub/deep", "sub/main"):
        (pkg / f"{name}.py").write_text("X = 1\n")
    main = pkg / "sub" / "main.py"
    source = (
        "import os\nfrom .deep import helper as h\nfrom .. import util\n"
        "from pkg.errors import Boom\nimport pkg.util as u\nfrom os.path import join\n"
    )
    found = fim_data._sibling_imports(ast.parse(source), main, tmp_path)
    assert found == {
        pkg / "sub" / "deep.py": {"h"},
        pkg / "util.py": {"util", "u"},
        pkg / "errors.py": {"Boom"},
    }


def test_edit_similarity_is_one_minus_normalised_levenshtein() -> None:
    assert edit_similarity("return x", "return x") == 1.0
    assert edit_similarity("", "return x") == 0.0
    assert edit_similarity("return y", "return x") == pytest.approx(1 - 1 / 8)
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)


def test_repo_overlap_names_a_fixture_that_copies_an_evaluated_file(
    toy: list[Task], tmp_path: Path
) -> None:
    golden = tmp_path / "tests" / "unit" / "completion_golden"
    golden.mkdir(parents=True)
    (golden / "own.toml").write_text('before = "def area(w, h):\\n    return w * h"\n')
    assert fim_data.repo_overlap(toy, tmp_path) == []
    (golden / "copied.toml").write_text(f"before = '''{PROBLEM['prompt']}'''\n")
    assert fim_data.repo_overlap(toy, tmp_path) == ["tests/unit/completion_golden/copied.toml"]


def test_the_direct_call_uses_the_model_of_the_servers_inline_lane() -> None:
    from tsr_lsp.bench.completion import lane_profile
    from tsr_lsp.config import Settings

    models = Settings().models
    assert lane_profile({}).path == models["fim"].path  # completion.profile's default
    assert lane_profile({"completion": {"nCtx": 1024}}).n_ctx == 1024
    # without completion.profile the cheapest profile tagged fim: the 0.5B coder
    assert lane_profile({"completion": {"profile": ""}}).path == models["coder"].path
    other = {"path": "/m/other.gguf", "tags": ["fim"], "cost": 5.0}
    init = {"models": {"other": other}, "completion": {"profile": "other"}}
    assert lane_profile(init).path == "/m/other.gguf"
