"""The shape of a rule's checker: the node types it wants, a visit, a finish."""

from __future__ import annotations

import ast
from typing import ClassVar

from tta_lint.context import FileContext
from tta_lint.model import Rule

__all__ = ["Checker"]


class Checker:
    """Checks one file for one rule.

    The engine walks each file's tree once and calls :meth:`visit` with every node
    whose type is in :attr:`node_types`, parents before children; then
    :meth:`finish`, when the file's imports and constants are all known.
    """

    rule: ClassVar[Rule]
    node_types: ClassVar[tuple[type[ast.AST], ...]] = ()

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def visit(self, node: ast.AST) -> None:
        """Look at one node (of a type in :attr:`node_types`)."""

    def finish(self) -> None:
        """Decide what needed the whole file."""

    def report(self, node: ast.AST, message: str | None = None) -> None:
        """Record a finding of this checker's rule at ``node``."""
        self.ctx.report(self.rule, node, message)
