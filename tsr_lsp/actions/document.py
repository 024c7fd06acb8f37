"""The markdown document an explanation or an answer opens in."""

from __future__ import annotations

import re
import time

from tsr_lsp.actions.target import Target


def markdown(
    title: str,
    path: str,
    target: Target,
    language: str,
    answer: str,
    route: str,
    question: str = "",
) -> str:
    """Heading (action, file, lines), the route decision, the question, the code it is
    about, then the model's answer as written (it is markdown already)."""
    where = f"{path.rsplit('/', 1)[-1]}:{target.start + 1}-{target.end}" if path else target.label()
    fence = "````" if "```" in target.text else "```"
    parts = [
        f"# {title}: `{where}`",
        "",
        f"*{route}* · {time.strftime('%Y-%m-%d %H:%M')}",
        "",
    ]
    if question:
        parts += [f"> {question}", ""]
    parts += [
        f"{fence}{language}",
        target.text.rstrip("\n"),
        fence,
        "",
        answer.strip() or "*(no answer)*",
    ]
    return "\n".join(parts) + "\n"


def file_name(action: str, path: str, stamp: float | None = None) -> str:
    """``20260104-101502-123-explain-parser.md``: sorts by time (to the millisecond), says
    what it was about."""
    stem = re.sub(r"[^\w.-]+", "_", path.rsplit("/", 1)[-1].rsplit(".", 1)[0])[:40] or "selection"
    stamp = time.time() if stamp is None else stamp
    when = time.strftime("%Y%m%d-%H%M%S", time.localtime(stamp))
    return f"{when}-{int(stamp * 1000) % 1000:03d}-{action}-{stem}.md"
