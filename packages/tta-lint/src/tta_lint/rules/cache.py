"""TTA005: a hand-rolled memo dict around an awaited call."""

from __future__ import annotations

import ast

from tta_lint.model import Rule
from tta_lint.rules._ast import local_nodes, terminal_name
from tta_lint.rules.base import Checker

__all__ = ["MemoDictChecker"]


class MemoDictChecker(Checker):
    """``if key in cache: return cache[key]`` ... ``cache[key] = await ...`` in one function.

    The lookup (``key in c``, ``key not in c`` or ``c.get(key)``) and the store of an
    awaited value (``c[key] = await f()``, or a name bound to one) use the same
    container and the same key. The container must outlive the call (an attribute,
    a global, a closure variable): a dict made in the function, or passed to it as a
    parameter, is bookkeeping, not a cache.
    """

    rule = Rule(
        "TTA005",
        "hand-rolled-cache",
        "hand-rolled memo dict around an awaited call",
        "wrap the step in CachePrimitive(step, key=..., ttl=...): it also coalesces "
        "concurrent misses and records hits and misses",
    )
    node_types = (ast.AsyncFunctionDef,)

    def visit(self, node: ast.AST) -> None:
        """Check one async function."""
        if not isinstance(node, ast.AsyncFunctionDef):
            return
        lookups: set[tuple[str, str]] = set()
        stores: list[tuple[ast.Assign, ast.Subscript]] = []
        awaited: set[str] = set()
        transient = {a.arg for a in (*node.args.posonlyargs, *node.args.args)}
        transient.update(a.arg for a in node.args.kwonlyargs)
        for child in local_nodes(node.body):
            if isinstance(child, ast.Compare) and len(child.ops) == 1:
                if isinstance(child.ops[0], (ast.In, ast.NotIn)):
                    lookups.add((ast.dump(child.comparators[0]), ast.dump(child.left)))
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "get"
                and child.args
            ):
                lookups.add((ast.dump(child.func.value), ast.dump(child.args[0])))
            elif isinstance(child, ast.Assign):
                names = {t.id for t in child.targets if isinstance(t, ast.Name)}
                if isinstance(child.value, ast.Await):
                    awaited |= names
                elif _is_new_mapping(child.value):
                    transient |= names
                stores.extend(
                    (child, t)
                    for t in child.targets
                    if isinstance(t, ast.Subscript)
                    and isinstance(child.value, (ast.Await, ast.Name))
                )
        for store, target in stores:
            value = store.value
            if isinstance(value, ast.Name) and value.id not in awaited:
                continue
            if isinstance(target.value, ast.Name) and target.value.id in transient:
                continue
            if (ast.dump(target.value), ast.dump(target.slice)) in lookups:
                self.report(store)


def _is_new_mapping(expr: ast.expr) -> bool:
    """``{}``, ``{k: v for ...}``, ``dict(...)``, ``defaultdict(...)``, ``OrderedDict()``."""
    if isinstance(expr, (ast.Dict, ast.DictComp)):
        return True
    return isinstance(expr, ast.Call) and terminal_name(expr.func) in (
        "dict",
        "defaultdict",
        "OrderedDict",
    )
