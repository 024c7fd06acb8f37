"""Secret redaction: every text is passed through `redact` before it reaches memory or a log.

Pure. Each secret is replaced by a marker naming its kind (``[REDACTED:aws-key]``) so prompts
still read naturally; `redact` is idempotent (markers are never matched again). Three layers,
measured together by `tsr-lsp bench redaction` (docs/MEMORY.md, Privacy):

1. **Formats**: credentials with a recognisable shape (cloud keys, tokens of code hosts,
   chat, payment, AI and package services, private key blocks, JWTs, signed URLs).
2. **Places**: passwords in URLs and connection strings, auth headers, ``curl -u``.
3. **Names**: a literal assigned to a secret-looking name (``DB_PASSWORD=...``, ``"apiKey":
   "..."``, ``password: ...``, ``client_secret = '...'``), in code, config, .env lines or
   prose, and long high-entropy tokens on a line that talks about keys, tokens or secrets.
   Expressions (``password = os.environ[...]``, ``token = tokenizer.encode(x)``) and
   placeholders (``${DB_PASSWORD}``, ``<your-key>``, ``None``) are left alone, as are hashes,
   UUIDs, git SHAs, base64 data, public keys and certificates outside such a context.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from itertools import pairwise
from typing import Any

MARK = "[REDACTED:"


def _marker(kind: str) -> str:
    return f"{MARK}{kind}]"


# ---------------------------------------------------------------------- 1. formats
_FORMATS: list[tuple[str, str]] = [
    ("aws-key", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{40,255})"),
    (
        "gitlab-token",
        r"\b(?:glpat|gldt|glrt|glptt|glft|glsoat|glcbt|gloas|glimt|glagent)-[A-Za-z0-9_\-]{20,}"
        r"|\bGR1348941[A-Za-z0-9_\-]{20,}",
    ),
    ("slack-token", r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}"),
    (
        "slack-webhook",
        r"(?<=hooks\.slack\.com/)(?:services|workflows|triggers)/[A-Za-z0-9/_\-]{20,}",
    ),
    ("stripe-key", r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}|\bwhsec_[0-9A-Za-z+/=]{24,}"),
    ("api-key", r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_\-]{20,}"),
    ("google-key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("google-oauth", r"\bGOCSPX-[A-Za-z0-9_\-]{20,}|\bya29\.[0-9A-Za-z_\-]{20,}"),
    ("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi-token", r"\bpypi-AgE[A-Za-z0-9_\-]{50,}"),
    ("twilio-key", r"\b(?:SK|AC)[0-9a-f]{32}\b"),
    ("sendgrid-key", r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"),
    ("mailgun-key", r"\bkey-[0-9a-f]{32}\b"),
    ("discord-token", r"\b[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40}"),
    ("telegram-token", r"\b\d{8,10}:AA[A-Za-z0-9_\-]{32,}"),
    ("shopify-token", r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}"),
    ("digitalocean-token", r"\bdo[por]_v1_[a-f0-9]{64}"),
    ("databricks-token", r"\bdapi[a-f0-9]{32}(?:-\d)?"),
    ("sentry-token", r"\bsntr[ysu]_[A-Za-z0-9_\-=+/]{40,}"),
    ("vault-token", r"\bhv[sbr]\.[A-Za-z0-9_\-]{24,}"),
    ("doppler-token", r"\bdp\.(?:st|ct|sa|scim|audit|pt)\.[A-Za-z0-9_.\-]{20,}"),
    ("linear-key", r"\blin_(?:api|oauth)_[A-Za-z0-9]{40}"),
    ("postman-key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("atlassian-token", r"\bAT[AC]TT3[A-Za-z0-9_\-=]{50,}"),
    ("docker-token", r"\bdckr_(?:pat|oat)_[A-Za-z0-9_\-]{20,}"),
    ("supabase-token", r"\bsb[pa]_[a-f0-9]{40}"),
    ("notion-token", r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,})"),
    ("age-key", r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}"),
    ("grafana-token", r"\bglsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|\bglc_[A-Za-z0-9+/=]{32,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
]
_FORMAT_RE = re.compile("|".join(f"(?P<f{i}>{p})" for i, (_k, p) in enumerate(_FORMATS)))
_FORMAT_KINDS = {f"f{i}": kind for i, (kind, _p) in enumerate(_FORMATS)}
# every format is a run of these characters of at least 16: only such runs are tried (the
# alternation of all formats at every position of a text costs 20x more)
_RUN = re.compile(r"[A-Za-z0-9_\-.+/=~:]{16,}")

# a private key block, also inside a JSON string (literal "\n") or cut short when pasted
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?"
    r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,\-]*)"
    r"|-----BEGIN OpenVPN Static key V1-----[\s\S]*?(?:-----END OpenVPN Static key V1-----|\Z)"
    r"|(?<=Private-Lines: )\d+\s*\n(?:[A-Za-z0-9+/=]+\n?)+"
)


# ---------------------------------------------------------------------- 2. places
_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.\-]*://[^\s:/@?#\"'<>]*:)([^\s@/\"'<>]+)(@)", re.I)
_SIGNED_URL = re.compile(
    r"([?&](?:sig|signature|X-Amz-Signature|X-Goog-Signature)=)([^&\s\"'#]{16,})"
)
_CONN_KEY = re.compile(
    r"(?i)(?<![\w.])((?:password|pwd|accountkey|sharedaccesskey|sharedsecretvalue)=)"
    r"([^;\"'\s]+)(?=;|$|[\"'])",
    re.M,
)
_AUTH_HEADER = re.compile(r"(?i)\b(bearer|token)(\s+)([A-Za-z0-9_\-.=+/~]{16,})")
_BASIC = re.compile(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])")
_CURL_USER = re.compile(r"(?:^|\s)(?:-u|--user)\s+['\"]?[^\s:'\"]+:([^\s'\"]+)")
# `sshpass -p X`, `mysql -pX`, `redis-cli -a X`, `docker login -p X`
_CLI_PASSWORD = re.compile(
    r"\b(?:(?:sshpass|mysql|mysqldump|mysqladmin|mariadb|docker login|podman login)\b"
    r"[^\n|;&]*?\s-p|redis-cli\b[^\n|;&]*?\s-a)\s*('[^'\n]+'|\"[^\"\n]+\"|[^\s'\"-][^\s]*)"
)
_XML_SECRET = re.compile(r"<([\w:.\-]+)>([^<>\n]{4,200})</\1>")
_SQL_PASSWORD = re.compile(r"(?i)\b(?:identified by|password)\s+('[^'\n]{3,}'|\"[^\"\n]{3,}\")")
_COOKIE = re.compile(r"(?im)^((?:set-)?cookie:\s*)(.+)$")
_COOKIE_PAIR = re.compile(r"([\w.\-]+)=([^;\s]+)")


def _xml(m: re.Match[str]) -> str:
    value = m.group(2).strip()
    strength = _name_strength(m.group(1).rsplit(":", 1)[-1])
    if strength and _secret_literal(value, strength, True, False, False):
        return f"<{m.group(1)}>{_marker('secret')}</{m.group(1)}>"
    return m.group(0)


def _cookie(m: re.Match[str]) -> str:
    def pair(p: re.Match[str]) -> str:
        name, value = p.group(1), p.group(2)
        if value.startswith(MARK) or name.lower() in _COOKIE_ATTRIBUTES:
            return p.group(0)
        if len(value) >= 16 or _name_strength(name) or "sess" in name.lower():
            return f"{name}={_marker('cookie')}"
        return p.group(0)

    return m.group(1) + _COOKIE_PAIR.sub(pair, m.group(2))


_COOKIE_ATTRIBUTES = {"path", "domain", "expires", "max-age", "samesite", "priority"}


def _basic(m: re.Match[str]) -> str:
    try:
        decoded = base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError):
        return m.group(0)
    return m.group(1) + _marker("basic-auth") if b":" in decoded else m.group(0)


# ---------------------------------------------------------------------- 3. names
_STRONG_PARTS = {
    "password", "passwd", "pass", "pwd", "passphrase", "secret", "secrets", "credential",
    "credentials", "apikey", "privatekey", "accesskey", "secretkey", "clientsecret",
}  # fmt: skip
_STRONG_PAIRS = {
    ("api", "key"), ("access", "key"), ("private", "key"), ("client", "secret"),
    ("auth", "token"), ("access", "token"), ("refresh", "token"), ("app", "key"),
    ("app", "secret"), ("encryption", "key"), ("signing", "key"), ("master", "key"),
    ("account", "key"), ("secret", "key"), ("api", "token"), ("bot", "token"),
    ("service", "key"), ("session", "secret"), ("id", "token"), ("private", "token"),
    ("personal", "token"), ("deploy", "token"), ("webhook", "secret"), ("auth", "key"),
    ("license", "key"), ("sas", "token"), ("connection", "string"), ("conn", "str"),
}  # fmt: skip
_WEAK_PARTS = {
    "token", "auth", "key", "sig", "signature", "salt", "dsn", "bearer", "cookie", "pat",
}  # fmt: skip
# a name with one of these is about a secret, not one (SECRET_KEY_PATH, token_url, key_id)
_NOT_SECRET_PARTS = {
    "id", "ids", "name", "names", "type", "file", "path", "dir", "url", "uri", "endpoint",
    "length", "len", "size", "count", "min", "max", "ttl", "timeout", "expiry", "expires",
    "format", "hash", "digest", "checksum", "version", "field", "header", "prefix", "env",
    "var", "column", "index", "hint", "label", "policy", "mode", "kind", "regex",
    "pattern", "required", "enabled", "cls", "class", "fn", "func", "callback", "error",
    "prompt", "question", "confirm", "reset", "changed", "manager", "store", "provider",
    "attr", "attribute", "ref", "param", "arg", "help", "doc", "description", "message",
    "arn",
}  # fmt: skip
_SPLIT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:|<[^>]*>?|\$\{[^}]*\}?|\$\([^)]*\)?|\$[A-Za-z_]\w*|\{\{.*|%\(?\w*\)?[sd]|%s"
    r"|x{3,}|\*+|\.{2,}|…|[-_#]+|your[\W_].*|.*_here|<.*|\[.*\]|null|none|nil|true|false|"
    r"undefined|changeme|change[_-]?me|password|passwd|secret|example|test|todo|tbd|redacted|"
    r"hidden|required|optional|str|string|bytes|int|any|env|dummy|sample|placeholder|\?+)$"
)
_EXPRESSION = re.compile(r"^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*(?:\(|\[|$)")
_NAME = r"-{0,2}[A-Za-z_$@][\w.\-$]*"
_KEYWORD = re.compile(
    r"(?i:pass|pwd|secret|token|key|auth|credential|sig|salt|dsn|bearer|cookie|conn|pat\b|_pat)"
)
_NAME_AT = re.compile(r"[\"']?-{0,2}[A-Za-z_$@][\w.\-$]*[\"']?")
_NAME_START = re.compile(r"[\"']?[\w.\-$@]*\Z")
_ASSIGN = re.compile(
    r"(?P<key>[\"']" + _NAME + r"[\"']|" + _NAME + r")"
    r"(?P<sep>\s*(?::=|=>|==?|:)\s*|\s+(?:is|was|to)\s+|\s+)"
    r"(?P<pfx>[bru](?=[\"'])|)(?P<val>\"[^\"\n]*\"|'[^'\n]*'|`[^`\n]*`|[^\s\"'`]+)"
)
_CODE_END = re.compile(r"[,;)}\]&#]")
# a password-like word: letters, digits and a symbol, as people type them after "password"
_CLASSES = (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())


def _mixed(value: str) -> bool:
    """A password as people type them: 8-64 characters of at least three classes (lower,
    upper, digit, symbol) and no space."""
    if not 8 <= len(value) <= 64 or " " in value:
        return False
    return sum(any(test(c) for c in value) for test in _CLASSES) >= 3


_ENV_LINE = re.compile(r"(?m)^[ \t]*(?:export\s+|ENV\s+|set\s+)?(?=[A-Z][A-Z0-9_]*=)")
_CONTEXT_WORD = re.compile(
    r"(?i)(pass(?:word|wd|phrase)?|pwd|secret|token|api[_\- ]?key|apikey|credential|auth|"
    r"bearer|private[_\- ]key|access[_\- ]key|signing|\bkey\b|_key\b|key_)"
)
_TOKEN = re.compile(r"(?<![\w+/=\-.~%])[A-Za-z0-9+/_\-.=~]{20,}(?![\w+/=\-.~%])")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_TYPE_NAME = re.compile(r"^[A-Za-z_][A-Za-z_]*$")  # `password: SecretStr` (no digit, no symbol)
# words as people write names: "str", "SecretStr", "HTTPBasicAuth", "secret_value"; random
# letters (a base64 password "bGJyfmlXSUtzSiMh") switch case too often to be read that way
_WORDS = re.compile(r"(?:[A-Z]{2,}(?![a-z])|[A-Z]?[a-z]{2,})+")
_IDENTIFIER = re.compile(r"^(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$")
_HEX_CONTEXT = re.compile(r"(?i)pass|secret|token|api|auth|key|credential")
_PUBLIC_KEY_BEFORE = re.compile(r"(?:ssh-\w+|ecdsa-\S+)\s+$")
_LAST_NAME = re.compile(r"([A-Za-z_][\w\-.]*)[\"']?\s*(?::=|=>|=|:)?\s*[\"'`]?[^\"'`\s]*$")


def _type_name(value: str) -> bool:
    """A bare name (``SecretStr``, ``str``, ``secret_value``), not letters typed at random."""
    return bool(_TYPE_NAME.match(value)) and all(
        _WORDS.fullmatch(part) for part in value.split("_") if part
    )


def _random_letters(value: str) -> bool:
    """12+ letters whose case does not read as words: a generated password or base64."""
    return len(value) >= 12 and value.isalpha() and not _type_name(value)


def _parts(key: str) -> list[str]:
    return [p.lower() for p in _SPLIT.findall(key)]


@lru_cache(maxsize=8192)
def _name_strength(key: str) -> int:
    """2: surely names a secret (password, api_key), 1: may (token, key), 0: does not."""
    parts = _parts(key)
    if not parts or _NOT_SECRET_PARTS.intersection(parts):
        return 0
    joined = {a + b for a, b in pairwise(parts)}
    if _STRONG_PARTS.intersection(parts) or _STRONG_PARTS.intersection(joined):
        return 2
    if _STRONG_PAIRS.intersection(pairwise(parts)):
        return 2
    return 1 if _WEAK_PARTS.intersection(parts) else 0


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


def looks_random(value: str) -> bool:
    """A machine-made token: long, mixed letters and digits, high entropy, not a name
    (``module.CONSTANT``, ``KEY_WOW64_64KEY``)."""
    if len(value) < 16 or not any(c.isdigit() for c in value):
        return False
    if not any(c.isalpha() for c in value) or _IDENTIFIER.match(value):
        return False
    if _HEX.match(value):
        return len(value) >= 24 and entropy(value) >= 3.0
    return entropy(value) >= 3.6


def _short_token(value: str) -> bool:
    """``token=abcdef123456``: 10+ letters and digits mixed, not a word with a number."""
    if not 10 <= len(value) < 16 or not value.isalnum() or value.isdigit():
        return False
    if not any(c.isdigit() for c in value) or re.fullmatch(r"[A-Za-z]+\d{1,4}", value):
        return False
    return entropy(value) >= 3.0


def _secret_literal(
    value: str, strength: int, quoted: bool, env: bool, prose: bool, env_line: bool = False
) -> bool:
    if value.startswith(MARK) or _PLACEHOLDER.match(value) or ("{" in value and "}" in value):
        return False
    if not (quoted or env) and _EXPRESSION.match(value) and any(c in value for c in ".(["):
        return False  # os.environ["X"], get_password(), self.token
    if strength == 2:
        if prose:  # "the password is X": X must look like one
            return _mixed(value) or looks_random(value)
        if " " in value.strip():  # UI text, not a password ("Mot de passe", "Enter it:")
            return _mixed(value.replace(" ", "")) and value.count(" ") <= 3
        if quoted:
            return len(value) >= 4
        if env:  # unquoted on a .env or YAML line; a bare CamelCase word is a type hint
            return len(value) >= 4 and not (_type_name(value) and not env_line)
        # unquoted in code or YAML: not an expression (unless machine-made), not a number
        if value.replace(".", "").isdigit() or len(value) < 4:
            return False
        return not _EXPRESSION.match(value) or looks_random(value) or _random_letters(value)
    value = value.strip("\"'`")
    return looks_random(value) or _short_token(value)


def _assignment(text: str, env_keys: set[int]) -> Callable[[re.Match[str]], str]:
    def replace(m: re.Match[str]) -> str:
        key, sep, val = m.group("key"), m.group("sep"), m.group("val")
        strength = _name_strength(key.strip("\"'"))
        if not strength:
            return m.group(0)
        quoted = val[:1] in "\"'`" and len(val) >= 2 and val[-1] == val[0]
        word = sep.strip()
        config = _config_line(text, m)
        if sep == "==" and (config or key.startswith("-")):  # `key==v`: a value "=v"
            word = "="
        # literal by its place: .env lines, and `name: value` alone on a line (YAML)
        env_line = (word == "=" and m.start() in env_keys) or key.startswith("-")
        env = env_line or (word == ":" and config)
        prose = word in ("is", "was", "to", "")
        rest = ""
        if not quoted and not env and not prose and not config:
            cut = _CODE_END.search(val)  # code: the literal ends at punctuation
            if cut:
                val, rest = val[: cut.start()], val[cut.start() :]
        inner = val[1:-1] if quoted else val
        if sep == "==" and word == "=":
            inner = "=" + inner
        if word == "==" or (word == "" and not (quoted or strength == 2)):
            return m.group(0)  # a comparison; or a bare `token value` that is not sure
        if word == "" and not quoted and not (_mixed(inner) or looks_random(inner)):
            return m.group(0)  # "password reset", "credentials file"
        if not _secret_literal(inner, strength, quoted, env, prose, env_line):
            return m.group(0)
        kind = "password" if "pass" in key.lower() or "pwd" in key.lower() else "secret"
        marker = _marker(kind)
        new_val = f"{val[0]}{marker}{val[-1]}" if quoted else marker
        return m.group(0)[: m.start("val") - m.start()] + new_val + rest

    return replace


def _config_line(text: str, m: re.Match[str]) -> bool:
    """``name = value`` alone on its line (INI, TOML, YAML, properties): the value is
    everything up to the end of the line."""
    line_start = text.rfind("\n", 0, m.start()) + 1
    line_end = text.find("\n", m.end())
    after = text[m.end() : len(text) if line_end < 0 else line_end]
    return not text[line_start : m.start()].strip() and not after.strip()


def _env_keys(text: str) -> set[int]:
    """Where the names of .env / shell / Dockerfile assignments start (``KEY=value`` at the
    start of a line: the value is a literal there, whatever it looks like)."""
    return {m.end() for m in _ENV_LINE.finditer(text)}


def _token_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """Long random tokens on a line that talks about keys, tokens or secrets."""
    for m in _TOKEN.finditer(text):
        token = m.group(0)
        if token.startswith(MARK[1:]) or not looks_random(token.strip(".=-_~")):
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        before = text[max(line_start, m.start() - 80) : m.start()]
        if not _CONTEXT_WORD.search(before) or _PUBLIC_KEY_BEFORE.search(before):
            continue
        name = _LAST_NAME.search(before)
        if name and _NOT_SECRET_PARTS.intersection(_parts(name.group(1))):
            continue  # key_id = "...", token_url: ...
        if _HEX.match(token) and not _HEX_CONTEXT.search(before):
            continue
        yield m.start(), m.end(), _marker("token")


def _splice(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, replacement) applied; spans come in order."""
    out: list[str] = []
    pos = 0
    for start, end, new in spans:
        out.append(text[pos:start])
        out.append(new)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# ---------------------------------------------------------------------- redact
def _not_placeholder(value: str) -> bool:
    return not _PLACEHOLDER.match(value) and not _EXPRESSION.match(value)


def _sub_group(
    pattern: re.Pattern[str],
    kind: str,
    group: int,
    text: str,
    accept: Callable[[str], bool] | None = None,
) -> str:
    marker = _marker(kind)

    def replace(m: re.Match[str]) -> str:
        value = m.group(group)
        if value.startswith(MARK) or (accept is not None and not accept(value)):
            return m.group(0)
        start, end = m.span(group)
        offset = m.start(0)
        whole = m.group(0)
        return whole[: start - offset] + marker + whole[end - offset :]

    return pattern.sub(replace, text)


def _format(m: re.Match[str]) -> str:
    return _marker(_FORMAT_KINDS[m.lastgroup or ""])


def _formats(run: re.Match[str]) -> str:
    return _FORMAT_RE.sub(_format, run.group(0))


def _assignment_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """`_ASSIGN` tried only where a name holds a secret word (a lookahead at every position
    was half of all redaction time)."""
    replace = _assignment(text, _env_keys(text))
    pos = 0
    for hit in _KEYWORD.finditer(text):
        if hit.start() < pos:
            continue
        start = _NAME_START.search(text, max(pos, hit.start() - 64), hit.start())
        at = start.start() if start else hit.start()
        name = _NAME_AT.match(text, at)
        if name is None or not _name_strength(name.group(0).strip("\"'")):
            continue  # "keyboard", "design", "passage": cheap to rule out, and common
        m = _ASSIGN.match(text, at)
        if m is None or m.start("sep") < hit.end():
            continue
        yield m.start(), m.end(), replace(m)
        pos = m.end()


def redact(text: str) -> str:
    """``text`` with every secret-looking span replaced by ``[REDACTED:kind]``. Each pass
    runs only when a plain substring it needs is there (most texts hold none of them)."""
    if not text:
        return text
    low = text.lower()
    if "-----begin" in low or "private-lines" in low:
        text = _PRIVATE_KEY.sub(_marker("private-key"), text)
    text = _RUN.sub(_formats, text)
    if "://" in text:
        text = _sub_group(_URL_PASSWORD, "url-password", 2, text)
    if "sig" in low and "=" in text:
        text = _sub_group(_SIGNED_URL, "signature", 2, text)
    if "=" in text and any(k in low for k in ("password=", "pwd=", "key=", "secretvalue=")):
        text = _sub_group(_CONN_KEY, "password", 2, text, _not_placeholder)
    if "bearer" in low or "token" in low:
        text = _sub_group(_AUTH_HEADER, "bearer", 3, text)
    if "basic" in low:
        text = _BASIC.sub(_basic, text)
    if "-u" in text:
        text = _sub_group(_CURL_USER, "password", 1, text)
    if "-p" in text or "-a" in text:
        text = _sub_group(_CLI_PASSWORD, "password", 1, text)
    if "identified by" in low or "password" in low:
        text = _sub_group(_SQL_PASSWORD, "password", 1, text)
    if "</" in text:
        text = _XML_SECRET.sub(_xml, text)
    if "cookie" in low:
        text = _COOKIE.sub(_cookie, text)
    text = _splice(text, _assignment_spans(text))
    return _splice(text, _token_spans(text))


def redact_all(values: Iterable[str]) -> list[str]:
    return [redact(v) for v in values]


def redact_json(value: Any) -> Any:
    """``value`` (JSON data) with every string redacted, at any depth; keys are kept."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value


def find_secrets(text: str) -> list[str]:
    """The kinds of secret found in ``text`` (for tests and reports)."""
    return sorted(set(re.findall(r"\[REDACTED:([a-z0-9\-]+)\]", redact(text or ""))))
