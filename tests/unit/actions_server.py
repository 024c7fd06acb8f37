"""The real server (all features, real memory on disk) with a scripted model, for fast
tests of the AI code actions (tests/unit/test_actions_server.py); the real coder model is
tested in tests/e2e/test_actions_e2e.py.

Usage: actions_server.py HOME. The model answers with the text of HOME/reply.txt (read
on every request, so a test can change it), in pieces of 8 characters, each taking
HOME/delay.txt seconds (0 when missing).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HOME = Path(sys.argv[1])
os.environ["TSR_LSP_HOME"] = str(HOME)
(HOME / "config").mkdir(parents=True, exist_ok=True)
(HOME / "config" / "config.toml").write_text(
    '[models.coder]\nbackend = "scripted"\ntags = ["code", "fim", "general"]\n'
    '[models.fim]\nbackend = "scripted"\ntags = ["code", "fim", "general"]\n'
    '[models.general]\nbackend = "scripted"\ntags = ["general", "chat"]\n'
    "[memory]\nconsolidate_delay_s = 3600\n"
)

from tsr_lsp.backends import register_backend  # noqa: E402
from tsr_lsp.backends.base import (  # noqa: E402
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    StreamTimer,
    TokenCallback,
    is_cancelled,
)
from tsr_lsp.backends.fake import FakeBackend  # noqa: E402


class ScriptedBackend(FakeBackend):
    name = "scripted"

    def generate(
        self,
        request: GenerationRequest,
        on_token: TokenCallback | None = None,
        cancel: object = None,
    ) -> GenerationResult:
        reply = (HOME / "reply.txt").read_text(encoding="utf-8")
        (HOME / "prompts.txt").open("a", encoding="utf-8").write(repr(request.messages) + "\n")
        try:
            delay = float((HOME / "delay.txt").read_text())
        except (OSError, ValueError):
            delay = 0.0
        timer = StreamTimer(on_token)
        for i in range(0, len(reply), 8):
            if is_cancelled(cancel):  # type: ignore[arg-type]
                raise GenerationCancelled(timer.result("cancelled"))
            timer.add(reply[i : i + 8])
            time.sleep(delay)
        return timer.result("stop", 10)


register_backend("scripted", "__main__:ScriptedBackend")

if __name__ == "__main__":
    from tsr_lsp.server.app import serve_stdio

    sys.exit(serve_stdio())
