"""What a user waits for a knowledge question: the development set's knowledge prompts
routed by this checkout and by another one (e.g. `git archive REV tsr_lsp templates | tar -x
-C DIR`), side by side, default threads, memory off (as `bench answers` runs). Not graded
(the prompts have no answers to grade); prints one JSON line per answer: who, model, CoT,
latency, tokens.

    python scripts/knowledge_latency_probe.py BASELINE_DIR > out.jsonl
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tsr_lsp.bench.answers.runner import SuiteRunner

DEV = Path(__file__).resolve().parents[1] / "tsr_lsp" / "router" / "data" / "dev" / "dev.jsonl"


async def main(baseline: Path) -> None:
    rows = [json.loads(line) for line in DEV.open(encoding="utf-8") if line.strip()]
    texts = [r["text"] for r in rows if r["category"] == "knowledge"]
    async with SuiteRunner() as new, SuiteRunner(code_root=baseline) as old:
        for text in texts:
            for who, runner in (("after", new), ("before", old)):
                reply, ms = await runner.generate(text, max_tokens=384)
                decision, usage = reply["decision"], reply.get("usage", {})
                line = {
                    "who": who,
                    "model": decision["model"],
                    "cot": decision["cot_steps"],
                    "ms": round(ms),
                    "tokens": usage.get("completionTokens"),
                    "text": text[:40],
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
