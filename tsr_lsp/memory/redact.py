"""Secret redaction: every text is passed through `redact` before it reaches the store.

Pure and conservative: a false positive costs a few characters of context, a false negative
leaks a credential to disk, so patterns lean towards redacting. Each match is replaced by a
marker naming the kind (``[REDACTED:aws-key]``) so prompts still read naturally.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from typing import Any

# (kind, pattern, group to replace: 0 = whole match). Order matters: specific before generic.
_PATTERNS: list[tuple[str, re.Pattern[str], int]] = [
    (
        "private-key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        0,
    ),
    ("aws-key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), 0),
    (
        "github-token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
        0,
    ),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), 0),
    ("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), 0),
    ("api-key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}"), 0),
    ("google-key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"), 0),
    ("stripe-key", re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"), 0),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), 0),
    # scheme://user:password@host  -> keep the user and host, drop the password
    ("url-password", re.compile(r"\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)", re.I), 2),
    ("bearer", re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9_\-.=+/]{16,})"), 2),
    # key = value / key: value / "key": "value" for secret-looking key names
    (
        "secret",
        re.compile(
            r"(?i)((?:api[_-]?key|apikey|secret|client[_-]?secret|passw(?:or)?d|pwd|token|"
            r"access[_-]?key|auth|credentials?)[\"']?\s*[:=]\s*[\"']?)"
            r"([^\s\"',;]{6,})"
        ),
        2,
    ),
]


def redact(text: str) -> str:
    """``text`` with every secret-looking span replaced by ``[REDACTED:kind]``."""
    if not text:
        return text
    for kind, pattern, group in _PATTERNS:
        marker = f"[REDACTED:{kind}]"
        if group == 0:
            text = pattern.sub(marker, text)
        else:
            text = pattern.sub(partial(_replace_group, group=group, marker=marker), text)
    return text


def _replace_group(match: re.Match[str], group: int, marker: str) -> str:
    if match.group(group).startswith("[REDACTED"):
        return match.group(0)
    start, end = match.span(group)
    whole = match.group(0)
    offset = match.start(0)
    return whole[: start - offset] + marker + whole[end - offset :]


def redact_all(values: Iterable[str]) -> list[str]:
    return [redact(v) for v in values]


def find_secrets(text: str) -> list[str]:
    """The kinds of secret found in ``text`` (for tests and `memory stats`)."""
    return [kind for kind, pattern, _ in _PATTERNS if pattern.search(text or "")]


def redact_json(value: Any) -> Any:
    """``value`` (JSON data) with every string redacted, at any depth; keys are kept."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value
