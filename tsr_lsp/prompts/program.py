"""Maths answered by a program: the model writes arithmetic, the server computes it.

Small models slip on arithmetic far more than on setting a problem up; written as a short
program, the numbers are computed exactly (docs/ANSWERS.md "Maths by a program"). The
program is never run by Python: ``evaluate`` walks its syntax tree and knows only numbers,
names, arithmetic and a few pure functions, with bounded size and magnitude, so a hostile or
broken program costs microseconds and raises ``ProgramError``.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

PROGRAM_INSTRUCTION = (
    "Solve it with a short Python program: one assignment per quantity, named after what it "
    "counts, using only arithmetic, and the result in a variable named answer. "
    "Reply with only the program in one fenced code block."
)

MAX_CHARS = 4000
MAX_STATEMENTS = 80
MAX_MAGNITUDE = 1e15  # far beyond any answer a word problem has; stops 9**9**9
MAX_EXPONENT = 64

# requests a program cannot answer (symbolic work, proofs, explanations): steps answer them
_NOT_NUMERIC = re.compile(
    r"\b(prove|proof|show that|derive|derivative|differentiate|integral|integrate|"
    r"integration|simplify|simplification|factori[sz]e|expand|explain|why|formula|limit|"
    r"symbolic)\b",
    re.I,
)
# word problems often write their numbers out ("a pack of twenty", "every two weeks")
_NUMBER_WORD = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|"
    r"thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|half|twice|"
    r"double|triple|dozen|quarter)\b",
    re.I,
)

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "min": min,
    "max": max,
    "sum": sum,
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": math.sqrt,
}
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?(?!\w)\s*(.*?)(?:```|\Z)", re.S | re.I)


class ProgramError(ValueError):
    """The text holds no program this evaluator can compute; the message says why."""


def suits(text: str) -> bool:
    """Whether a maths request asks for a number a program can compute: it has a number
    (in digits or words) to compute with and asks for no proof, derivation or explanation."""
    has_number = any(ch.isdigit() for ch in text) or _NUMBER_WORD.search(text) is not None
    return has_number and not _NOT_NUMERIC.search(text)


def extract(text: str) -> str:
    """The program in a reply: its first fenced block, else the whole reply."""
    found = _FENCE.search(text)
    return (found.group(1) if found else text).strip()


def evaluate(program: str) -> float:
    """The program's result: ``answer`` if it assigns one, else the last value printed,
    else the last value assigned. Raises ``ProgramError``."""
    if len(program) > MAX_CHARS:
        raise ProgramError(f"program longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(program)
    except SyntaxError as exc:
        raise ProgramError(f"not a program: {exc.msg} (line {exc.lineno})") from None
    if len(tree.body) > MAX_STATEMENTS:
        raise ProgramError(f"more than {MAX_STATEMENTS} statements")
    env: dict[str, Any] = {}
    printed: Any = None
    last: Any = None
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue  # "import math": the functions it would give are known by name
        if isinstance(statement, ast.Assign) and all(
            isinstance(t, ast.Name) for t in statement.targets
        ):
            last = _value(statement.value, env)
            for target in statement.targets:
                env[target.id] = last  # type: ignore[attr-defined]
        elif isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
            op = _BINARY.get(type(statement.op))
            if op is None or statement.target.id not in env:
                raise ProgramError(f"line {statement.lineno}: unsupported update")
            last = _checked(op(env[statement.target.id], _value(statement.value, env)))
            env[statement.target.id] = last
        elif _is_print(statement):
            args = statement.value.args  # type: ignore[attr-defined]
            try:  # print("Total:", total) prints a value; an f-string is only words here
                printed = _value(args[-1], env) if args else printed
            except ProgramError:
                pass
        else:
            raise ProgramError(f"line {statement.lineno}: only assignments and print are run")
    result = env.get("answer", printed if printed is not None else last)
    if result is None:
        raise ProgramError("the program computes no value")
    if not isinstance(result, (int, float)):
        raise ProgramError("the result is not a number")
    return float(result)


def solve(reply: str) -> tuple[str, str]:
    """(reasoning, answer) of a reply under ``PROGRAM_INSTRUCTION``: the program, fenced, and
    its computed result. Raises ``ProgramError``."""
    code = extract(reply)
    return f"```python\n{code}\n```", format_number(evaluate(code))


def format_number(value: float) -> str:
    """12500.0 -> "12500", 53.333333333 -> "53.33333333": no float noise in the answer."""
    if math.isfinite(value) and abs(value - round(value)) <= 1e-9 * max(1.0, abs(value)):
        return str(round(value))
    return f"{value:.10g}"


def _is_print(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Name)
        and statement.value.func.id == "print"
        and not statement.value.keywords
    )


def _checked(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProgramError("not a number")
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ProgramError("a value out of range")
    return value


def _value(node: ast.expr, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return _checked(node.value)
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        # small models change a name's case between lines (Helen_height / helen_height)
        folded = {k.lower(): v for k, v in env.items()}
        if node.id.lower() in folded:
            return folded[node.id.lower()]
        raise ProgramError(f"line {node.lineno}: '{node.id}' is not defined")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _value(node.left, env), _value(node.right, env)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ProgramError("an exponent out of range")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except (ZeroDivisionError, OverflowError, TypeError) as exc:
            raise ProgramError(f"line {node.lineno}: {exc}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_value(node.operand, env)))
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(item, env) for item in node.elts]
    if isinstance(node, ast.Call) and not node.keywords:
        name = _function_name(node.func)
        if name in _FUNCTIONS:
            try:
                return _checked(_FUNCTIONS[name](*[_value(a, env) for a in node.args]))
            except (TypeError, ValueError, OverflowError) as exc:
                raise ProgramError(f"line {node.lineno}: {name}: {exc}") from None
    raise ProgramError(f"line {getattr(node, 'lineno', '?')}: unsupported expression")


def _function_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.attr if func.value.id == "math" else ""
    return ""
