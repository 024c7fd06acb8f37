"""Run model-written code against test assertions in a sandboxed subprocess.

The candidate is untrusted: it runs in a separate ``python -I`` process (isolated mode: no
user site, no PYTHON* variables, no current-directory imports), in an empty temporary
working directory, with stdin closed, an almost empty environment, and rlimits on CPU
time, address space, file size and open files (set by the harness before the candidate
runs, so no preexec_fn in a threaded parent), plus a wall-clock timeout that kills the
whole process group. Each assertion runs on its own, so the result says how many passed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MEMORY_LIMIT_MB = 512
CPU_LIMIT_S = 10
FILE_LIMIT_BYTES = 1 << 20

# Runs inside the sandbox: defines the candidate in a module namespace (not __main__, so
# an `if __name__ == "__main__":` demo does not run); a demo that raises after the
# definitions does not hide them. Prints one JSON line on the real stdout.
_HARNESS = r"""
import io, json, resource, sys
spec = json.load(open("job.json"))
for name, value in spec["limits"].items():
    resource.setrlimit(getattr(resource, name), (value, value))
out = sys.stdout
sys.stdout = io.StringIO()
ns = {"__name__": "candidate"}
error = ""
try:
    exec(compile(spec["setup"] + "\n" + spec["code"], "candidate.py", "exec"), ns)
except BaseException as exc:
    error = f"{type(exc).__name__}: {exc}"[:300]
passed = 0
failures = []
for test in spec["tests"]:
    try:
        exec(compile(test, "test.py", "exec"), ns)
        passed += 1
    except BaseException as exc:
        failures.append(f"{type(exc).__name__}: {exc}"[:200])
report = {"nonce": spec["nonce"], "passed": passed, "error": error, "failures": failures[:3]}
out.write(json.dumps(report) + "\n")
out.flush()
"""


@dataclass
class CodeRun:
    passed: int
    total: int
    error: str = ""  # a load error, a timeout, a crash (what the candidate did wrong)
    failures: tuple[str, ...] = ()


def run_tests(
    code: str,
    tests: list[str],
    *,
    setup: str = "",
    timeout_s: float = 10.0,
    memory_mb: int = MEMORY_LIMIT_MB,
    cpu_s: int = CPU_LIMIT_S,
) -> CodeRun:
    """How many of ``tests`` (assert statements) pass against ``code``."""
    total = len(tests)
    with tempfile.TemporaryDirectory(prefix="tsr-answers-code-") as tmp:
        nonce = secrets.token_hex(8)  # the candidate cannot forge the report line
        limits = {
            "RLIMIT_AS": memory_mb << 20,
            "RLIMIT_CPU": cpu_s,
            "RLIMIT_FSIZE": FILE_LIMIT_BYTES,
            "RLIMIT_NOFILE": 64,
            "RLIMIT_CORE": 0,
        }
        job = {"code": code, "tests": tests, "setup": setup, "nonce": nonce, "limits": limits}
        Path(tmp, "job.json").write_text(json.dumps(job))
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _HARNESS],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,  # its own process group: a timeout kills it all
            )
        except OSError as exc:
            return CodeRun(0, total, f"could not start the sandbox: {exc}")
        try:
            stdout, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.communicate()
            return CodeRun(0, total, f"timed out after {timeout_s:g} s")
    report = None
    for line in stdout.decode("utf-8", "replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("nonce") == nonce:
            report = value
    if report is None:
        return CodeRun(0, total, f"the sandbox died (exit code {proc.returncode})")
    return CodeRun(int(report["passed"]), total, str(report["error"]), tuple(report["failures"]))
