"""The answer-quality suite (docs/ANSWERS.md): gradable tasks, graders, and a runner that
sends each task through the real language server.

The interface other parts build on (`tsr-lsp bench answers`, `tsr-lsp router calibrate`):

    tasks = load_tasks("calibration", categories=None, per_category=20)
    score = grade(task, answer_text)              # 0..1
    async with SuiteRunner() as runner:           # a real server over stdio, isolated home
        result = await runner.run(task, profile="coder")   # or profile=None: routed
        result.score, result.latency_ms, result.completion_tokens, result.model
"""

from tsr_lsp.bench.answers.runner import SuiteRunner, TaskResult, run_tasks
from tsr_lsp.bench.answers.tasks import CATEGORIES, SPLITS, Task, grade, load_tasks

__all__ = [
    "CATEGORIES",
    "SPLITS",
    "SuiteRunner",
    "Task",
    "TaskResult",
    "grade",
    "load_tasks",
    "run_tasks",
]
