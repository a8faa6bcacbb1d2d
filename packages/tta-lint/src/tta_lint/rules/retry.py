"""TTA001: a hand-rolled retry loop around an await."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tta_lint.model import Rule
from tta_lint.rules._ast import SCOPES, is_awaited_sleep, local_nodes
from tta_lint.rules.base import Checker

__all__ = ["RetryLoopChecker"]

_LOOPS = (ast.For, ast.AsyncFor, ast.While)


@dataclass(slots=True)
class _LoopShape:
    awaited_try: ast.Try | ast.TryStar | None = None
    sleeps: bool = False
    exits: bool = False
    assigned: set[str] = field(default_factory=set)


class RetryLoopChecker(Checker):
    """A loop that awaits inside ``try``/``except``, awaits a sleep, and stops on success.

    All three make a retry: a loop that never leaves on success is a worker or a
    poller, a loop that does not sleep is a plain iteration.
    """

    rule = Rule(
        "TTA001",
        "hand-rolled-retry",
        "hand-rolled retry loop: a loop that awaits in try/except and sleeps between attempts",
        "wrap the step in RetryPrimitive(step, max_attempts=..., backoff=...)",
    )
    node_types = _LOOPS

    def visit(self, node: ast.AST) -> None:
        """Check one loop."""
        if not isinstance(node, _LOOPS):
            return
        shape = _LoopShape()
        _scan(node.body, shape, in_handler=False)
        exits = shape.exits
        if not exits and isinstance(node, ast.While):
            # `while not done:` ... `done = True` after the awaited call.
            exits = any(
                isinstance(name, ast.Name) and name.id in shape.assigned
                for name in ast.walk(node.test)
            )
        if shape.awaited_try is not None and shape.sleeps and exits:
            self.report(node)


def _scan(body: list[ast.stmt], shape: _LoopShape, *, in_handler: bool) -> None:
    """Fill ``shape`` from the statements of one loop body (not nested loops or scopes)."""
    for stmt in body:
        if isinstance(stmt, (*_LOOPS, *SCOPES)):
            continue
        if isinstance(stmt, (ast.Try, ast.TryStar)):
            if stmt.handlers and shape.awaited_try is None and _awaits(stmt.body):
                shape.awaited_try = stmt
            _scan(stmt.body, shape, in_handler=in_handler)
            _scan(stmt.orelse, shape, in_handler=in_handler)
            _scan(stmt.finalbody, shape, in_handler=in_handler)
            for handler in stmt.handlers:
                _scan(handler.body, shape, in_handler=True)
        elif isinstance(stmt, ast.If):
            _scan(stmt.body, shape, in_handler=in_handler)
            _scan(stmt.orelse, shape, in_handler=in_handler)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            _scan(stmt.body, shape, in_handler=in_handler)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                _scan(case.body, shape, in_handler=in_handler)
        else:
            _simple(stmt, shape, in_handler=in_handler)


def _simple(stmt: ast.stmt, shape: _LoopShape, *, in_handler: bool) -> None:
    if isinstance(stmt, (ast.Return, ast.Break)) and not in_handler:
        shape.exits = True
    if not in_handler and isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        shape.assigned.update(t.id for t in targets if isinstance(t, ast.Name))
    if not shape.sleeps:
        shape.sleeps = any(is_awaited_sleep(node) for node in local_nodes([stmt]))


def _awaits(body: list[ast.stmt]) -> bool:
    """Whether ``body`` awaits something other than a sleep."""
    return any(
        isinstance(node, (ast.AsyncFor, ast.AsyncWith))
        or (isinstance(node, ast.Await) and not is_awaited_sleep(node))
        for node in local_nodes(body)
    )
