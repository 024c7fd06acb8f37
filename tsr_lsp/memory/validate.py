"""Field-by-field validation of episodes (pure): nothing malformed reaches the store.

Two entry points with one set of rules:

- `check_record` (imports, requests): a record with a wrong type, an out-of-range number or
  an unknown kind is rejected with a message that names the field. Unknown keys are ignored
  (an export of a newer tsr-lsp still imports).
- `heal_record` (reading stored payloads): never raises; a bad field falls back to its
  default (a list of strings where a string belongs is joined), so poison stored by an
  older tsr-lsp can no longer break consolidation or forget, and it is rewritten healed by
  the next compaction or `tsr-lsp memory check --repair`.

Numbers are bounded because they become Tantivy integers: Python ints beyond 2^53 turn into
floats on the way in (and panic a u64 column), beyond 2^63 they raise OverflowError.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from typing import Any

from tsr_lsp.memory.api import OUTCOMES
from tsr_lsp.memory.episodic import COMPLETION_KIND, KINDS, STORED_KINDS, SUMMARY_CHARS, Episode
from tsr_lsp.memory.redact import redact, redact_json

MAX_TS = 1e11  # seconds: year ~5100; ts * 1000 stays far below 2^53
MAX_SEQ = 2**53 - 1
MAX_META_BYTES = 64_000
MAX_META_DEPTH = 8
SHORT = 4096  # project, file, thread ...: paths and names, not documents
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_DEFAULTS = {f.name: f for f in fields(Episode)}


def _default(name: str) -> Any:
    f = _DEFAULTS[name]
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return ""  # project, text: required


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__.replace("dict", "object")


def _string(limit: int, short: bool = True) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_type_name(value)}")
        if len(value) > limit:
            raise ValueError(f"longer than {limit} characters")
        if short and CONTROL.search(value):
            raise ValueError("contains control characters")
        return value

    return check


def _number(lo: float, hi: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {_type_name(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        if not lo <= value <= hi:
            raise ValueError(f"out of range ({lo:g}..{hi:g})")
        return float(value)

    return check


def _integer(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_type_name(value)}")
        if not lo <= value <= hi:
            raise ValueError(f"out of range ({lo}..{hi})")
        return value

    return check


def _choice(options: Sequence[str], allow_empty: bool = False) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_type_name(value)}")
        if value not in options and not (allow_empty and value == ""):
            raise ValueError(f"unknown value {value[:40]!r} (one of {', '.join(options)})")
        return value

    return check


def _episode_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_type_name(value)}")
    if not ID_RE.fullmatch(value):
        raise ValueError("must be 1-128 letters, digits or _.:- (starting with a letter or digit)")
    if len(value) > 16 and redact(value) != value:  # generated ids are 16 hex digits
        raise ValueError("looks like a secret (ids are stored unredacted: pick another)")
    return value


def _json_value(value: Any, depth: int) -> None:
    if depth > MAX_META_DEPTH:
        raise ValueError(f"nested deeper than {MAX_META_DEPTH}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError("keys must be strings")
            _json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _json_value(item, depth + 1)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("holds a number that is not finite")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SEQ:
        raise ValueError(f"holds an integer beyond +-{MAX_SEQ}")
    elif value is not None and not isinstance(value, str | int | bool):
        raise ValueError(f"holds a {_type_name(value)}")


# meta keys that code reads, with the type it expects
_META_TYPES: dict[str, type] = {"date": str, "kind": str, "edited": str, "pattern": dict}


def _meta(value: Any) -> dict[str, Any]:
    import json

    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {_type_name(value)}")
    _json_value(value, 0)
    for key, kind in _META_TYPES.items():
        if key in value and not isinstance(value[key], kind):
            raise ValueError(f"'{key}' must be a {kind.__name__.replace('dict', 'object')}")
    if len(json.dumps(value)) > MAX_META_BYTES:
        raise ValueError(f"larger than {MAX_META_BYTES} bytes as JSON")
    return value


CHECKS: dict[str, Callable[[Any], Any]] = {
    "project": _string(SHORT),
    "text": _string(1_000_000, short=False),
    "kind": _choice(STORED_KINDS),
    "id": _episode_id,
    "ts": _number(0, MAX_TS),
    "response": _string(1_000_000, short=False),
    "speaker": _string(200),
    "thread": _string(SHORT),
    "seq": _integer(-MAX_SEQ, MAX_SEQ),
    "language": _string(100),
    "file": _string(SHORT),
    "category": _string(100),
    "model": _string(200),
    "temperature": _number(-1, 10),
    "cot_steps": _integer(-1, 1000),
    "template": _string(SHORT),
    "outcome": _choice(OUTCOMES, allow_empty=True),
    "outcome_ts": _number(0, MAX_TS),
    "finished_ts": _number(0, MAX_TS),
    "meta": _meta,
}
assert set(CHECKS) == set(_DEFAULTS), "every Episode field needs a check"


# what an import takes: everything `memory export` writes (patterns are not exported:
# consolidation derives them)
IMPORT_KINDS = (*KINDS, COMPLETION_KIND)


def check_record(raw: Any, *, kinds: Sequence[str] = IMPORT_KINDS) -> Episode:
    """An Episode from ``raw``, or ValueError naming the first bad field. ``kinds``: the
    kinds accepted (imports: not patterns, which consolidation derives)."""
    if not isinstance(raw, dict):
        raise ValueError(f"expected an episode object, got {_type_name(raw)}")
    for required in ("project", "text"):
        if required not in raw:
            raise ValueError(f"missing '{required}'")
    values: dict[str, Any] = {}
    for name, check in CHECKS.items():
        if name not in raw:
            continue
        try:
            values[name] = check(raw[name])
        except ValueError as exc:
            raise ValueError(f"field '{name}': {exc}") from None
    if not values["text"].strip():
        raise ValueError("field 'text': empty")
    if values.get("kind", "interaction") not in kinds:
        raise ValueError(f"field 'kind': {values['kind']!r} cannot be imported")
    return Episode(**values)


def check_episode(ep: Episode) -> None:
    """ValueError naming the first bad field of an Episode built in code (the store's gate)."""
    for name, check in CHECKS.items():
        try:
            check(getattr(ep, name))
        except ValueError as exc:
            raise ValueError(f"episode field '{name}': {exc}") from None


def _heal_string(value: Any) -> str:
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        return " ".join(str(v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def heal_record(raw: Any) -> tuple[Episode, list[str]]:
    """A valid Episode from a stored payload whatever it holds, and the fields that had to
    be repaired (empty when it was fine)."""
    if not isinstance(raw, dict):
        raw = {"text": _heal_string(raw)}
    values: dict[str, Any] = {}
    repaired: list[str] = []
    for name, check in CHECKS.items():
        if name not in raw:
            if name in ("project", "text"):
                repaired.append(name)
                values[name] = ""
            continue
        try:
            values[name] = check(raw[name])
        except ValueError:
            repaired.append(name)
            value = _default(name)
            if name in ("text", "response"):
                value = _heal_string(raw[name])
            elif isinstance(value, str) and name not in ("kind", "outcome", "id"):
                value = CONTROL.sub(" ", _heal_string(raw[name]))[:SHORT]
            values[name] = value
    return Episode(**values), repaired


@dataclass
class ImportCheck:
    """What an import would store, and what it rejects (with the record's line number)."""

    valid: list[Episode] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def summary(self, limit: int = 5) -> str:
        shown = "; ".join(f"line {n}: {msg}" for n, msg in self.rejected[:limit])
        more = len(self.rejected) - limit
        return shown + (f"; and {more} more" if more > 0 else "")


def check_import(records: Sequence[Any], lines: Sequence[int] | None = None) -> ImportCheck:
    """Validate every record; ``lines`` gives each record's line number (default: its
    position, counting from 1). Duplicate ids within the import are rejected too."""
    out = ImportCheck()
    seen: dict[str, int] = {}
    for i, raw in enumerate(records):
        line = lines[i] if lines is not None and i < len(lines) else i + 1
        try:
            ep = check_record(raw)
        except ValueError as exc:
            out.rejected.append((line, str(exc)))
            continue
        if ep.id in seen:
            out.rejected.append((line, f"id {ep.id!r} repeats line {seen[ep.id]}"))
            continue
        seen[ep.id] = line
        out.valid.append(ep)
    return out


MAX_TEXT = 20_000
REDACT_MARGIN = 512  # a secret cut by the size bound is still recognised
# short free-text fields: redacted like the text (a secret may hide anywhere)
_REDACTED_FIELDS = ("project", "speaker", "thread", "language", "file", "category", "model")


@lru_cache(maxsize=4096)
def _redact_short(value: str) -> str:
    """Projects, models, categories repeat across episodes: redact each once."""
    return redact(value)


def sanitized(ep: Episode) -> Episode:
    """The episode checked field by field, secrets redacted in every text field (meta
    included) and sizes bounded: the only form the store accepts (ValueError otherwise)."""
    check_episode(ep)
    ep.text = redact(ep.text[: MAX_TEXT + REDACT_MARGIN])[:MAX_TEXT]
    ep.response = redact(ep.response[: SUMMARY_CHARS * 4])[:SUMMARY_CHARS]
    for name in _REDACTED_FIELDS:
        value = getattr(ep, name)
        if value:
            setattr(ep, name, _redact_short(value) if len(value) < 512 else redact(value))
    ep.template = _redact_short(ep.template) if ep.template else ""
    ep.meta = redact_json(ep.meta)
    return ep


class DamagedPayload(ValueError):
    """A stored payload that fails its checksum or is not JSON: the index is damaged."""


def seal(payload: bytes) -> bytes:
    """A payload as the index stores it: the JSON, a newline and its crc32 (JSON text has
    no raw newline), so a bit flip inside the index's document store cannot go unnoticed."""
    return b"%s\n%08x" % (payload, zlib.crc32(payload))


def _unseal(raw: bytes | str) -> tuple[Any, bool]:
    """(JSON of a stored payload, whether it carried a valid crc32); DamagedPayload when it
    fails its checksum or is not JSON. Payloads from before the crc are taken as they are."""
    import json

    if isinstance(raw, str):
        raw = raw.encode()
    sealed = len(raw) > 9 and raw[-9:-8] == b"\n"
    if sealed:
        body, crc = raw[:-9], raw[-8:]
        if crc != b"%08x" % zlib.crc32(body):
            raise DamagedPayload("damaged episode payload: checksum mismatch")
        raw = body
    try:
        return json.loads(raw), sealed
    except (ValueError, UnicodeDecodeError) as exc:
        raise DamagedPayload(f"damaged episode payload: {exc}") from None


def parse_payload(raw: bytes | str) -> Any:
    return _unseal(raw)[0]


def read_payload(raw: bytes | str) -> Episode:
    """A stored episode. A sealed payload passed `sanitized` when it was written and is
    intact, so it is taken as it is; an older one is healed if malformed. A damaged payload
    is DamagedPayload, which the store treats as corruption."""
    data, sealed = _unseal(raw)
    if sealed and isinstance(data, dict):
        try:
            return Episode.from_json(data)
        except (TypeError, ValueError):
            pass
    return heal_record(data)[0]
