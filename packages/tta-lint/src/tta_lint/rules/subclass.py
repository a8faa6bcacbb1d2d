"""TTA007: a ``WorkflowPrimitive`` subclass that overrides ``execute``."""

from __future__ import annotations

import ast

from tta_lint.context import FileContext
from tta_lint.model import Rule
from tta_lint.rules.base import Checker

__all__ = ["ExecuteOverrideChecker"]

#: Packages whose ``*Primitive`` classes are all WorkflowPrimitive subclasses.
_PRIMITIVE_PACKAGES = ("tta_dev_primitives.", "tta_dev_integrations.")


class ExecuteOverrideChecker(Checker):
    """A class deriving from a TTA primitive that defines ``execute``.

    A base counts when it resolves through the file's imports to a ``*Primitive``
    class of ``tta_dev_primitives`` or ``tta_dev_integrations`` (``WorkflowPrimitive``,
    ``WrapperPrimitive``, ``LLMPrimitive``, ...), or is a class of the same file that
    does.
    """

    rule = Rule(
        "TTA007",
        "execute-override",
        "primitive subclass overrides execute(), which skips its spans and metrics",
        "rename the method to `async def _execute_impl(self, input_data, context)`; "
        "execute() calls it inside the built-in observability",
    )
    node_types = (ast.ClassDef,)

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self._classes: list[ast.ClassDef] = []

    def visit(self, node: ast.AST) -> None:
        """Keep classes; bases are resolved once every import is known."""
        if isinstance(node, ast.ClassDef) and node.bases:
            self._classes.append(node)

    def finish(self) -> None:
        """Report primitive subclasses that define ``execute``."""
        primitives: set[str] = set()
        changed = True
        while changed:  # a class of this file may derive from another one of it
            changed = False
            for cls in self._classes:
                if cls.name not in primitives and any(
                    self._is_primitive(base, primitives) for base in cls.bases
                ):
                    primitives.add(cls.name)
                    changed = True
        for cls in self._classes:
            if cls.name in primitives:
                for stmt in cls.body:
                    if _defines_execute(stmt):
                        self.report(stmt, f"{cls.name}: {self.rule.message}")

    def _is_primitive(self, base: ast.expr, local: set[str]) -> bool:
        if isinstance(base, ast.Subscript):  # WorkflowPrimitive[str, str]
            base = base.value
        if isinstance(base, ast.Name) and base.id in local and base.id not in self.ctx.aliases:
            return True
        name = self.ctx.qualified(base)
        return (
            name is not None
            and name.startswith(_PRIMITIVE_PACKAGES)
            and name.rpartition(".")[2].endswith("Primitive")
        )


def _defines_execute(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return stmt.name == "execute"
    if isinstance(stmt, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == "execute" for t in stmt.targets)
    return False
