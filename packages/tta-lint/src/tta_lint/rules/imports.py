"""TTA009: an import that breaks one of the configured import contracts."""

from __future__ import annotations

import ast

from tta_lint.context import FileContext, ImportRecord
from tta_lint.model import Rule
from tta_lint.rules.base import Checker

__all__ = ["ForbiddenImportChecker"]

_DYNAMIC_IMPORTS = frozenset({"importlib.import_module", "__import__"})


class ForbiddenImportChecker(Checker):
    """Imports (``import``, ``from``, and ``importlib.import_module("literal")``).

    Imports inside functions count like top-level ones; those under
    ``if TYPE_CHECKING:`` count unless the contract sets ``type-checking = false``.
    """

    rule = Rule(
        "TTA009",
        "forbidden-import",
        "import breaks the project's import structure",
        "move the shared code down into a package both may import, or invert the "
        "dependency (pass the object in); see [[tool.tta.lint.imports]] in pyproject.toml",
    )
    node_types = (ast.Call,)

    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self._dynamic: list[tuple[ast.Call, str]] = []

    def visit(self, node: ast.AST) -> None:
        """Keep calls that import a module named by a string literal."""
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and isinstance(node.func, (ast.Name, ast.Attribute))
        ):
            self._dynamic.append((node, node.args[0].value))

    def finish(self) -> None:
        """Check every import against the contracts that bind this file."""
        ctx = self.ctx
        contracts = [c for c in ctx.contracts if c.applies_to(ctx.module, ctx.match_path)]
        if not contracts:
            return
        records = list(ctx.imports)
        for call, module in self._dynamic:
            func = call.func
            name = "__import__" if isinstance(func, ast.Name) and func.id == "__import__" else None
            if (name or ctx.qualified(func)) in _DYNAMIC_IMPORTS:
                records.append(ImportRecord(module, call, id(call) in ctx.type_checking_nodes))
        seen: set[tuple[int, str]] = set()
        importer = ctx.module or ctx.path
        for record in records:
            for contract in contracts:
                if record.type_checking and not contract.type_checking:
                    continue
                prefix = contract.forbids(record.module)
                if prefix is None or (id(record.node), contract.name) in seen:
                    continue
                seen.add((id(record.node), contract.name))
                self.report(
                    record.node,
                    f"{importer} imports {record.module}: forbidden by the import contract "
                    f"{contract.name!r}",
                )
