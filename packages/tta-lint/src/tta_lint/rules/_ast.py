"""Small AST questions several rules ask."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

__all__ = [
    "SCOPES",
    "as_primitive_execute",
    "is_awaited_sleep",
    "is_context_like",
    "local_nodes",
    "terminal_name",
]

#: Nodes that open a new scope: a rule looking at one function does not look inside them.
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def terminal_name(expr: ast.expr) -> str:
    """``sleep`` for ``asyncio.sleep`` and ``sleep``; ``""`` for anything else."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return ""


def is_context_like(expr: ast.expr) -> bool:
    """Whether ``expr`` looks like a ``WorkflowContext``.

    A name or attribute containing ``ctx``/``context``, ``WorkflowContext(...)``, or
    ``<context>.child(...)``.
    """
    if isinstance(expr, ast.Call):
        name = terminal_name(expr.func)
        if name == "WorkflowContext":
            return True
        return (
            name == "child"
            and isinstance(expr.func, ast.Attribute)
            and is_context_like(expr.func.value)
        )
    name = terminal_name(expr).lower()
    return "ctx" in name or "context" in name


def as_primitive_execute(node: ast.AST) -> ast.Call | None:
    """``node`` if it is a call of a primitive's ``execute``, else ``None``.

    A primitive is called as ``p.execute(input, ctx)``: the second argument (or the
    ``context=`` keyword) is a workflow context. That tells it apart from
    ``cursor.execute(sql, params)`` and other methods called ``execute``.
    """
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "execute"
    ):
        return None
    args = node.args
    if any(isinstance(arg, ast.Starred) for arg in args):
        return None
    if len(args) == 2:  # (input, context)
        return node if is_context_like(args[1]) else None
    keywords = {kw.arg for kw in node.keywords}
    if len(args) <= 1 and "context" in keywords:
        return node
    return None


def is_awaited_sleep(node: ast.AST) -> bool:
    """``await asyncio.sleep(...)``, ``await sleep(...)``, ``await self._sleep(...)``."""
    return (
        isinstance(node, ast.Await)
        and isinstance(node.value, ast.Call)
        and terminal_name(node.value.func).lower().endswith("sleep")
    )


def local_nodes(roots: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node under ``roots`` (roots included), not entering nested scopes.

    A root that is itself a scope (a nested ``def``) is left out.
    """
    stack = [root for root in roots if not isinstance(root, SCOPES)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, SCOPES))
