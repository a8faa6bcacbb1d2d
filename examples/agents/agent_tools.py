"""The agent's tools: plain Python functions, made tools by `@tool`.

Their JSON Schemas come from the type hints. `tools_for` narrows each argument to the
values a question offers (a `Literal` of the question's arithmetic, its code names),
so a small model decoding under the tools' grammar cannot send anything else.
"""

# No `from __future__ import annotations`: the tools' types are built per question, and
# their hints must be objects, not names to look up later.
import ast
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from tta_dev_integrations.agents import AgentTool, tool

ROOT = Path(__file__).resolve().parents[2]
ARITHMETIC = re.compile(r"[\d(][\d\s+\-*/%().]*[\d)]")
CODE_NAME = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*\b")
TIME_WORDS = re.compile(r"\b(time|date|today|now|clock)\b", re.I)
_OPERATORS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def evaluate(expression: str) -> float:
    """Arithmetic only: numbers, + - * / // % ** and parentheses; no names, no calls."""

    def value(node: ast.expr) -> float:
        number = node.value if isinstance(node, ast.Constant) else None
        if isinstance(number, int | float) and not isinstance(number, bool):
            return number
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise ValueError(f"exponent {right} is too large (at most 64)")
            return _OPERATORS[type(node.op)](left, right)
        raise ValueError(f"not arithmetic: {ast.unparse(node)!r}")

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from error
    return value(tree.body)


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression."""
    result = evaluate(expression)
    return f"{result:g}" if isinstance(result, float) else str(result)


def find(name: str) -> str:
    """Find where a class or function is defined in this repository."""
    pattern = re.compile(rf"^\s*(?:async\s+)?(?:class|def)\s+{re.escape(name)}\b", re.M)
    found = []
    for path in sorted(ROOT.glob("packages/*/src/**/*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if match := pattern.search(text):
            found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}")
    return ", ".join(found[:3]) if found else f"no definition of {name} in this repository"


def clock() -> str:
    """Tell the current UTC date and time."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def tools_for(question: str) -> list[AgentTool]:
    """The tools that can serve ``question``, their arguments taken from it."""
    offered = []
    expressions = [m.strip() for m in ARITHMETIC.findall(question) if re.search(r"[+\-*/%]", m)]
    if expressions:
        Expression = Literal[tuple(expressions)]  # type: ignore[valid-type]  # built per question

        def calculate(expression: Expression) -> str:  # type: ignore[valid-type]
            return calculator(expression)

        offered.append(tool(calculate, name="calculator", description=calculator.__doc__))
    names = sorted(set(CODE_NAME.findall(question)))
    if names:
        Name = Literal[tuple(names)]  # type: ignore[valid-type]

        def find_name(name: Name) -> str:  # type: ignore[valid-type]
            return find(name)

        offered.append(tool(find_name, name="find", description=find.__doc__))
    if TIME_WORDS.search(question) or not offered:
        offered.append(tool(clock))
    return offered
