"""The redactor on the seeded corpus of real key formats, on secret-free code, and on every
path into memory and logs."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from tsr_lsp.bench.redaction import leaked, measure
from tsr_lsp.bench.secrets_corpus import lookalikes, secrets, stdlib_chunks
from tsr_lsp.config import Settings
from tsr_lsp.logs import MAX_LINE, PrivateRotatingFileHandler, RedactingFormatter
from tsr_lsp.memory.redact import redact
from tsr_lsp.memory.service import MemoryService

GITHUB = "ghp_" + "Zq8xK2mN4pR6tV1wY3bD5fH7jL9nQ0sU2vX4"
AWS = "AKIA" + "Q3X7T2LMN5PZK4W6"
PASSWORD = "Tr0ub4dor&3xyz"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" * 3
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"
SECRETS = [GITHUB, AWS, PASSWORD, PEM_BODY[:40]]
WITH_SECRETS = f"deploy with {GITHUB}, {AWS} and https://bob:{PASSWORD}@db.example.com\n{PEM}"


def test_recall_and_false_redactions_on_the_seeded_corpus() -> None:
    result = measure(quick=True)
    assert result["secrets"] >= 200 and result["secret_kinds"] >= 15
    assert result["redaction_recall"] >= 0.99, result["missed_examples"]
    assert result["false_redactions"] <= 0.01, result["false_examples"]


@pytest.mark.parametrize("seed", [11, 12])
def test_other_seeds_hold_too(seed: int) -> None:
    result = measure(quick=True, seed=seed)
    assert result["redaction_recall"] >= 0.99, result["missed_examples"]
    assert result["false_redactions"] <= 0.01, result["false_examples"]


def test_redaction_is_idempotent_and_leaves_clean_text_alone() -> None:
    for s in secrets(3, per_kind=2):
        once = redact(s.text)
        assert redact(once) == once and not leaked(s, once)
    for text in lookalikes(3, 60) + stdlib_chunks(3, 40):
        assert redact(text) == text or "password:" in text  # a sample .pypirc in the stdlib


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ('password = os.environ["DB_PASSWORD"]', True),
        ("token = tokenizer.encode(text)", True),
        ("def login(self, user=None, password=None, usenetrc=True):", True),
        ('DB_PASSWORD="${DB_PASSWORD}"', True),
        ("commit 3f2a9c1e7b3d4f5a6b7c8d9e0f1a2b3c4d5e6f70", True),
        ("key_id = '3f2a9c1e-7b3d-4f5a-8b7c-8d9e0f1a2b3c'", True),
        ("DB_PASSWORD=hunter2!x", False),
        ('"apiKey": "Xk29dkL2m9QpZr7T1vBnWq8e"', False),
        ("the db password is Winter2024!", False),
        ("mysql -u root -pS3cretPw1 shop", False),
        ("Authorization: Basic YWRtaW46c2VjcmV0LXB3", False),
        # base64 of a password in a Kubernetes Secret, generated letters in .properties
        ("kind: Secret\ndata:\n  password: bGJyfmlXSUtzSiMh\n", False),
        ("spring.datasource.password=SzcpqBkwypYRioquSWnJGM", False),
        # names, not values: type hints and variables
        ("class Login(BaseModel):\n    password: SecretStr\n", True),
        ("    password: HTTPBasicAuth\n", True),
        ("password = current_password_value", True),
    ],
)
def test_expressions_and_placeholders_stay_literals_go(text: str, kept: bool) -> None:
    assert (redact(text) == text) is kept, redact(text)


def test_every_text_field_of_every_path_into_memory_is_redacted(tmp_path: Path) -> None:
    settings = Settings()
    settings.memory.embeddings = "off"
    settings.memory.dir = str(tmp_path / "m")
    settings.memory.consolidate_delay_s = 3600
    memory = MemoryService(settings)
    one_line = f"{GITHUB} {AWS} https://u:{PASSWORD}@h"  # short fields: no newline, < 100
    short = ("file", "speaker", "thread", "language", "category", "model", "template")
    record = {name: f"{name} {one_line}" for name in short}
    record.update(text=f"text {WITH_SECRETS}", response=f"response {WITH_SECRETS}")
    record.update(project="/p", kind="turn", meta={"note": GITHUB, "deep": [{"k": AWS}]})
    result = memory.import_([record])
    assert result["imported"] == 1
    memory.remember("/p", f"remember {WITH_SECRETS}")
    (stored,) = [e for e in memory.export("/p") if e["kind"] == "turn"]
    memory.feedback(stored["id"], "edited", edited_text=f"edited {WITH_SECRETS}")
    memory.close()
    exported = json.dumps(memory.export(None))
    blob = b"".join(p.read_bytes() for p in (tmp_path / "m").rglob("*") if p.is_file())
    for secret in SECRETS:
        assert secret not in exported and secret.encode() not in blob
    assert "[REDACTED:github-token]" in exported and "[REDACTED:private-key]" in exported


def test_logs_are_redacted_cut_private_and_rotated(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        log_file = tmp_path / "log" / "daemon.log"
        log_file.parent.mkdir()
        handler = PrivateRotatingFileHandler(log_file, maxBytes=3_000, backupCount=2)
        handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
        logger = logging.getLogger("tsr_lsp.test_logs")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            logger.warning("request: %s", WITH_SECRETS)
            logger.warning("payload: %s", "x" * 1_000_000)
            try:
                raise ValueError(f"bad token {GITHUB}")
            except ValueError:
                logger.exception("failed")
        finally:
            logger.removeHandler(handler)
            handler.close()
    finally:
        os.umask(old)
    files = sorted(log_file.parent.iterdir())
    assert len(files) >= 2  # the 1 MB payload was cut, yet the lines still rotated once
    text = "".join(p.read_text() for p in files)
    for secret in SECRETS:
        assert secret not in text
    assert max(len(line) for line in text.splitlines()) <= MAX_LINE + 40
    assert "characters cut" in text and "[REDACTED:github-token]" in text
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files)
