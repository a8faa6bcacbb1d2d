"""The agent's tools: plain async Python functions, described and dispatched by name.

Each tool takes a `ToolCall` (the LLM layer's type: name and decoded arguments) and
returns its result as text. `TOOLS` describes them to the model; `DISPATCH`, a
`RouterPrimitive`, runs the one a call names.
"""

from __future__ import annotations

import ast
import asyncio
import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tta_dev_integrations.llm import Tool, ToolCall
from tta_dev_primitives import RouterPrimitive

ROOT = Path(__file__).resolve().parents[2]
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


async def calculator(call: ToolCall) -> str:
    result = evaluate(call.arguments["expression"])
    return f"{result:g}" if isinstance(result, float) else str(result)


def _definitions(name: str) -> list[str]:
    pattern = re.compile(rf"^\s*(?:async\s+)?(?:class|def)\s+{re.escape(name)}\b", re.M)
    found = []
    for path in sorted(ROOT.glob("packages/*/src/**/*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if match := pattern.search(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}")
    return found


async def find(call: ToolCall) -> str:
    name = call.arguments["name"]
    found = await asyncio.to_thread(_definitions, name)  # file reads: off the event loop
    return ", ".join(found[:3]) if found else f"no definition of {name} in this repository"


async def clock(call: ToolCall) -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


TOOLS = [
    Tool(
        "calculator",
        "evaluate an arithmetic expression",
        {"type": "object", "properties": {"expression": {"type": "string"}}},
    ),
    Tool(
        "find",
        "find where a class or function is defined in this repository",
        {"type": "object", "properties": {"name": {"type": "string"}}},
    ),
    Tool("clock", "tell the current UTC date and time"),
]
DISPATCH = RouterPrimitive(
    {"calculator": calculator, "find": find, "clock": clock},
    route=lambda call: call.name,
    name="tools",
)
