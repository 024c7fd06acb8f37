"""Hostile templates for the reliability bench: sandbox escapes and resource exhaustion.

Each escape tries to read a canary (an environment variable or a file) or to create a file;
it "escaped" when the canary shows up in the output or the file exists. Each payload is
rendered through ``prompts.sandbox.render_string`` in a child process with a hard memory
ceiling (RLIMIT_AS) and a wall-clock kill, so a payload that gets through cannot take the
bench (or the machine) down; the child reports its own render time and peak RSS growth.
The same payloads go through the linter: each should get a security diagnostic.

Placeholders: ``ENV`` (the canary variable's name), ``CANARY_FILE`` (a file holding the
canary), ``PWN_FILE`` (a file no template may create).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CANARY_ENV = "TSR_BENCH_CANARY"

ESCAPES: list[str] = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == "
    "'catch_warnings' %}{{ c()._module.__builtins__['open']('CANARY_FILE').read() }}"
    "{% endif %}{% endfor %}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ text.__class__.__base__.__subclasses__() }}",
    "{{ ''['__class__']['__mro__'][1] }}",
    "{{ cycler.__init__.__globals__.os.environ['ENV'] }}",
    "{{ joiner.__init__.__globals__.os.environ['ENV'] }}",
    "{{ namespace.__init__.__globals__.os.environ['ENV'] }}",
    "{{ namespace.__init__.__globals__.sys.modules.os.environ['ENV'] }}",
    "{{ lipsum.__globals__['os'].environ['ENV'] }}",
    "{{ lipsum.__globals__.__builtins__.open('CANARY_FILE').read() }}",
    "{{ range.__globals__['os'].environ['ENV'] }}",
    "{{ self.__init__.__globals__.__builtins__.open('CANARY_FILE').read() }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.environ['ENV'] }}",
    "{{ cycler|attr('__init__')|attr('__globals__')|attr('__getitem__')('os')"
    "|attr('environ')|attr('get')('ENV') }}",
    "{{ cycler|attr('__in' ~ 'it__')|attr('__glo' ~ 'bals__') }}",
    "{{ cycler|attr('\\x5f\\x5finit\\x5f\\x5f')|attr('\\x5f\\x5fglobals\\x5f\\x5f') }}",
    "{{ cycler|attr(['__init', '__']|join)|attr('__globals__') }}",
    "{{ '{0.__init__.__globals__[os].environ[ENV]}'.format(cycler) }}",
    "{{ '{c.__init__.__globals__[os].environ[ENV]}'.format_map({'c': cycler}) }}",
    "{{ text|attr('format')('{0.__class__.__init__.__globals__}', cycler) }}",
    "{{ '%s'|format(cycler.__init__.__globals__) }}",
    "{{ cycler.__init__.__globals__.os.popen('cat CANARY_FILE').read() }}",
    "{{ cycler.__init__.__globals__.os.system('touch PWN_FILE') }}",
    "{% set g = cycler.__init__.__globals__ %}{{ g.os.environ['ENV'] }}",
    "{% macro m() %}{{ m._func.__globals__.__builtins__.open('CANARY_FILE').read() }}"
    "{% endmacro %}{{ m() }}",
    "{% set g = range(3)|map('string') %}{{ g.gi_frame.f_back.f_globals }}",
    "{{ cycler.__init__.__code__.co_consts }}",
    "{{ lipsum.__code__ }}",
    "{{ [1, 2]|map(attribute='__class__')|list }}",
    "{{ [text]|selectattr('__class__')|list }}",
    "{{ [text]|sort(attribute='__class__.__init__.__globals__')|first }}",
    "{{ [text]|groupby('__class__') }}",
    "{{ [text]|sum(attribute='__class__') }}",
    "{{ ''.format.__self__ }}",
    "{% include 'CANARY_FILE' %}",
    "{% import 'CANARY_FILE' as x %}{{ x }}",
    "{% extends 'CANARY_FILE' %}",
    "{% from 'CANARY_FILE' import y %}{{ y }}",
    "{{ config.__class__.__init__.__globals__['os'].environ['ENV'] }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ memory.episodes.__class__.__mro__[1].__subclasses__() }}",
    "{{ dict.mro()[-1].__subclasses__() }}",
    "{% set ns = namespace() %}{% set ns.__class__ = cycler %}{{ ns.__class__ }}",
    "{{ joiner().__call__.__globals__ }}",
    "{{ (cycler|attr('__init__')).__globals__.os.environ['ENV'] }}",
    "{{ dict(a=1).items.__self__.__class__ }}",
    "{{ text.encode.__self__.__class__.__subclasses__() }}",
]

# The issue's own first example heads the list.
RESOURCES: list[str] = [
    "{{ ([[0] * 200000] * 10000)|sum(start=[])|length }}",
    "{{ range(10**9)|list|length }}",
    "{% for i in range(100000000) %}{% endfor %}",
    "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "{{ 'x' * 10**9 }}",
    "{{ 9 ** 999999 }}",
    "{{ ('x' * 100000) * 100000 }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s|length }}",
    "{% set ns = namespace(l=[0]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}"
    "{% endfor %}{{ ns.l|length }}",
    "{% set ns = namespace(x=2**4000) %}{% for i in range(30) %}{% set ns.x = ns.x * ns.x %}"
    "{% endfor %}{{ ns.x > 1 }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ 'x'|center(999999999) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=999999999)|length }}",
    "{{ '%*d'|format(999999999, 1) }}",
    "{{ 'x'.ljust(999999999) }}",
    "{{ lipsum(10**6) }}",
    "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
    "{{ f(40) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for x in items recursive %}{{ loop(items) }}{% endfor %}",
    "{{ (range(10000)|list) * 10000 }}",
    "{% set a = 'x' * 200000 %}{{ ([a] * 200000)|join|length }}",
    "{{ 'x'.join(['y' * 200000] * 200000)|length }}",
    "{{ ('x' * 200000)|replace('x', 'x' * 200000)|length }}",
    "{{ ('\\t' * 200000).expandtabs(200000)|length }}",
    "{{ ('x\\n' * 100000)|indent(200000, first=true)|length }}",
    "{{ ('x\\n' * 100000)|indent('y' * 200000)|length }}",
    "{{ (('%s' * 100000) % (('x' * 200000,) * 100000))|length }}",
    "{{ ('{0}' * 50000).format('x' * 200000)|length }}",
    "{% for i in range(10000) %}{% set s = 'x' * 200000 %}"
    "{{ s.replace('x', 'yy')|length }}{% endfor %}",
    "{{ range(10000)|map('string')|map('center', 200000)|join|length }}",
    "{{ ([range(10000)|list] * 10000)|map('sum')|sum }}",
    "{{ ('x' * 200000)|wordwrap(1)|length }}",
    "{{ ('<' * 200000)|striptags|length }}",
    "{{ (1).to_bytes(10**9, 'big')|length }}",
    "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
    "{% set a = 'x' * 200000 %}{{ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a }}",
    "{% set l = [0] * 200000 %}{{ ([l] * 10000)|map('length')|sum }}"
    "{{ ([l] * 2000)|sum(start=[])|length }}",
    "{{ ((range(10000)|list) * 20)|unique|list|length }}"
    "{% for i in range(50) %}{{ ('ab' * 100000)|replace('a', 'aaaa')|length }}{% endfor %}",
    # compiling, not rendering: 25,000 tags in 200 kB (uncapped: seconds and hundreds of MB)
    "{{text}}" * 25_000,
]

# What templates see when they are rendered for a request (prompts/builder.py).
VARIABLES: dict[str, Any] = {
    "text": "write a csv parser",
    "instruction": "write a csv parser",
    "language": "python",
    "code": "",
    "kind": "chat",
    "category": "code",
    "cot_steps": 0,
    "memory": {"episodes": [], "patterns": []},
    "items": list(range(50)),
    "messages": [{"role": "user", "content": "hi"}],
}


def payloads() -> list[tuple[str, str]]:
    """(kind, source) for every payload; kind is "escape" or "resource"."""
    return [("escape", p) for p in ESCAPES] + [("resource", p) for p in RESOURCES]


def fill(source: str, canary_file: Path, pwn_file: Path) -> str:
    return (
        source.replace("CANARY_FILE", str(canary_file))
        .replace("PWN_FILE", str(pwn_file))
        .replace("ENV", CANARY_ENV)
    )


def _peak_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    try:  # Linux: "5" resets VmHWM to the current RSS
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def child_main() -> int:
    """Render one payload (JSON on stdin) and print a JSON report; runs in a child."""
    job = json.loads(sys.stdin.read())
    from tsr_lsp.prompts.sandbox import RenderError, render_string

    render_string("{{ 1 }}", {})  # warm: import and compile costs are not the payload's
    _reset_peak()
    base = _peak_kb()
    start = time.perf_counter()
    outcome, output = "rendered", ""
    try:
        output = render_string(job["source"], VARIABLES)
    except RenderError as exc:
        # a MemoryError is no block: without this child's RLIMIT_AS it takes the machine
        memory = isinstance(exc.__cause__, MemoryError)
        outcome, output = ("out of memory" if memory else "blocked"), str(exc)
    except BaseException as exc:  # what escaped the sandbox's own handling
        outcome, output = "error", f"{type(exc).__name__}: {exc}"[:2000]
    elapsed = time.perf_counter() - start
    report = {
        "outcome": outcome,
        "seconds": elapsed,
        "peak_mb": max(0, _peak_kb() - base) / 1024,
        "canary": job["canary"] in output,
        "message": output[:300],
    }
    print(json.dumps(report))
    return 0


def render_in_child(
    source: str, canary: str, *, timeout_s: float, memory_limit_mb: int
) -> dict[str, Any]:
    """Render in a child process; a kill after ``timeout_s`` or a crash is reported too."""
    limit = memory_limit_mb * 1024 * 1024

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, CANARY_ENV: canary}
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tsr_lsp.bench.payloads"],
            input=json.dumps({"source": source, "canary": canary}),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            preexec_fn=limits,
        )
    except subprocess.TimeoutExpired:
        return {
            "outcome": "killed (timeout)",
            "seconds": time.perf_counter() - start,
            "peak_mb": float("nan"),
            "canary": False,
            "message": f"still running after {timeout_s:.0f}s",
        }
    try:
        report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {
            "outcome": "crashed",
            "seconds": time.perf_counter() - start,
            "peak_mb": float(memory_limit_mb),
            "canary": False,
            "message": tail[0][:300],
        }
    return report


def measure(short: bool = False) -> dict[str, Any]:
    """Render every payload (a sample when ``short``) and lint it; the bench's metrics plus
    a per-payload table in ``details``."""
    from tsr_lsp.jinja_lint import LintOptions, lint_text
    from tsr_lsp.jinja_lint.codes import SECURITY_CODES

    chosen = payloads()
    if short:
        chosen = chosen[::3]
    time_limit, mb_limit = 2.0, 500.0
    rows = []
    with tempfile.TemporaryDirectory(prefix="tsr-payloads-") as tmp:
        canary = os.urandom(8).hex()
        canary_file = Path(tmp) / "canary.txt"
        canary_file.write_text(canary)
        for i, (kind, raw) in enumerate(chosen):
            pwn = Path(tmp) / f"pwned-{i}"
            source = fill(raw, canary_file, pwn)
            report = render_in_child(
                source, canary, timeout_s=5.0 if short else 10.0, memory_limit_mb=1200
            )
            lint = lint_text(source, None, LintOptions(kind="prompt"))
            flagged = sorted({d.code for d in lint.diagnostics if d.code in SECURITY_CODES})
            escaped = bool(report["canary"]) or pwn.exists()
            peak = report["peak_mb"]
            stopped = (  # refused or finished, within the memory limit (time aside)
                not escaped
                and report["outcome"] in ("blocked", "rendered")
                and peak == peak  # not NaN
                and peak <= mb_limit
            )
            contained = stopped and report["seconds"] <= time_limit
            rows.append(
                {
                    "kind": kind,
                    "source": raw,
                    **report,
                    "escaped": escaped,
                    "contained": contained,
                    "stopped": stopped,
                    "lint": flagged,
                }
            )
    escapes = [r for r in rows if r["kind"] == "escape"]
    resources = [r for r in rows if r["kind"] == "resource"]
    peaks = [r["peak_mb"] for r in rows if r["peak_mb"] == r["peak_mb"]]
    return {
        "payloads": len(rows),
        "payloads_escaped": sum(r["escaped"] for r in rows),
        "payloads_uncontained": sum(not r["contained"] for r in rows),
        "payloads_unblocked": sum(not r["stopped"] for r in rows),
        "payload_max_s": round(max(r["seconds"] for r in rows), 3),
        "payload_max_mb": round(max(peaks, default=0.0), 1),
        "lint_flagged_escapes_ratio": round(
            sum(bool(r["lint"]) for r in escapes) / len(escapes), 3
        ),
        "lint_flagged_resources_ratio": round(
            sum(bool(r["lint"]) for r in resources) / len(resources), 3
        ),
        "details": rows,
    }


if __name__ == "__main__":
    raise SystemExit(child_main())
