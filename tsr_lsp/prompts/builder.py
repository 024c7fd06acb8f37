"""Decision + request (+ memory) -> chat messages. Pure apart from loading the template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsr_lsp.prompts.cot import CODE_ONLY, cot_instruction, writes_code
from tsr_lsp.prompts.library import load_template
from tsr_lsp.prompts.program import PROGRAM_INSTRUCTION
from tsr_lsp.router.decision import Decision, RouteRequest


def build_messages(
    decision: Decision,
    request: RouteRequest,
    project_root: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    template = load_template(decision.template, project_root)
    variables: dict[str, Any] = {
        "text": request.text,
        "instruction": request.text,
        "language": request.language,
        "code": request.context,
        "kind": request.kind,
        "category": decision.category,
        "cot_steps": decision.cot_steps,
        "memory": {"episodes": [], "patterns": []},
    }
    variables.update(extra or {})
    system = template.render_system(variables)
    cot = answer_instruction(decision, request.text)
    if cot:
        system = f"{system}\n{cot}".strip()
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": template.render(variables).strip()})
    return messages


def answer_instruction(decision: Decision, text: str) -> str:
    """The system-prompt line that says how to answer: a program (maths), CoT steps, or,
    for a request to write code answered without steps through the generic ``ask``
    template, ``CODE_ONLY``. Without it the coder explained its code line by line after it:
    184 tokens a task against 64, the same 8 of 16 calibration tasks solved
    (docs/ANSWERS.md). Gated on the request's wording because the 0.5B applied it to
    questions about code too ("What does this regex do?" got the regex back)."""
    if decision.method == "program":
        return PROGRAM_INSTRUCTION
    if (
        decision.cot_steps == 0
        and decision.category == "code"
        and decision.template == "ask"
        and writes_code(text)
    ):
        return CODE_ONLY
    return cot_instruction(decision.cot_steps, decision.category)
