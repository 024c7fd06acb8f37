"""Decision + request (+ memory) -> chat messages. Pure apart from loading the template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsr_lsp.prompts.cot import cot_instruction
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
    if decision.method == "program":
        cot = PROGRAM_INSTRUCTION
    else:
        cot = cot_instruction(decision.cot_steps, decision.category)
    if cot:
        system = f"{system}\n{cot}".strip()
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": template.render(variables).strip()})
    return messages
