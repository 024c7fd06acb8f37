"""Chain-of-thought depth: ask for at most N steps, then separate reasoning from answer."""

from __future__ import annotations

import re

ANSWER_MARK = "Answer:"
_ANSWER = re.compile(r"^\s*(?:\*\*)?(?:final answer|answer)(?:\*\*)?\s*:\s*", re.I | re.M)


def cot_instruction(steps: int) -> str:
    if steps <= 0:
        return ""
    return (
        f"Think it through in at most {steps} short numbered steps (Step 1:, Step 2:, ...). "
        f"Then write a line starting with '{ANSWER_MARK}' followed by the final answer only."
    )


def split_answer(text: str, steps: int) -> tuple[str, str]:
    """Return (reasoning, answer). Without CoT, or without a marker, all text is the answer."""
    if steps <= 0:
        return "", text.strip()
    matches = list(_ANSWER.finditer(text))
    if not matches:
        return "", text.strip()
    last = matches[-1]
    return text[: last.start()].strip(), text[last.end() :].strip()
