"""`tsr-lsp bench redaction`: recall on secrets, false redactions on secret-free text.

The corpus is generated with a seed (`bench/secrets_corpus.py`: synthetic values in real
formats; never a real secret). A secret counts as caught when no 10-character piece of its
value (all of it, if shorter) is left in the redacted text; a secret-free snippet counts as a
false redaction when anything in it is redacted. `measure(quick)` returns the keys
`bench reliability` aggregates (``redaction_recall``, ``false_redactions``).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from tsr_lsp.bench.secrets_corpus import Secret, lookalikes, secrets, stdlib_chunks
from tsr_lsp.memory.redact import MARK, redact

WINDOW = 10


def leaked(secret: Secret, redacted: str) -> bool:
    value = secret.value
    w = min(WINDOW, len(value))
    return any(value[i : i + w] in redacted for i in range(len(value) - w + 1))


def measure(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """Recall over every secret kind, false redactions over look-alikes and real code."""
    items = secrets(seed, per_kind=4 if quick else 6)
    clean = lookalikes(seed, 120 if quick else 250) + stdlib_chunks(seed, 120 if quick else 300)
    started = time.perf_counter()
    missed: Counter[str] = Counter()
    examples: list[str] = []
    for s in items:
        if leaked(s, redact(s.text)):
            missed[s.kind] += 1
            if len(examples) < 10:
                examples.append(f"{s.kind}: {s.text[:160]!r}")
    flagged = []
    for text in clean:
        out = redact(text)
        if MARK in out:
            flagged.append(out)
    elapsed = time.perf_counter() - started
    chars = sum(len(s.text) for s in items) + sum(len(t) for t in clean)
    return {
        "secrets": len(items),
        "secret_kinds": len({s.kind for s in items}),
        "secret_free_snippets": len(clean),
        "redaction_recall": round(1 - sum(missed.values()) / len(items), 4),
        "false_redactions": round(len(flagged) / len(clean), 4),
        "missed": sum(missed.values()),
        "missed_by_kind": dict(missed),
        "missed_examples": examples,
        "false_examples": [_around_marker(t) for t in flagged[:10]],
        "redact_ms_per_100kb": round(elapsed * 1000 / chars * 100_000, 2),
    }


def _around_marker(text: str) -> str:
    i = text.find(MARK)
    return text[max(0, i - 80) : i + 60]


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = measure(quick=bool(getattr(args, "quick", False)))
    if not args.json:
        for line in out.pop("missed_examples") + out.pop("false_examples"):
            print(f"  {line!r}")
    return out
