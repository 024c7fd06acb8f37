"""Chain-of-thought depth: ask for at most N steps, then separate reasoning from answer."""

from __future__ import annotations

import re

ANSWER_MARK = "Answer:"
# "Answer: 4", "**Answer**: 4" and "**Answer:** 4" (the bold closes after the colon)
_ANSWER = re.compile(r"^\s*(?:\*\*)?(?:final answer|answer)(?:\*\*)?\s*:(?:\*\*)?\s*", re.I | re.M)


CODE_ONLY = (
    "Reply with the complete code in one fenced code block and at most two sentences about it."
)
# "write a function ...", "implement a class ...", "create a script ...": a request for code
_WRITES_CODE = re.compile(
    r"^\W*(please\s+)?(can you\s+|could you\s+)?(write|implement|create|code|generate|make)\b"
    r"[^.?!\n]{0,80}?\b(function|method|class|script|program|code|query|module|decorator|"
    r"regex|snippet)\b",
    re.I,
)


def writes_code(text: str) -> bool:
    """Whether a request opens by asking for code to be written (not explained)."""
    return _WRITES_CODE.search(text) is not None


def cot_instruction(steps: int, category: str = "") -> str:
    """The system-prompt line that bounds reasoning to ``steps`` and marks the answer.

    The steps are a form to fill in, one sentence each: asked for "at most 1 short step",
    the 1.5B wrote three long ones (109 tokens a reasoning task, 23 with the form, the same
    score: docs/ANSWERS.md "Steps as a form"). For code the final answer must be the code
    itself: a generic "final answer only" made the 0.5B coder answer with prose and code
    fragments spread over the steps (measured on four coding prompts: 2/4 gave a fenced block
    after the marker, 4/4 with this wording). Code and maths keep free-form steps: with
    one-sentence ones the code lost most of its tasks and the arithmetic some.
    """
    if steps <= 0:
        return ""
    plan = f"at most {steps} short numbered steps (Step 1:, Step 2:, ...)"
    if category == "code":
        return (
            f"Before writing code, plan in {plan}. Then write a line '{ANSWER_MARK}' followed "
            "by the complete code in one fenced code block."
        )
    if category == "math":
        return (
            f"Think it through in {plan}. "
            f"Then write a line starting with '{ANSWER_MARK}' followed by the final answer only."
        )
    lines = ", ".join(f"'Step {i}: <one sentence>'" for i in range(1, steps + 1))
    return f"Reply in {steps + 1} lines: {lines}, then '{ANSWER_MARK} <the final answer only>'."


def split_answer(text: str, steps: int) -> tuple[str, str]:
    """Return (reasoning, answer). Without CoT, or without a marker, all text is the answer."""
    if steps <= 0:
        return "", text.strip()
    matches = list(_ANSWER.finditer(text))
    if not matches:
        return "", text.strip()
    last = matches[-1]
    return text[: last.start()].strip(), text[last.end() :].strip()
