"""What a rule sees of one file: its path, module name, imports and a way to report."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tta_lint.contracts import ImportContract
from tta_lint.model import Finding, Rule

__all__ = ["FileContext", "ImportRecord"]


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One imported module name, where it was imported, and whether only for typing."""

    module: str
    node: ast.stmt | ast.expr
    type_checking: bool


@dataclass(slots=True)
class FileContext:
    """Per-file state filled by the engine's single walk and read by the rules.

    The engine records imports, ``if TYPE_CHECKING:`` blocks and string constants
    while it walks, so a rule that needs them decides in its ``finish`` step.
    ``path`` is the path shown in reports; ``match_path`` is the path relative to the
    configuration's directory, which path patterns are matched against.
    """

    path: str
    module: str
    source: str
    match_path: str = ""
    contracts: tuple[ImportContract, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    imports: list[ImportRecord] = field(default_factory=list)
    type_checking_nodes: set[int] = field(default_factory=set)
    constants: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    _lines: list[str] | None = None

    @property
    def lines(self) -> list[str]:
        """The source's lines (split on first use: most files report nothing)."""
        if self._lines is None:
            self._lines = self.source.splitlines()
        return self._lines

    @property
    def package(self) -> str:
        """The package relative imports are resolved against."""
        if self.path.endswith("__init__.py"):
            return self.module
        return self.module.rpartition(".")[0]

    def qualified(self, expr: ast.expr) -> str | None:
        """The dotted name ``expr`` refers to through the file's imports, if any.

        ``aio.wait_for`` after ``import asyncio as aio`` is ``asyncio.wait_for``;
        a name that was not imported resolves to ``None``.
        """
        if isinstance(expr, ast.Name):
            return self.aliases.get(expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.qualified(expr.value)
            return f"{base}.{expr.attr}" if base is not None else None
        return None

    def report(self, rule: Rule, node: ast.AST, message: str | None = None) -> None:
        """Record a finding of ``rule`` at ``node``."""
        line = getattr(node, "lineno", 1)
        column = self._character_column(line, getattr(node, "col_offset", 0))
        if isinstance(node, ast.stmt) and hasattr(node, "body"):
            # A compound statement (loop, class, def) is shown, and suppressed, on its
            # first line.
            end_line = line
            end_column = len(self.lines[line - 1]) + 1 if 0 < line <= len(self.lines) else column
        else:
            end_line = getattr(node, "end_lineno", None) or line
            end_offset = getattr(node, "end_col_offset", None)
            end_column = (
                self._character_column(end_line, end_offset) if end_offset is not None else column
            )
        self.findings.append(
            Finding(rule, self.path, line, column, end_line, end_column, message or rule.message)
        )

    def _character_column(self, line: int, byte_offset: int) -> int:
        """1-based character column of a UTF-8 byte offset (what ``ast`` gives)."""
        if not 0 < line <= len(self.lines):
            return byte_offset + 1
        text = self.lines[line - 1]
        if text.isascii():
            return byte_offset + 1
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore")) + 1
