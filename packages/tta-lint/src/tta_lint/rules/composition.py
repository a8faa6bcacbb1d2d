"""TTA002-TTA004: asyncio plumbing around ``execute`` that the primitives' operators replace."""

from __future__ import annotations

import ast
from collections import Counter

from tta_lint.context import FileContext
from tta_lint.model import Rule
from tta_lint.rules._ast import SCOPES, as_primitive_execute, local_nodes
from tta_lint.rules.base import Checker

__all__ = ["ExecuteChainChecker", "GatherExecuteChecker", "TimeoutExecuteChecker"]

_WAIT_FOR = frozenset({"asyncio.wait_for", "asyncio.tasks.wait_for"})
_TIMEOUT_SCOPES = frozenset(
    {
        "asyncio.timeout",
        "asyncio.timeout_at",
        "asyncio.timeouts.timeout",
        "async_timeout.timeout",
        "anyio.fail_after",
    }
)
_GATHER = frozenset({"asyncio.gather", "asyncio.tasks.gather"})


def _awaits_execute(body: list[ast.stmt]) -> bool:
    return any(
        isinstance(node, ast.Await) and as_primitive_execute(node.value) is not None
        for node in local_nodes(body)
    )


class TimeoutExecuteChecker(Checker):
    """``asyncio.wait_for(p.execute(...))`` or ``async with asyncio.timeout(): await p.execute``."""

    rule = Rule(
        "TTA002",
        "hand-rolled-timeout",
        "asyncio timeout around a primitive's execute()",
        "compose TimeoutPrimitive(step, seconds) instead, so the timeout is traced and counted",
    )
    node_types = (ast.Call, ast.AsyncWith)

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self._calls: list[ast.Call] = []
        self._scopes: list[tuple[ast.AsyncWith, ast.expr]] = []

    def visit(self, node: ast.AST) -> None:
        """Keep candidates; whether the callee is asyncio's is known at the end."""
        if isinstance(node, ast.Call):
            first = node.args[0] if node.args else None
            if first is None:
                first = next((kw.value for kw in node.keywords if kw.arg in ("fut", "aw")), None)
            if first is not None and as_primitive_execute(first) is not None:
                self._calls.append(node)
        elif isinstance(node, ast.AsyncWith) and _awaits_execute(node.body):
            self._scopes.extend(
                (node, item.context_expr.func)
                for item in node.items
                if isinstance(item.context_expr, ast.Call)
            )

    def finish(self) -> None:
        """Report the candidates whose callee is an asyncio timeout."""
        for call in self._calls:
            if self.ctx.qualified(call.func) in _WAIT_FOR:
                self.report(call, "asyncio.wait_for around a primitive's execute()")
        for scope, func in self._scopes:
            name = self.ctx.qualified(func)
            if name in _TIMEOUT_SCOPES:
                self.report(scope, f"`async with {name}()` around a primitive's execute()")


class GatherExecuteChecker(Checker):
    """``asyncio.gather`` of several primitives' ``execute`` on the same input."""

    rule = Rule(
        "TTA003",
        "hand-rolled-parallel",
        "asyncio.gather over primitives' execute() on the same input",
        "compose the primitives with `|` (ParallelPrimitive): `(a | b).execute(x, ctx)`",
    )
    node_types = (ast.Call,)

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self._calls: list[ast.Call] = []

    def visit(self, node: ast.AST) -> None:
        """Keep gathers whose arguments are a fan-out of primitives."""
        if isinstance(node, ast.Call) and node.args and _is_fan_out(node.args):
            self._calls.append(node)

    def finish(self) -> None:
        """Report the candidates that call asyncio's gather."""
        for call in self._calls:
            if self.ctx.qualified(call.func) in _GATHER:
                self.report(call)


def _is_fan_out(args: list[ast.expr]) -> bool:
    """Different primitives, one input: ``gather(a.execute(x, c), b.execute(x, c))``.

    Or ``gather(*(p.execute(x, c) for p in ps))``. The same primitive over different
    inputs (a map) is not what ``|`` does, so it is not a fan-out.
    """
    if len(args) == 1 and isinstance(args[0], ast.Starred):
        comp = args[0].value
        if not isinstance(comp, (ast.ListComp, ast.GeneratorExp)):
            return False
        call = as_primitive_execute(comp.elt)
        if call is None or not call.args or not isinstance(call.func, ast.Attribute):
            return False
        targets = {
            name.id
            for generator in comp.generators
            for name in ast.walk(generator.target)
            if isinstance(name, ast.Name)
        }
        return bool(targets & _names(call.func.value)) and not targets & _names(call.args[0])
    calls = [as_primitive_execute(arg) for arg in args]
    if len(calls) < 2 or any(call is None for call in calls):
        return False
    inputs = {ast.dump(call.args[0]) for call in calls if call is not None and call.args}
    receivers = {ast.dump(call.func) for call in calls if call is not None}
    return len(inputs) == 1 and len(receivers) > 1


def _names(expr: ast.expr) -> set[str]:
    return {node.id for node in ast.walk(expr) if isinstance(node, ast.Name)}


class ExecuteChainChecker(Checker):
    """One primitive's result fed straight into the next one's ``execute``."""

    rule = Rule(
        "TTA004",
        "hand-rolled-sequence",
        "chain of awaited execute() calls passing each result to the next",
        "compose the steps with `>>` (SequentialPrimitive): `(a >> b).execute(x, ctx)`",
    )
    node_types = (ast.AsyncFunctionDef, ast.Await)

    def visit(self, node: ast.AST) -> None:
        """Nested form in an ``await``; statement form per async function."""
        if isinstance(node, ast.Await):
            call = as_primitive_execute(node.value)
            if call is not None and call.args and _awaited_execute(call.args[0]) is not None:
                self.report(node)
        elif isinstance(node, ast.AsyncFunctionDef):
            self._check_function(node)

    def _check_function(self, func: ast.AsyncFunctionDef) -> None:
        loads: Counter[str] = Counter()
        blocks: list[list[ast.stmt]] = [func.body]
        executes = 0
        for node in local_nodes(func.body):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                loads[node.id] += 1
            elif isinstance(node, ast.Await) and as_primitive_execute(node.value) is not None:
                executes += 1
            elif isinstance(node, (ast.stmt, ast.excepthandler, ast.match_case)):
                blocks.extend(
                    block
                    for block in (
                        getattr(node, "body", None),
                        getattr(node, "orelse", None),
                        getattr(node, "finalbody", None),
                    )
                    if isinstance(block, list) and block and isinstance(block[0], ast.stmt)
                )
        if executes < 2:
            return
        # A use inside a nested function or lambda is a use too.
        nested = Counter(
            node.id
            for scope in local_scopes(func)
            for node in ast.walk(scope)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
        )
        for block in blocks:
            self._check_block(block, loads, nested)

    def _check_block(
        self, block: list[ast.stmt], loads: Counter[str], nested: Counter[str]
    ) -> None:
        produced: set[str] = set()
        for stmt in block:
            value = getattr(stmt, "value", None)
            call = _awaited_execute(value) if isinstance(value, ast.expr) else None
            if call is not None and isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Return)):
                first = call.args[0] if call.args else None
                if (
                    isinstance(first, ast.Name)
                    and first.id in produced
                    and loads[first.id] == 1
                    and not nested[first.id]
                ):
                    self.report(stmt)
            targets = _assigned_names(stmt)
            produced -= targets
            if call is not None and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                produced |= targets


def local_scopes(func: ast.AsyncFunctionDef) -> list[ast.AST]:
    """Functions, lambdas and classes defined inside ``func`` (first level)."""
    scopes: list[ast.AST] = [stmt for stmt in func.body if isinstance(stmt, SCOPES)]
    scopes.extend(
        child
        for node in local_nodes(func.body)
        for child in ast.iter_child_nodes(node)
        if isinstance(child, SCOPES)
    )
    return scopes


def _awaited_execute(expr: ast.expr | None) -> ast.Call | None:
    if isinstance(expr, ast.Await):
        return as_primitive_execute(expr.value)
    return None


def _assigned_names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.Assign):
        targets: list[ast.expr] = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return set()
    return {
        node.id for target in targets for node in ast.walk(target) if isinstance(node, ast.Name)
    }
