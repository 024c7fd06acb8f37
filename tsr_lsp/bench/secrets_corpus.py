"""A seeded corpus for measuring the redactor (`tsr-lsp bench redaction`).

Secrets: synthetic values in the real formats of 50 kinds of credential (cloud keys, tokens
of code hosts, chat, payment, AI and package services, private keys, JWTs, connection
strings, passwords in URLs, .env lines, auth headers, high-entropy tokens in context),
each placed in one of several contexts (code, config, shell, logs, chat). Every value is
random: no real secret is or was ever in here. Secret-free text: look-alikes that must be
kept (hashes, git SHAs, UUIDs, base64 data, lockfiles, public keys and certificates, code
that *handles* passwords and tokens) and chunks of the Python standard library's own source.

Nothing here comes from a public test set; the generator is the data (no file is committed).
"""

from __future__ import annotations

import base64
import json
import random
import string
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
DIGITS = string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
BASE32 = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class Secret:
    kind: str
    text: str  # the snippet as a user would paste it
    value: str  # what must not survive redaction


class Gen:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def b64(self, nbytes: int) -> str:
        return base64.b64encode(self.rng.randbytes(nbytes)).decode()

    def b64url(self, nbytes: int) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(nbytes)).decode().rstrip("=")

    def uuid(self) -> str:
        h = self.s(32, HEX)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

    def word(self) -> str:
        return self.rng.choice(WORDS)

    def password(self) -> str:
        """What people pick: words, digits, a symbol; or a generated one."""
        r = self.rng.random()
        if r < 0.4:
            digits = self.rng.randint(1, 9999)
            return f"{self.word().capitalize()}{digits}{self.rng.choice('!#$%&*?@')}"
        if r < 0.7:
            return self.s(self.rng.randint(12, 24), ALNUM + "!#$%&*+-=?@^_~")
        return f"{self.word()}-{self.word()}-{self.word()}-{self.rng.randint(10, 99)}"

    def pem(self, label: str, nbytes: int) -> tuple[str, str]:
        body = self.b64(nbytes)
        lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----", body


WORDS = [
    *("river", "apple", "stone", "cloud", "tiger", "maple", "orbit", "quartz", "velvet"),
    *("copper", "falcon", "harbor", "lantern", "meadow", "pepper", "silver", "thunder"),
    *("willow", "ember", "glacier", "summer", "winter", "dragon"),
]
HOSTS = ["db.internal", "prod-db-3.example.com", "10.0.4.12", "cluster0.a1b2c.mongodb.net"]
USERS = ["admin", "app", "deploy", "svc_api", "postgres", "root", "jenkins"]


# (kind, value maker, context names that fit it)
def _kinds(g: Gen) -> dict[str, Callable[[], tuple[str, str, str]]]:
    """kind -> () -> (key name to put it under, value, whole credential if it differs)."""

    def simple(name: str, value: Callable[[], str]) -> Callable[[], tuple[str, str, str]]:
        return lambda: (name, value(), "")

    return {
        "aws-access-key-id": simple(
            "AWS_ACCESS_KEY_ID", lambda: g.rng.choice(["AKIA", "ASIA"]) + g.s(16, BASE32)
        ),
        "aws-secret-access-key": simple("aws_secret_access_key", lambda: g.s(40, B64)),
        "aws-session-token": simple("AWS_SESSION_TOKEN", lambda: "FwoGZXIvYXdzE" + g.b64(180)),
        "gcp-api-key": simple("GOOGLE_API_KEY", lambda: "AIza" + g.s(35, B64URL)),
        "gcp-oauth-client-secret": simple("client_secret", lambda: "GOCSPX-" + g.s(28, B64URL)),
        "azure-storage-key": lambda: (
            "AZURE_STORAGE_CONNECTION_STRING",
            key := g.b64(64),
            f"DefaultEndpointsProtocol=https;AccountName={g.word()}store;AccountKey={key};"
            "EndpointSuffix=core.windows.net",
        ),
        "azure-client-secret": simple(
            "AZURE_CLIENT_SECRET",
            lambda: g.s(3) + str(g.rng.randint(0, 9)) + "Q~" + g.s(34, ALNUM + "_.~-"),
        ),
        "azure-sas-token": lambda: (
            "SAS_URL",
            sig := g.b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"),
            f"https://{g.word()}.blob.core.windows.net/data?sv=2022-11-02&ss=b&srt=sco&sp=rl"
            f"&se=2026-01-01T00:00:00Z&spr=https&sig={sig}",
        ),
        "github-pat": simple("GITHUB_TOKEN", lambda: "ghp_" + g.s(36)),
        "github-fine-grained-pat": simple(
            "GH_TOKEN", lambda: "github_pat_" + g.s(22) + "_" + g.s(59)
        ),
        "github-oauth-app-token": simple(
            "token", lambda: g.rng.choice(["gho_", "ghu_", "ghs_", "ghr_"]) + g.s(36)
        ),
        "gitlab-pat": simple("GITLAB_TOKEN", lambda: "glpat-" + g.s(20, B64URL)),
        "gitlab-runner-token": simple(
            "runner_token", lambda: g.rng.choice(["glrt-", "gldt-", "GR1348941"]) + g.s(20, B64URL)
        ),
        "slack-bot-token": simple(
            "SLACK_BOT_TOKEN",
            lambda: f"xoxb-{g.s(12, string.digits)}-{g.s(13, string.digits)}-{g.s(24)}",
        ),
        "slack-user-token": simple(
            "slack_token",
            lambda: f"xoxp-{g.s(12, DIGITS)}-{g.s(12, DIGITS)}-{g.s(13, DIGITS)}-{g.s(32, HEX)}",
        ),
        "slack-webhook": lambda: (
            "SLACK_WEBHOOK_URL",
            path := f"T{g.s(9, UPPER_ALNUM)}/B{g.s(11, UPPER_ALNUM)}/{g.s(24)}",
            f"https://hooks.slack.com/services/{path}",
        ),
        "stripe-secret-key": simple(
            "STRIPE_SECRET_KEY",
            lambda: g.rng.choice(["sk_live_", "sk_test_"]) + g.s(g.rng.randint(24, 99)),
        ),
        "stripe-restricted-key": simple("stripe_key", lambda: "rk_live_" + g.s(60)),
        "stripe-webhook-secret": simple("STRIPE_WEBHOOK_SECRET", lambda: "whsec_" + g.s(32)),
        "openai-key": simple(
            "OPENAI_API_KEY",
            lambda: g.rng.choice(
                [
                    "sk-proj-" + g.s(156, B64URL),
                    "sk-" + g.s(20) + "T3BlbkFJ" + g.s(20),
                    "sk-" + g.s(48),
                ]
            ),
        ),
        "anthropic-key": simple(
            "ANTHROPIC_API_KEY", lambda: "sk-ant-api03-" + g.s(93, B64URL) + "AA"
        ),
        "huggingface-token": simple("HF_TOKEN", lambda: "hf_" + g.s(34)),
        "npm-token": simple("NPM_TOKEN", lambda: "npm_" + g.s(36)),
        "pypi-token": simple("PYPI_API_TOKEN", lambda: "pypi-AgEIcHlwaS5vcmc" + g.s(140, B64URL)),
        "twilio-api-key": simple("TWILIO_API_KEY", lambda: "SK" + g.s(32, HEX)),
        "twilio-auth-token": simple("TWILIO_AUTH_TOKEN", lambda: g.s(32, HEX)),
        "sendgrid-key": simple(
            "SENDGRID_API_KEY", lambda: f"SG.{g.s(22, B64URL)}.{g.s(43, B64URL)}"
        ),
        "mailgun-key": simple("MAILGUN_API_KEY", lambda: "key-" + g.s(32, HEX)),
        "discord-bot-token": simple(
            "DISCORD_TOKEN",
            lambda: g.rng.choice("MN") + g.s(25) + "." + g.s(6, B64URL) + "." + g.s(38, B64URL),
        ),
        "telegram-bot-token": simple(
            "TELEGRAM_BOT_TOKEN", lambda: f"{g.rng.randint(10**8, 10**10)}:AA{g.s(33, B64URL)}"
        ),
        "shopify-token": simple(
            "SHOPIFY_ACCESS_TOKEN",
            lambda: g.rng.choice(["shpat_", "shpss_", "shpca_"]) + g.s(32, HEX),
        ),
        "digitalocean-token": simple("DIGITALOCEAN_TOKEN", lambda: "dop_v1_" + g.s(64, HEX)),
        "databricks-token": simple("DATABRICKS_TOKEN", lambda: "dapi" + g.s(32, HEX)),
        "heroku-api-key": simple("HEROKU_API_KEY", g.uuid),
        "datadog-api-key": simple("DD_API_KEY", lambda: g.s(32, HEX)),
        "sentry-auth-token": simple("SENTRY_AUTH_TOKEN", lambda: "sntrys_" + g.s(80, B64URL)),
        "vault-token": simple(
            "VAULT_TOKEN", lambda: "hvs." + g.s(24 + g.rng.randint(0, 70), B64URL)
        ),
        "doppler-token": simple("DOPPLER_TOKEN", lambda: "dp.st.prd." + g.s(43)),
        "linear-api-key": simple("LINEAR_API_KEY", lambda: "lin_api_" + g.s(40)),
        "postman-api-key": simple("POSTMAN_API_KEY", lambda: f"PMAK-{g.s(24, HEX)}-{g.s(34, HEX)}"),
        "atlassian-api-token": simple("JIRA_API_TOKEN", lambda: "ATATT3xFfGF0" + g.s(180, B64URL)),
        "docker-hub-pat": simple("DOCKER_PASSWORD", lambda: "dckr_pat_" + g.s(27, B64URL)),
        "supabase-service-key": simple("SUPABASE_ACCESS_TOKEN", lambda: "sbp_" + g.s(40, HEX)),
        "notion-token": simple("NOTION_TOKEN", lambda: g.rng.choice(["secret_", "ntn_"]) + g.s(43)),
        "age-secret-key": simple(
            "AGE_KEY", lambda: "AGE-SECRET-KEY-1" + g.s(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")
        ),
        "jwt": simple("id_token", lambda: _jwt(g)),
        "private-key": lambda: (
            "private_key",
            *_pem_pair(
                g,
                g.rng.choice(
                    [
                        "RSA PRIVATE KEY",
                        "PRIVATE KEY",
                        "EC PRIVATE KEY",
                        "OPENSSH PRIVATE KEY",
                        "ENCRYPTED PRIVATE KEY",
                        "DSA PRIVATE KEY",
                        "PGP PRIVATE KEY BLOCK",
                    ]
                ),
            ),
        ),
        "connection-string": lambda: (
            "DATABASE_URL",
            pw := quote(g.password(), safe="!*"),
            g.rng.choice(
                [
                    f"postgres://{g.rng.choice(USERS)}:{pw}@{g.rng.choice(HOSTS)}:5432/app",
                    f"postgresql+psycopg2://{g.rng.choice(USERS)}:{pw}@{g.rng.choice(HOSTS)}/shop",
                    f"mysql://{g.rng.choice(USERS)}:{pw}@{g.rng.choice(HOSTS)}:3306/main",
                    f"mongodb+srv://{g.rng.choice(USERS)}:{pw}@{HOSTS[3]}/?retryWrites=true",
                    f"redis://:{pw}@{g.rng.choice(HOSTS)}:6379/0",
                    f"amqp://{g.rng.choice(USERS)}:{pw}@{g.rng.choice(HOSTS)}:5672/vhost",
                    f"Server=tcp:{g.word()}.database.windows.net,1433;Database=app;"
                    f"User ID={g.rng.choice(USERS)};Password={pw};Encrypt=true;",
                ]
            ),
        ),
        "password-in-url": lambda: (
            "url",
            pw := quote(g.password(), safe="!*"),
            f"https://{g.rng.choice(USERS)}:{pw}@{g.word()}.example.com/repo.git",
        ),
        "password-assignment": simple("password", g.password),
        "env-secret": lambda: (
            g.rng.choice(
                [
                    "DB_PASSWORD",
                    "SECRET_KEY",
                    "DJANGO_SECRET_KEY",
                    "JWT_SECRET",
                    "SESSION_SECRET",
                    "APP_KEY",
                    "ENCRYPTION_KEY",
                    "SMTP_PASSWORD",
                    "REDIS_PASSWORD",
                    "ADMIN_PASS",
                ]
            ),
            g.rng.choice([g.password(), g.s(50, ALNUM + "!@#$%^&*(-_=+)"), "base64:" + g.b64(32)]),
            "",
        ),
        "bearer-token": lambda: (
            "Authorization",
            tok := g.rng.choice([g.s(40, B64URL), g.b64url(48), g.s(32, HEX) + g.s(8)]),
            f"Bearer {tok}",
        ),
        "basic-auth": lambda: (
            "Authorization",
            b := base64.b64encode(f"{g.rng.choice(USERS)}:{g.password()}".encode()).decode(),
            f"Basic {b}",
        ),
        "generic-api-key": lambda: (
            g.rng.choice(
                [
                    "api_key",
                    "apiKey",
                    "x-api-key",
                    "API_TOKEN",
                    "access_token",
                    "auth_token",
                    "client_secret",
                    "secret",
                    "private_token",
                    "app_secret",
                ]
            ),
            g.rng.choice([g.s(32), g.s(40, B64URL), g.s(24, HEX) + g.s(8), g.b64(30)]),
            "",
        ),
    }


PASSWORD_KINDS = {"connection-string", "password-in-url", "password-assignment", "env-secret"}


def _jwt(g: Gen) -> str:
    def part(data: str) -> str:
        return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")

    sub, iat = g.rng.randint(1, 10**9), g.rng.randint(1_500_000_000, 1_800_000_000)
    claims = f'{{"sub":"{sub}","name":"{g.word()}","iat":{iat}}}'
    header = part('{"alg":"HS256","typ":"JWT"}')
    return f"{header}.{part(claims)}.{g.b64url(32)}"


def _pem_pair(g: Gen, label: str) -> tuple[str, str]:
    whole, body = g.pem(label, g.rng.choice([256, 600, 1200]))
    return body, whole


def _contexts(g: Gen, name: str, secret: str, token: bool = True) -> list[str]:
    """Ways the same credential shows up in what people paste."""
    one_line = "\n" not in secret
    out = [
        f"{name}={secret}",
        f'{name.lower()} = "{secret}"',
        f'const {_camel(name)} = "{secret}";',
        f'{{"{_camel(name)}": "{secret}", "region": "eu-west-1"}}',
        f"{name.lower()}: {secret}"
        if one_line
        else f"{name.lower()}: |\n  " + secret.replace("\n", "\n  "),
        f"export {name}='{secret}'",
        f"Why does this fail? I set {name} to {secret} and the request still returns 401.",
    ]
    if one_line and token:
        out.append(f'curl -H "Authorization: Bearer {secret}" https://api.example.com/v1/items')
    if one_line:
        out += [
            f"2024-05-02 10:14:07 DEBUG client: using credentials {secret} for upload",
            f'ENV {name}="{secret}"',
            f"[default]\n{name.lower()} = {secret}\nregion = us-east-1",
            f'client = Client(\n    base_url=BASE,\n    {name.lower()}="{secret}",\n)',
        ]
    else:
        out += [
            json.dumps({"type": "service_account", name: secret}),
            f"here is my key, what is wrong with it?\n\n{secret}\n",
        ]
    return out


def _camel(name: str) -> str:
    parts = name.lower().replace("-", "_").split("_")
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def secrets(seed: int = 0, per_kind: int = 5) -> list[Secret]:
    """``per_kind`` secrets of every kind, each in a context chosen at random."""
    g = Gen(random.Random(seed))
    out: list[Secret] = []
    for kind, make in _kinds(g).items():
        for _ in range(per_kind):
            name, value, whole = make()
            shown = whole or value
            if kind in ("bearer-token", "basic-auth"):
                text = g.rng.choice(
                    [
                        f'curl -H "Authorization: {shown}" https://api.example.com/v2/users',
                        f"GET /v1/orders HTTP/1.1\nHost: api.example.com\nAuthorization: {shown}",
                        f'headers = {{"Authorization": "{shown}", "Accept": "application/json"}}',
                        f"requests.get(url, headers={{'Authorization': '{shown}'}})",
                    ]
                )
            else:
                token = kind not in PASSWORD_KINDS
                text = g.rng.choice(_contexts(g, name, shown, token))
            if kind == "private-key" and g.rng.random() < 0.3:  # pasted without its end line
                text = text.split("-----END")[0]
            out.append(Secret(kind, text, value))
    for kind, snippet in _standalone(g).items():
        for _ in range(per_kind):
            text, value = snippet()
            out.append(Secret(kind, text, value))
    return out


def _standalone(g: Gen) -> dict[str, Callable[[], tuple[str, str]]]:
    """Kinds that come with their own surroundings: (text, value)."""

    def pw() -> str:
        return g.password().replace("'", "").replace('"', "")

    def netrc() -> tuple[str, str]:
        v = g.s(40, HEX)
        return f"machine api.heroku.com\n  login dev@example.com\n  password {v}\n", v

    def cli() -> tuple[str, str]:
        v = g.s(14, ALNUM + "!#%^*+=") + str(g.rng.randint(0, 9))
        text = g.rng.choice(
            [
                f"sshpass -p '{v}' ssh deploy@10.0.0.5 uptime",
                f"mysql -h db -u root -p{v} shop < dump.sql",
                f"redis-cli -h cache -p 6379 -a {v} info",
                f"echo done && docker login -u ci -p {v} registry.example.com",
                f"mysqldump --user=backup --password={v} --all-databases",
                f"pg_dump --dbname=postgresql://backup:{quote(v, safe='')}@db:5432/app",
            ]
        )
        return text, quote(v, safe="") if "postgresql://" in text else v

    def xml() -> tuple[str, str]:
        v = pw()
        return (
            f"<server>\n  <id>nexus</id>\n  <username>ci</username>\n  <password>{v}</password>"
            "\n</server>",
            v,
        )

    def sql() -> tuple[str, str]:
        v = pw()
        return g.rng.choice(
            [
                f"CREATE USER app@'%' IDENTIFIED BY '{v}';",
                f"ALTER ROLE reporting WITH LOGIN PASSWORD '{v}';",
            ]
        ), v

    def cookie() -> tuple[str, str]:
        v = g.s(32, HEX)
        return f"Cookie: sessionid={v}; csrftoken={g.s(32)}; theme=dark", v

    def query() -> tuple[str, str]:
        v = g.s(40, B64URL)
        name = g.rng.choice(["access_token", "api_key", "token", "key", "apikey"])
        return f"GET https://api.example.com/v1/data?{name}={v}&format=json HTTP/1.1", v

    def putty() -> tuple[str, str]:
        private = [g.b64(48) for _ in range(3)]
        public = [g.b64(48) for _ in range(2)]
        text = "\n".join(
            [
                "PuTTY-User-Key-File-3: ssh-rsa",
                "Encryption: none",
                "Comment: deploy key",
                "Public-Lines: 2",
                *public,
                "Private-Lines: 3",
                *private,
                f"Private-MAC: {g.s(64, HEX)}",
            ]
        )
        return text, private[1]

    def k8s() -> tuple[str, str]:
        v = base64.b64encode(pw().encode()).decode()
        return (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n"
            f"  username: YWRtaW4=\n  password: {v}\n",
            v,
        )

    def properties() -> tuple[str, str]:
        v = pw()
        return f"spring.datasource.url=jdbc:postgresql://db/app\nspring.datasource.password={v}", v

    def devops() -> tuple[str, str]:
        v = g.s(52, "abcdefghijklmnopqrstuvwxyz234567")
        return f"AZURE_DEVOPS_EXT_PAT={v}", v

    def cloudflare() -> tuple[str, str]:
        v = g.s(40, B64URL)
        return f'cloudflare:\n  api_token: "{v}"\n  zone: example.com', v

    return {
        "netrc-password": netrc,
        "cli-password": cli,
        "xml-password": xml,
        "sql-password": sql,
        "session-cookie": cookie,
        "token-in-query": query,
        "putty-private-key": putty,
        "kubernetes-secret": k8s,
        "properties-password": properties,
        "azure-devops-pat": devops,
        "cloudflare-token": cloudflare,
    }


# ---------------------------------------------------------------------- secret-free text
def lookalikes(seed: int = 0, n: int = 200) -> list[str]:
    """Text that looks like secrets but is not: must come through unchanged."""
    g = Gen(random.Random(seed + 1))
    sha1, sha256 = (lambda: g.s(40, HEX)), (lambda: g.s(64, HEX))
    makers: list[Callable[[], str]] = [
        lambda: f"commit {sha1()}\nAuthor: Dev <dev@example.com>\n\n    fix the csv parser",
        lambda: f"git checkout {sha1()[:12]} && git cherry-pick {sha1()}",
        lambda: f'"integrity": "sha512-{g.b64(64)}"',
        lambda: f'  resolved "https://registry.yarnpkg.com/lodash/-/lodash-4.17.21.tgz#{sha1()}"',
        lambda: f'{{file = "numpy-1.26.4-cp311.whl", hash = "sha256:{sha256()}"}}',
        lambda: f'checksum = "{sha256()}"',
        lambda: f"golang.org/x/text v0.14.0 h1:{g.b64(32)}",
        lambda: f"FROM python:3.11-slim@sha256:{sha256()}",
        lambda: f"request_id={g.uuid()} user_id={g.uuid()} status=200 duration_ms=12",
        lambda: f"INSERT INTO users (id, name) VALUES ('{g.uuid()}', '{g.word()}');",
        lambda: f'<img src="data:image/png;base64,{g.b64(120)}" alt="logo">',
        lambda: f'attachment = {{"filename": "report.pdf", "content": "{g.b64(90)}"}}',
        lambda: f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{g.s(43, B64)} dev@laptop",
        lambda: f"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ{g.s(300, B64)} deploy@ci",
        lambda: g.pem("PUBLIC KEY", 294)[0],
        lambda: g.pem("CERTIFICATE", 700)[0],
        lambda: f"sha256sum: {sha256()}  dist/tsr_lsp-0.1.0.tar.gz",
        lambda: f'md5 {g.s(32, HEX)} etag W/"{g.s(27, B64URL)}"',
        lambda: 'password = os.environ["DB_PASSWORD"]',
        lambda: 'password = getpass.getpass("Password: ")',
        lambda: "token = tokenizer.encode(text, add_special_tokens=False)",
        lambda: 'api_key = settings.OPENAI_API_KEY or os.getenv("OPENAI_API_KEY")',
        lambda: "def login(self, username: str, password: str) -> Token:",
        lambda: 'if password != confirm_password:\n    raise ValueError("passwords differ")',
        lambda: "client = OpenAI(api_key=api_key)",
        lambda: "secret_key: Optional[str] = None",
        lambda: "PASSWORD_MIN_LENGTH = 12\nTOKEN_TTL_SECONDS = 3600",
        lambda: 'DB_PASSWORD="${DB_PASSWORD}"\nAPI_KEY=${API_KEY:?missing}',
        lambda: (
            "password: \"{{ vault_db_password }}\"\napi_key: \"{{ lookup('env', 'API_KEY') }}\""
        ),
        lambda: '"password": "<your-password>", "apiKey": "YOUR_API_KEY_HERE"',
        lambda: "The password must be at least 12 characters and contain a digit.",
        lambda: "Tokens are refreshed every hour; the secret is rotated by the ops team.",
        lambda: (
            "for token in tokens:\n    if token.kind == 'NAME':\n        names.append(token.value)"
        ),
        lambda: f"https://example.com/search?q={g.word()}&page=2&session_id={g.s(8, HEX)}",
        lambda: f"https://github.com/example/project/blob/{sha1()}/src/main.py#L42",
        lambda: (
            f"/nix/store/{g.s(32, '0123456789abcdfghijklmnpqrsvwxyz')}-python3-3.11.7/bin/python"
        ),
        lambda: f'<script src="/static/js/main.{g.s(8, HEX)}.chunk.js"></script>',
        lambda: f"color: #{g.s(6, HEX)}; background: linear-gradient(#{g.s(6, HEX)}, #fff);",
        lambda: f"AWS_REGION=eu-west-1\nAWS_DEFAULT_OUTPUT=json\nBUCKET=my-{g.word()}-bucket",
        lambda: f'assert hashlib.sha256(b"abc").hexdigest() == "{sha256()}"',
        lambda: f'KEY_LENGTH = 32\nnonce = os.urandom(12)\nkey_id = "{g.uuid()}"',
        lambda: f"trace_id: {g.s(32, HEX)} span_id: {g.s(16, HEX)}",
        lambda: (
            f'version = "1.{g.rng.randint(0, 30)}.{g.rng.randint(0, 9)}"\nbuild = "{sha1()[:7]}"'
        ),
        lambda: 'with open(path, encoding="utf-8") as fh:\n    secret_count = sum(1 for _ in fh)',
        lambda: f"The Authorization header carries a bearer token; RFC 6750 {g.rng.randint(1, 5)}.",
        lambda: "auth = HTTPBasicAuth(username, password)\nresp = session.get(url, auth=auth)",
        lambda: f"MIME-Version: 1.0\nContent-Transfer-Encoding: base64\n\n{g.b64(57)}\n{g.b64(57)}",
        lambda: f'"{g.word()}_{g.word()}_handler": "{g.word()}.{g.word()}:{g.word()}_{g.word()}"',
        lambda: (
            f"https://{g.rng.choice(USERS)}@{g.word()}.example.com/path (user only, no password)"
        ),
        lambda: f"postgres://{g.rng.choice(HOSTS)}:5432/app?sslmode=require",
        lambda: '"password": "Mot de passe", "password_hint": "Au moins 12 caractères"',
        lambda: 'label = "Enter your password:"\nhelp_text = "We never store your API key."',
        lambda: "class Settings(BaseSettings):\n    password: SecretStr\n    api_key: str = ''",
        lambda: '<input type="password" name="password" placeholder="Password" required>',
        lambda: "{items.map(item => <Row key={item.id} token={item.token} />)}",
        lambda: f'password_hash = "$2b$12${g.s(53, ALNUM + "./")}"',
        lambda: '{"access_token_type": "bearer", "expires_in": 3600, "scope": "read"}',
        lambda: "max_tokens = 4096\ntemperature = 0.2\ntop_p = 0.95",
        lambda: 'AUTH_USER_MODEL = "accounts.User"\nLOGIN_URL = "/login/"',
        lambda: "<password>${env.NEXUS_PASSWORD}</password>",
        lambda: "CREATE TABLE users (id uuid PRIMARY KEY, password_hash text NOT NULL);",
        lambda: "Cookie: theme=dark; lang=en-GB; tz=Europe%2FLondon",
        lambda: "environment:\n  - POSTGRES_PASSWORD_FILE=/run/secrets/db_password",
        lambda: "kubectl create secret generic db --from-literal=password=$DB_PASSWORD",
        lambda: f'secret_name = "prod/{g.word()}/db"\nkms_key_arn = "{_arn(g)}"',
        lambda: f"Token {g.word()} at line 3: expected ')' (parser.py:{g.rng.randint(1, 900)})",
    ]
    return [g.rng.choice(makers)() for _ in range(n)]


def _arn(g: Gen) -> str:
    return f"arn:aws:kms:eu-west-1:{g.s(12, DIGITS)}:key/{g.uuid()}"


def stdlib_chunks(seed: int = 0, n: int = 300, lines: int = 30) -> list[str]:
    """``n`` chunks of real code: the Python standard library's own source (tests, idle and
    the test certificates excluded), ``lines`` lines each, chosen with the seed."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = ("test", "idlelib", "lib2to3", "site-packages", "__pycache__", "ensurepip", "turtledemo")
    files = sorted(
        p for p in root.rglob("*.py") if not any(part in skip for part in p.relative_to(root).parts)
    )
    rng = random.Random(seed + 2)
    out: list[str] = []
    while len(out) < n and files:
        path = rng.choice(files)
        try:
            text = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        if len(text) < lines:
            continue
        start = rng.randrange(0, len(text) - lines + 1)
        out.append("\n".join(text[start : start + lines]))
    return out
